"""A turn written into the history as it happens.

The prompt is committed before the request is sent; the answer's row is made
at its first token and its text checkpointed while it streams (the turn calls
at most four times a second), so a crash loses a fraction of a second of an
answer; the outcome, numbers and cost are committed when it ends. If the
history cannot be written (a full disk, a locked file), the recording stops
with one line of explanation and chatting goes on.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from tokentide.client.config import Price, Settings
from tokentide.client.events import (
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from tokentide.client.meter import Metrics

from .prices import Cost, Priced, cost
from .store import AnswerRecord, Store, StoreError
from .turn import Outcome, Params, Turn

WRITE_ERRORS = (StoreError, sqlite3.Error, OSError)


class Recording:
    """One turn's rows in the history."""

    def __init__(
        self,
        store: Store,
        conversation_id: int,
        settings: Settings,
        params: Params,
        *,
        warn: Callable[[str], None],
    ) -> None:
        self._store = store
        self._conversation = conversation_id
        self._settings = settings
        self._params = params
        self._warn = warn
        self._answer: int | None = None
        self._final: tuple[Message, Metrics] | None = None
        self._failed = False
        self.turn: Turn | None = None

    def expected_tokens(self) -> int | None:
        """How long this model's answers have been (the median of the last 50
        finished ones), for the tokens-saved estimate; None under 5 of them."""
        try:
            return self._store.expected_tokens(self._settings.endpoint.model)
        except WRITE_ERRORS:
            return None

    # -- the turn's hooks ------------------------------------------------------

    def prompt(self, text: str) -> None:
        """Before the request goes out."""
        self._write(lambda store: store.add_user(self._conversation, text))

    def event(self, event: StreamEvent) -> None:
        """The turn's sink (alongside the view's): the row starts at the first token."""
        if self._answer is None and isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta):
            self._start()

    def checkpoint(self, turn: Turn) -> None:
        if self._answer is None:
            return
        message = turn.message
        answer = self._answer
        received = turn.metrics().tokens_received
        self._write(
            lambda store: store.checkpoint(
                answer,
                text=message.text,
                reasoning=message.reasoning,
                tool_calls=[call.to_dict() for call in message.tool_calls],
                tokens_received=received,
            )
        )

    def done(self, message: Message, metrics: Metrics, outcome: Outcome) -> None:
        if self._answer is None:
            self._start()  # failed or stopped before the first token: kept too
        answer = self._answer
        if answer is None:
            return
        self._final = (message, metrics)
        saved = metrics.tokens_saved
        record = AnswerRecord(
            text=message.text,
            reasoning=message.reasoning,
            tool_calls=[call.to_dict() for call in message.tool_calls],
            finish_reason=message.finish_reason,
            outcome=outcome.value,
            tokens_received=metrics.tokens_received,
            counted=not metrics.estimated,
            input_tokens=message.usage.input_tokens if message.usage else None,
            tokens_saved=saved.tokens if saved else None,
            saved_method=saved.expected.describe() if saved else None,
            ttft_ms=metrics.ttft_ms,
            tokens_per_s=metrics.tokens_per_s,
            total_ms=metrics.total_ms,
            ended_at=time.time(),
            error=message.error,
        )
        self._write(lambda store: store.finish_answer(answer, record))

    def price(self, overrides: Mapping[str, Price]) -> Cost | None:
        """The finished answer's cost, written to the history too. Slow the first
        time (the price table loads): call it off the event loop."""
        answer, final = self._answer, self._final
        if answer is None or final is None:
            return None
        message, metrics = final
        endpoint = self._settings.endpoint
        found = cost(
            Priced(
                model=endpoint.model,
                provider=endpoint.name,
                base_url=endpoint.base_url,
                input_tokens=message.usage.input_tokens if message.usage else None,
                output_tokens=metrics.tokens_received,
                counted=not metrics.estimated,
                saved_tokens=metrics.saved,
            ),
            overrides,
        )
        if found is None:
            self._write(lambda store: store.set_cost(answer, None, None, "none"))
        else:
            self._write(
                lambda store: store.set_cost(answer, found.usd, found.saved_usd, found.source)
            )
        return found

    # -- writing ---------------------------------------------------------------

    def _start(self) -> None:
        turn = self.turn
        endpoint = self._settings.endpoint
        expected = turn.expected if turn is not None else None
        self._answer = self._write(
            lambda store: store.start_answer(
                self._conversation,
                provider=endpoint.name,
                wire=endpoint.wire,
                model=endpoint.model,
                host=urlsplit(endpoint.base_url).netloc.rpartition("@")[2],
                params={
                    key: value
                    for key, value in (
                        ("max_tokens", self._params.max_tokens),
                        ("temperature", self._params.temperature),
                        ("stream", self._params.stream),
                        ("system", self._settings.system),
                    )
                    if value is not None
                },
                expected_tokens=expected.tokens if expected else None,
                expected_method=expected.describe() if expected else None,
            )
        )

    def _write(self, write: Callable[[Store], int | None]) -> int | None:
        if self._failed:
            return None
        try:
            return write(self._store)
        except WRITE_ERRORS as exc:
            self._failed = True
            self._warn(f"history not saved: {exc}")
            return None
