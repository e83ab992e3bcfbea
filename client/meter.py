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
- Inter-token latency (ITL) is the time between two arrivals of tokens,
  shared by the tokens the later one brought (4 tokens 50 ms after the
  previous ones are 4 tokens at 12.5 ms), reported as the p50 and p99 over
  tokens. It is what makes a stream feel smooth or stuttering, which
  tokens/s (an average) hides. The longest stall is the longest gap between
  two arrivals after the first token: the moment the user saw the answer
  freeze. An arrival is one read from the socket (`read_arrived`): the deltas
  parsed from it are stamped with the moment it came in (a reader thread
  stamps each read, client/netio.py), so neither parsing nor a busy event
  loop shows up as latency. Both are measured in this process, so they
  include the network and any proxy that batches.
- Tokens saved, on cancel, is `max(0, expected - received)`, where expected is
  the median length of the model's past answers when the history knows
  them (capped at `max_tokens`), else `max_tokens` when the request set one,
  else `DEFAULT_EXPECTED_TOKENS`. It is what the provider would have gone on to
  generate, not a statement about billing (a proxy may keep generating).
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

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
GAPS_KEPT = 50_000
"""Inter-token gaps kept exactly; past this a uniform sample of this many
(reservoir sampling) stands for them, so an endless answer's meter stays
small (two arrays of this length) and its percentiles stay unbiased."""
ARRIVAL_BUCKETS = 240
"""Most buckets in an answer's token-arrival series; when a longer answer
needs more, neighbouring buckets are merged and each covers twice the time."""
FIRST_BUCKET_S = 0.05


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
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None
    """Inter-token latency percentiles over the streamed tokens, once the
    answer has ended (None before, and under MIN_RATE_TOKENS tokens)."""
    longest_stall_ms: float | None = None
    """The longest gap between two deltas after the first token."""
    arrivals: Arrivals | None = field(default=None, compare=False, repr=False)
    """Tokens per time bucket from the first token on, for a sparkline."""

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
            "itl_ms": {"p50": _round(self.itl_p50_ms), "p99": _round(self.itl_p99_ms)},
            "longest_stall_ms": _round(self.longest_stall_ms),
        }


@dataclass(frozen=True)
class Arrivals:
    """When the tokens came: tokens per bucket of `bucket_s` seconds, the first
    bucket starting at the first token (`ttft_s` after the request was sent)."""

    bucket_s: float
    counts: tuple[int, ...]
    ttft_s: float | None = None
    stall_at_s: float | None = None
    """Where the longest stall began, in seconds after the first token."""

    def to_dict(self) -> dict:
        return {
            "bucket_ms": round(self.bucket_s * 1000, 3),
            "counts": list(self.counts),
            "ttft_ms": _round(None if self.ttft_s is None else self.ttft_s * 1000),
            "stall_at_ms": _round(None if self.stall_at_s is None else self.stall_at_s * 1000),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Arrivals | None:
        """The stored series, or None for anything that is not one (an old or
        hand-edited row must not break the answer it belongs to)."""
        try:
            counts = tuple(int(c) for c in data["counts"])
            bucket = float(data["bucket_ms"]) / 1000
            if bucket <= 0 or any(c < 0 for c in counts) or len(counts) > 4 * ARRIVAL_BUCKETS:
                return None
            ttft = data.get("ttft_ms")
            stall = data.get("stall_at_ms")
            return cls(
                bucket,
                counts,
                None if ttft is None else float(ttft) / 1000,
                None if stall is None else float(stall) / 1000,
            )
        except (KeyError, TypeError, ValueError):
            return None


class _Gaps:
    """Inter-token gaps, bounded: every gap until GAPS_KEPT, then a uniform
    sample of them; the largest and the arrival series are always exact."""

    def __init__(self) -> None:
        self.per_token = array("d")  # the gap shared by its tokens, seconds
        self.tokens = array("I")  # how many tokens shared it
        self.seen = 0
        self.longest = 0.0
        self.longest_at = 0.0
        self.bucket = FIRST_BUCKET_S
        self.counts: list[int] = []
        self._rng = random.Random(0)
        self._open: tuple[float, int] | None = None
        """The last arrival, still open to more tokens of the same read."""

    def add(self, since_first: float, gap: float | None, tokens: int) -> None:
        """Tokens that arrived `gap` seconds after the previous ones (None: the
        first). A gap of exactly 0 is the same read (`Meter.read_arrived`): its
        tokens join the previous arrival and share its gap."""
        self._arrive(since_first, tokens)
        if tokens <= 0:
            return
        if gap is None or (gap == 0.0 and self._open is None):
            return  # the first token, or more of the first read: no gap yet
        if gap == 0.0:
            self._open = (self._open[0], self._open[1] + tokens)
            return
        self._commit()
        self._open = (gap, tokens)
        if gap > self.longest:
            self.longest, self.longest_at = gap, since_first - gap

    def _commit(self) -> None:
        if self._open is None:
            return
        gap, tokens = self._open
        self._open = None
        self.seen += 1
        if len(self.per_token) < GAPS_KEPT:
            self.per_token.append(gap / tokens)
            self.tokens.append(tokens)
            return
        slot = self._rng.randrange(self.seen)
        if slot < GAPS_KEPT:
            self.per_token[slot], self.tokens[slot] = gap / tokens, tokens

    @property
    def measured(self) -> bool:
        """Whether any gap was seen (two reads with tokens)."""
        return self.seen > 0 or self._open is not None

    def pairs(self) -> list[tuple[float, int]]:
        """(seconds per token, tokens) of every arrival kept, the last included."""
        pairs = list(zip(self.per_token, self.tokens, strict=True))
        if self._open is not None:
            pairs.append((self._open[0] / self._open[1], self._open[1]))
        return pairs

    def _arrive(self, since_first: float, tokens: int) -> None:
        index = int(max(0.0, since_first) / self.bucket)
        while index >= ARRIVAL_BUCKETS:
            merged = self.counts[0::2]
            for i, c in enumerate(self.counts[1::2]):
                merged[i] += c
            self.counts, self.bucket = merged, self.bucket * 2
            index //= 2
        if index >= len(self.counts):
            self.counts.extend([0] * (index + 1 - len(self.counts)))
        self.counts[index] += tokens

    def percentiles(self) -> tuple[float | None, float | None]:
        pairs = sorted(self.pairs())
        if not pairs:
            return None, None
        total = sum(tokens for _, tokens in pairs)
        return _weighted(pairs, total, 0.5), _weighted(pairs, total, 0.99)


def _weighted(pairs: list[tuple[float, int]], total: int, q: float) -> float:
    """The value below which a share `q` of the tokens lies (nearest rank)."""
    rank = max(1, -(-q * total // 1))
    running = 0
    for value, weight in pairs:
        running += weight
        if running >= rank:
            return value * 1000.0
    return pairs[-1][0] * 1000.0


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
        self._gaps = _Gaps()
        self.read_at: float | None = None

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

    def read_arrived(self, age: float = 0.0) -> None:
        """Bytes came in `age` seconds ago: the tokens parsed from them arrived
        then, however long they waited to be taken or parsed (several tokens
        in one read arrived together)."""
        self.read_at = self.clock() - age

    def _token(self, text: str) -> None:
        now = self.read_at if self.read_at is not None else self.clock()
        previous = self.last_token_at
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        merged = len(text) > MERGED_DELTA_CHARS
        tokens = max(1, len(text) // CHARS_PER_TOKEN) if merged else 1
        self.estimated_tokens += tokens
        gap = None if previous is None else now - previous
        self._gaps.add(now - self.first_token_at, gap, tokens)

    def end(self, cancelled: bool = False) -> None:
        if self.ended_at is None:
            self.ended_at = self.clock()
        self.cancelled = self.cancelled or cancelled

    def gaps(self) -> list[tuple[float, int]]:
        """The inter-token gaps kept, each as (seconds per token, tokens that
        shared it): what ITL percentiles over several answers are computed
        from (`tokentide bench`), rather than percentiles of each answer's
        percentiles. Past GAPS_KEPT gaps this is the uniform sample kept."""
        return self._gaps.pairs()

    @property
    def tokens(self) -> int:
        if self.reported_tokens is not None:
            return self.reported_tokens
        return self.estimated_tokens

    def snapshot(self) -> Metrics:
        now = self.ended_at if self.ended_at is not None else self.clock()
        start = self.sent_at
        tokens = self.tokens
        ttft = rate = p50 = p99 = stall = None
        arrivals = None
        if self.streaming and start is not None and self.first_token_at is not None:
            ttft = _ms(self.first_token_at - start)
            span = (self.last_token_at or self.first_token_at) - self.first_token_at
            streamed = self.estimated_tokens
            if span >= MIN_RATE_SPAN and streamed >= MIN_RATE_TOKENS:
                rate = (streamed - 1) / span
            gaps = self._gaps
            if streamed >= MIN_RATE_TOKENS:
                if self.ended_at is not None:  # a sort: not on every snapshot while streaming
                    p50, p99 = gaps.percentiles()
                stall = _ms(gaps.longest) if gaps.measured else None
            arrivals = Arrivals(
                gaps.bucket,
                tuple(gaps.counts),
                ttft_s=self.first_token_at - start,
                stall_at_s=gaps.longest_at if gaps.measured else None,
            )
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
            itl_p50_ms=p50,
            itl_p99_ms=p99,
            longest_stall_ms=stall,
            arrivals=arrivals,
        )


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
