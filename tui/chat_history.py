"""The app's side of the history: which conversation is open, and turning
stored rows back into turns and the facts their footers show.

The store may be missing (a read-only or full data directory, a corrupt
file): then every method here does nothing, and the app chats without
history after saying why once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokentide.client.config import Settings
from tokentide.client.events import Message, ToolCall
from tokentide.client.meter import Expectation, Metrics, TokensSaved

from .turn import Outcome, Params, PastTurn

if TYPE_CHECKING:
    from .recorder import Recording
    from .store import ConversationRow, MessageRow, Store

OPEN_LAST = 60
"""Messages shown when a conversation opens; earlier ones load on request, so a
500-message conversation opens at once."""


@dataclass
class PastAnswer:
    """One stored exchange, ready to be drawn: the turn and its footer facts."""

    turn: PastTurn
    metrics: Metrics | None
    interrupted: bool


class ChatHistory:
    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
        self.store: Store | None = None
        self.conversation_id: int | None = None
        """The open conversation; None until the first prompt of a new chat."""

    def open(self) -> None:
        """After the app's first frame: the store is not imported before it."""
        from .store import Store, StoreError

        self._errors = (StoreError, sqlite3.Error, OSError)
        try:
            self.store = Store.open()
        except self._errors as exc:
            self._warn(f"history off: {exc}")
            self.store = None
            return
        if self.store.recovered:
            count = len(self.store.recovered)
            self._warn(f"{count} answer(s) cut short by a crash were kept, marked interrupted")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def _safely(self, read: Callable[[Store], object], default: object) -> object:
        if self.store is None:
            return default
        try:
            return read(self.store)
        except self._errors as exc:
            self._warn(f"history: {exc}")
            return default

    # -- the chat being written ------------------------------------------------

    def recording(self, settings: Settings, params: Params) -> Recording | None:
        """A recording for the next turn, in the open conversation (made if needed)."""
        store = self.store
        if store is None:
            return None
        from .recorder import Recording

        if self.conversation_id is None:
            made = self._safely(lambda s: s.new_conversation(), None)
            if made is None:
                return None
            self.conversation_id = int(made)  # type: ignore[arg-type]
        return Recording(store, self.conversation_id, settings, params, warn=self._warn)

    def new_chat(self) -> None:
        self.conversation_id = None

    def prompts(self) -> list[str]:
        return list(self._safely(lambda s: s.prompts(), []))  # type: ignore[arg-type]

    def conversations(self, query: str | None = None) -> list[ConversationRow]:
        return list(self._safely(lambda s: s.conversations(query=query or None), []))  # type: ignore[arg-type]

    def rename(self, conversation_id: int, title: str) -> None:
        self._safely(lambda s: s.rename(conversation_id, title), None)

    def delete(self, conversation_id: int) -> None:
        self._safely(lambda s: s.delete(conversation_id), None)
        if self.conversation_id == conversation_id:
            self.conversation_id = None

    # -- a conversation reopened ---------------------------------------------

    def load(
        self, conversation_id: int, last: int | None = OPEN_LAST
    ) -> tuple[list[PastAnswer], int]:
        """The conversation's exchanges from its last `last` messages (all with
        None), oldest first, and how many earlier messages were left out."""
        rows: list[MessageRow] = self._safely(  # type: ignore[assignment]
            lambda s: s.messages(conversation_id, last=last), []
        )
        if last is not None and rows and rows[0].role == "assistant":
            rows = rows[1:]  # its prompt is among the messages left out
        self.conversation_id = conversation_id
        head = self._safely(lambda s: s.conversation(conversation_id), None)
        total = getattr(head, "message_count", len(rows))
        return exchanges(rows), max(0, total - len(rows))


def exchanges(rows: list[MessageRow]) -> list[PastAnswer]:
    """Pair each prompt with the answer that followed it (a prompt whose answer
    was never started - the app closed first - stands alone)."""
    pairs: list[PastAnswer] = []
    prompt: MessageRow | None = None
    for row in rows:
        if row.role == "user":
            if prompt is not None:
                pairs.append(_exchange(prompt, None))
            prompt = row
        else:
            pairs.append(_exchange(prompt, row))
            prompt = None
    if prompt is not None:
        pairs.append(_exchange(prompt, None))
    return pairs


def _exchange(prompt: MessageRow | None, answer: MessageRow | None) -> PastAnswer:
    asked = Message("user", prompt.text if prompt else "")
    if answer is None:
        return PastAnswer(PastTurn(asked, Message("assistant"), Outcome.FAILED), None, False)
    outcome = {
        "finished": Outcome.FINISHED,
        "stopped": Outcome.STOPPED,
        "failed": Outcome.FAILED,
    }.get(answer.outcome or "", Outcome.STOPPED)
    message = Message(
        "assistant",
        text=answer.text,
        reasoning=answer.reasoning,
        tool_calls=[_tool_call(n, call) for n, call in enumerate(answer.tool_calls)],
        finish_reason=answer.finish_reason,
        model=answer.model,
        cancelled=answer.outcome == "stopped",
        error=answer.error if answer.outcome == "failed" else None,
    )
    return PastAnswer(
        PastTurn(asked, message, outcome), _metrics(answer), answer.outcome == "interrupted"
    )


def _tool_call(index: int, call: dict) -> ToolCall:
    return ToolCall(
        index=index,
        id=call.get("id"),
        name=call.get("name"),
        arguments_raw=call.get("arguments_raw") or "",
        arguments=call.get("arguments"),
        complete=True,
    )


def _metrics(row: MessageRow) -> Metrics:
    saved = None
    if row.outcome == "stopped" and row.tokens_saved is not None:
        expected = Expectation(row.expected_tokens or 0, row.saved_method or "an estimate")
        saved = TokensSaved(row.tokens_saved, expected)
    return Metrics(
        ttft_ms=row.ttft_ms,
        tokens_per_s=row.tokens_per_s,
        total_ms=row.total_ms,
        tokens_received=row.tokens_received or 0,
        estimated=not row.tokens_counted_by_server,
        tokens_saved=saved,
    )
