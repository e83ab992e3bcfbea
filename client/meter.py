"""Timing and token counts for one answer, and the tokens-saved estimate.

The numbers are the product's promise, so each says how it was obtained:
- TTFT is request sent -> first generated delta (text, reasoning or tool
  arguments), wall clock on this machine, so it includes the network.
- tokens/s is measured over the generation phase only: (tokens - 1) / (last
  token time - first token time), counting the tokens that were streamed
  (the server's usage can include reasoning tokens that never were). The
  first token opens the interval, so it is not counted in the rate; queueing
  and prompt processing (TTFT) are not either. Under MIN_RATE_SPAN seconds or
  MIN_RATE_TOKENS tokens there is no rate: a burst that a proxy buffered and
  delivered at once says nothing about generation speed.
- A non-streaming request has no first token: TTFT and rate are None.
- Tokens received are the server's `usage.completion_tokens` when it sent
  one; otherwise an estimate of one token per streamed delta (OpenAI-style
  servers stream one token per chunk, and a single token can be a long word
  such as " understanding"), or one per four characters for a delta longer
  than MERGED_DELTA_CHARS, which a proxy must have merged from several.
- Tokens saved, on cancel, is `max(0, expected - received)`, where expected is
  the median length of the model's past answers when the history knows
  them (capped at `max_tokens`), else `max_tokens` when the request set one,
  else `DEFAULT_EXPECTED_TOKENS`. It is what the provider would have gone on to
  generate, not a statement about billing (a proxy may keep generating).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .events import Finished, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage

DEFAULT_EXPECTED_TOKENS = 600
"""Expected answer length when nothing better is known: a typical chat answer
(a few paragraphs and a code block) runs 300-900 tokens."""

CHARS_PER_TOKEN = 4
MERGED_DELTA_CHARS = 16
ESTIMATE_METHOD = (
    "estimated: one token per streamed delta (one per 4 characters in a delta "
    f"over {MERGED_DELTA_CHARS})"
)
MIN_RATE_SPAN = 0.05
MIN_RATE_TOKENS = 3


@dataclass(frozen=True)
class Expectation:
    """How long the answer was expected to be, and why we think so."""

    tokens: int
    basis: str  # "max_tokens" | "history" | "default"

    def describe(self) -> str:
        return {
            "max_tokens": f"max_tokens={self.tokens}",
            "history": f"median of this model's past answers ({self.tokens})",
            "default": f"default expectation ({self.tokens})",
        }.get(self.basis, self.basis)


@dataclass(frozen=True)
class TokensSaved:
    tokens: int
    expected: Expectation

    def describe(self) -> str:
        return f"~{self.tokens} saved (expected from {self.expected.describe()})"


@dataclass(frozen=True)
class Metrics:
    """A snapshot of the meter, cheap to take while streaming."""

    ttft_ms: float | None
    tokens_per_s: float | None
    total_ms: float | None
    tokens_received: int
    estimated: bool
    tokens_saved: TokensSaved | None = None
    headers_ms: float | None = None
    """Request sent -> response headers: the network and the queue, before generation."""

    @property
    def count_method(self) -> str:
        return ESTIMATE_METHOD if self.estimated else "server usage"

    @property
    def saved(self) -> int | None:
        """Tokens saved by stopping, or None when the answer was not stopped."""
        return None if self.tokens_saved is None else self.tokens_saved.tokens

    def to_dict(self) -> dict:
        return {
            "ttft_ms": _round(self.ttft_ms),
            "tokens_per_s": _round(self.tokens_per_s),
            "total_ms": _round(self.total_ms),
            "tokens_received": self.tokens_received,
            "estimated": self.estimated,
        }


def expectation(
    max_tokens: int | None, history_tokens: int | None = None, default: int | None = None
) -> Expectation:
    """How long the answer would have been: what this model's past answers say
    (never more than `max_tokens`), else `max_tokens`, else the default."""
    if history_tokens:
        if max_tokens and max_tokens < history_tokens:
            return Expectation(max_tokens, "max_tokens")
        return Expectation(history_tokens, "history")
    if max_tokens:
        return Expectation(max_tokens, "max_tokens")
    return Expectation(default or DEFAULT_EXPECTED_TOKENS, "default")


class Meter:
    """Marks the moments of one request and counts what arrived."""

    def __init__(
        self,
        expected: Expectation | None = None,
        clock: Callable[[], float] = time.perf_counter,
        streaming: bool = True,
    ) -> None:
        self.clock = clock
        self.streaming = streaming
        self.expected = expected or expectation(None)
        self.sent_at: float | None = None
        self.headers_at: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.ended_at: float | None = None
        self.estimated_tokens = 0
        self.reported_tokens: int | None = None
        self.cancelled = False

    def request_sent(self) -> None:
        self.sent_at = self.clock()

    def headers_received(self) -> None:
        self.headers_at = self.clock()

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta | ReasoningDelta):
            self._token(event.text)
        elif isinstance(event, ToolCallDelta):
            if event.arguments or event.name:
                self._token(event.arguments or event.name or "")
        elif isinstance(event, Usage):
            if event.output_tokens is not None:
                self.reported_tokens = event.output_tokens
        elif isinstance(event, Finished):
            self.end()

    def _token(self, text: str) -> None:
        now = self.clock()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        merged = len(text) > MERGED_DELTA_CHARS
        self.estimated_tokens += len(text) // CHARS_PER_TOKEN if merged else 1

    def end(self, cancelled: bool = False) -> None:
        if self.ended_at is None:
            self.ended_at = self.clock()
        self.cancelled = self.cancelled or cancelled

    @property
    def tokens(self) -> int:
        if self.reported_tokens is not None:
            return self.reported_tokens
        return self.estimated_tokens

    def snapshot(self) -> Metrics:
        now = self.ended_at if self.ended_at is not None else self.clock()
        start = self.sent_at
        tokens = self.tokens
        ttft = rate = None
        if self.streaming and start is not None and self.first_token_at is not None:
            ttft = _ms(self.first_token_at - start)
            span = (self.last_token_at or self.first_token_at) - self.first_token_at
            streamed = self.estimated_tokens
            if span >= MIN_RATE_SPAN and streamed >= MIN_RATE_TOKENS:
                rate = (streamed - 1) / span
        saved = None
        if self.cancelled and start is not None:  # nothing sent, nothing saved
            saved = TokensSaved(max(0, self.expected.tokens - tokens), self.expected)
        return Metrics(
            ttft_ms=ttft,
            tokens_per_s=rate,
            total_ms=_ms(now - start) if start is not None else None,
            tokens_received=tokens,
            estimated=self.reported_tokens is None,
            tokens_saved=saved,
            headers_ms=(
                _ms(self.headers_at - start)
                if start is not None and self.headers_at is not None
                else None
            ),
        )


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
