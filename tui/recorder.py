"""A turn written into the history as it happens.

The prompt is committed before the request is sent; the answer's row is made
at its first token and its text checkpointed while it streams (the turn calls
at most four times a second), so a crash loses a fraction of a second of an
answer; the outcome, numbers and cost are committed when it ends. If the
history cannot be written (a full disk, a locked file), the recording stops
with one line of explanation and chatting goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tokentide.client.config import Price, Settings
from tokentide.client.events import (
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from tokentide.client.meter import Metrics

from .branches import Plan
from .prices import Cost, Priced, cost
from .store import HISTORY_ERRORS, LAST, AnswerRecord, NotFound, Store
from .turn import Outcome, Params, Turn

WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokentide-history")
"""The one thread that writes the history, in order: the event loop never
waits for the disk or for another process's lock (a 10 MB answer's
checkpoint takes 0.14 s; a locked file, up to the 5 s busy timeout)."""


class Recording:
    """One turn's rows in the history. Every write goes to `WRITER`, in order;
    `warn` may be called from that thread."""

    def __init__(
        self,
        store: Store,
        conversation_id: int | None,
        settings: Settings,
        params: Params,
        *,
        warn: Callable[[str], None],
        on_conversation: Callable[[int], None] = lambda _: None,
        plan: Plan | None = None,
    ) -> None:
        self._store = store
        self._conversation = conversation_id
        """None: a new conversation is made with the prompt (in the writer thread)."""
        self._on_conversation = on_conversation
        self._settings = settings
        self._params = params
        self._warn = warn
        self._plan = plan
        """Where the rows go in the conversation's tree (None: after its last
        message, as `ask` writes); its nodes get their row ids here."""
        self._answer: int | None = None  # set in the writer thread
        self._prompt_id: int | None = None  # set in the writer thread
        self._origin: Recording | None = None
        """The recording whose prompt this one answers too (`alternative`)."""
        self._started = False
        self._final: tuple[Message, Metrics] | None = None
        self._failed = False
        self._latest: tuple[str, str, list[dict], int] | None = None  # the next checkpoint
        self._last: Future[Any] | None = None
        self.turn: Turn | None = None

    def expected_tokens(self) -> int | None:
        """How long this model's answers have been (the median of the last 50
        finished ones), for the tokens-saved estimate; None under 5 of them."""
        try:
            return self._store.expected_tokens(self._settings.endpoint.model)
        except HISTORY_ERRORS:
            return None

    # -- the turn's hooks ------------------------------------------------------

    async def prompt(self, text: str) -> None:
        """Before the request goes out (awaited: a crash right after must find it).
        A conversation deleted meanwhile (by another window, by `history delete`)
        goes on as a new one."""

        plan = self._plan
        if self._origin is not None:
            return  # the origin's prompt, written once

        def add(store: Store) -> None:
            if self._conversation is not None:
                if plan is not None and plan.prompt.row_id is not None:
                    return  # another answer to a prompt already stored
                parent = plan.prompt.parent_row() if plan is not None else LAST
                try:
                    self._prompt_row(store.add_user(self._conversation, text, parent_id=parent))
                    return
                except NotFound:
                    self._warn("that conversation was deleted elsewhere: this is a new one")
            self._conversation = store.new_conversation()
            self._on_conversation(self._conversation)
            self._prompt_row(store.add_user(self._conversation, text))

        await asyncio.wrap_future(self._submit(add))

    def _prompt_row(self, row: int) -> None:
        self._prompt_id = row
        if self._plan is not None:
            self._plan.prompt.row_id = row

    def event(self, event: StreamEvent) -> None:
        """The turn's sink (alongside the view's): the row starts at the first token."""
        if not self._started and isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta):
            self._start()

    def checkpoint(self, turn: Turn) -> None:
        """The answer so far. If the last one is still waiting to be written, it
        is replaced: only the latest state is worth the disk."""
        if not self._started:
            return
        message = turn.message
        waiting = self._latest is not None
        self._latest = (
            message.text,
            message.reasoning,
            [call.to_dict() for call in message.tool_calls],
            turn.metrics().tokens_received,
        )
        if not waiting:
            self._submit(self._write_checkpoint)

    def _write_checkpoint(self, store: Store) -> None:
        latest, self._latest = self._latest, None
        if latest is None or self._answer is None:
            return
        text, reasoning, tool_calls, received = latest
        store.checkpoint(
            self._answer,
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            tokens_received=received,
        )

    def done(self, message: Message, metrics: Metrics, outcome: Outcome) -> None:
        if not self._started:
            self._start()  # failed or stopped before the first token: kept too
        self._final = (message, metrics)
        self._latest = None  # the ending says it all
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
            itl_p50_ms=metrics.itl_p50_ms,
            itl_p99_ms=metrics.itl_p99_ms,
            longest_stall_ms=metrics.longest_stall_ms,
            arrivals=metrics.arrivals.to_dict() if metrics.arrivals else None,
        )

        def finish(store: Store) -> None:
            if self._answer is not None:
                store.finish_answer(self._answer, record)

        self._submit(finish)

    def alternative(self, settings: Settings, plan: Plan | None = None) -> Recording:
        """Another answer to this recording's prompt, from another model (a
        race's other lanes): the same conversation and prompt row, its own
        answer row with its own provider, wire and model. Its `prompt()` writes
        nothing; its answer's row is made after this one's prompt is written
        (every write goes through `WRITER`, in order). With `plan` (the app's
        place for that answer in the conversation's tree, on this one's
        prompt), its node gets the answer's row id."""
        other = Recording(
            self._store, self._conversation, settings, self._params, warn=self._warn, plan=plan
        )
        other._origin = self
        return other

    def choose(self) -> None:
        """Make this answer the chosen one among its prompt's answers (a race's
        winner); the others stay as alternatives."""

        def choose(store: Store) -> None:
            if self._answer is not None:
                store.choose(self._answer)

        self._submit(choose)

    async def written(self) -> None:
        """Until every write asked for so far is done (before `ask` exits)."""
        if self._last is not None:
            await asyncio.wrap_future(self._last)

    async def price(self, overrides: Mapping[str, Price]) -> Cost | None:
        """The finished answer's cost, written to the history too; looked up in
        the writer thread, after the answer's own writes (the price table takes
        0.2 s to load the first time)."""
        final = self._final
        if final is None:
            return None
        answer = Priced.answer(self._settings.endpoint, *final)

        def look_up(store: Store) -> Cost | None:
            found = cost(answer, overrides)
            if self._answer is not None:
                store.set_cost(
                    self._answer,
                    found.usd if found else None,
                    found.saved_usd if found else None,
                    found.source if found else "none",
                )
            return found

        return await asyncio.wrap_future(self._submit(look_up))

    # -- writing ---------------------------------------------------------------

    def _start(self) -> None:
        self._started = True
        turn = self.turn
        endpoint = self._settings.endpoint
        expected = turn.expected if turn is not None else None
        params = {
            key: value
            for key, value in (
                ("max_tokens", self._params.max_tokens),
                ("temperature", self._params.temperature),
                ("stream", self._params.stream),
                ("system", self._settings.system),
                ("thinking", _thinking(self._params)),
                ("tools", [tool.name for tool in self._params.tools] or None),
                ("json_schema", _schema(self._params)),
            )
            if value is not None
        }

        plan = self._plan

        def start(store: Store) -> None:
            if (origin := self._origin) is not None:  # written by now: the writes are in order
                self._conversation, self._prompt_id = origin._conversation, origin._prompt_id
            if self._conversation is None:
                return  # the prompt could not be written: neither can the answer
            parent = plan.prompt.row_id if plan is not None else self._prompt_id
            if parent is None:
                parent = LAST
            self._answer = store.start_answer(
                self._conversation,
                provider=endpoint.name,
                wire=endpoint.wire,
                model=endpoint.model,
                host=endpoint.base_url,
                params=params,
                expected_tokens=expected.tokens if expected else None,
                expected_method=expected.describe() if expected else None,
                parent_id=parent,
            )
            if plan is not None:
                plan.answer.row_id = self._answer

        self._submit(start)

    def _submit(self, write: Callable[[Store], Any]) -> Future[Any]:
        """Queue a write; a failure stops the recording, said once."""

        def run() -> Any:
            if self._failed:
                return None
            try:
                return write(self._store)
            except HISTORY_ERRORS as exc:
                self._failed = True
                self._warn(f"history not saved: {exc}")
                return None

        self._last = WRITER.submit(run)
        return self._last


def _thinking(params: Params) -> int | None:
    """The thinking budget asked for, as recorded (the default's is written out)."""
    return params.thinking.tokens() if params.thinking is not None else None


def _schema(params: Params) -> dict | None:
    return params.output_schema.schema if params.output_schema is not None else None
