"""The app's side of the history: which conversation is open, and turning
stored rows back into turns and the facts their footers show.

The store may be missing (a read-only or full data directory, a corrupt
file): then every method here does nothing, and the app chats without
history after saying why once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokentide.client.config import Settings
    from tokentide.client.events import ToolCall
    from tokentide.client.meter import Metrics

    from .branches import Answer, Branches, Plan, Prompt
    from .params import Params
    from .recorder import Recording
    from .store import ConversationChoice, ConversationRow, MessageRow, Store
    from .turn import PastTurn

SHOWN = 10
"""Exchanges drawn when a conversation opens, and again at each Ctrl+U: a
500-message conversation opens with its end, at once."""


@dataclass
class PastAnswer:
    """One stored exchange, ready to be drawn: the turn and its footer facts."""

    turn: PastTurn
    metrics: Metrics | None
    interrupted: bool
    node: Answer | None = None
    """Its place in the conversation's tree (alternatives, what followed)."""


class ChatHistory:
    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        self.store: Store | None = None
        self.conversation_id: int | None = None
        """The open conversation; None until the first prompt of a new chat."""
        self.choice: ConversationChoice | None = None
        """The model and system prompt in use: a new conversation is stored with them."""
        self._tree: Branches | None = None

    @property
    def tree(self) -> Branches:
        """The open conversation's prompts and answers, alternatives included
        (made when first read: tui/branches.py is not imported before the first frame)."""
        if self._tree is None:
            from .branches import Branches

            self._tree = Branches()
        return self._tree

    @tree.setter
    def tree(self, tree: Branches) -> None:
        self._tree = tree

    def open(self) -> None:
        """After the app's first frame: the store is not imported before it."""
        from .store import HISTORY_ERRORS, Store

        self._errors = HISTORY_ERRORS
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
        """After the writes still queued (an answer stopped by quitting is kept)."""
        if self.store is not None:
            from .recorder import WRITER

            WRITER.submit(self.store.close)
            self.store = None

    def _safely(self, read: Callable[[Store], object], default: object) -> object:
        if self.store is None:
            return default
        try:
            return read(self.store)
        except self._errors as exc:
            self._warn(f"history: {exc}")
            return default

    # -- the chat being written ------------------------------------------------

    def recording(
        self, settings: Settings, params: Params, plan: Plan | None = None
    ) -> Recording | None:
        """A recording for the next turn, in the open conversation (a new one is
        made with its prompt, in the writer thread); `plan` says where in the
        conversation's tree its rows go."""
        store = self.store
        if store is None:
            return None
        from .recorder import Recording

        def opened(conversation_id: int) -> None:  # in the writer thread
            self.conversation_id = conversation_id
            if (choice := self.choice) is not None:
                try:
                    store.set_choice(conversation_id, choice)
                except self._errors as exc:
                    self._warn(f"history: {exc}")

        return Recording(
            store,
            self.conversation_id,
            settings,
            params,
            warn=self._warn,
            on_conversation=opened,
            plan=plan,
        )

    def new_chat(self) -> None:
        self.conversation_id = None
        self._tree = None

    def choose(self, node: Prompt | Answer) -> None:
        """Keep a switch of alternatives: reopened, the conversation shows the
        same ones. The row id is read in the writer thread, where it is set."""
        store = self.store
        if store is None:
            return
        from .recorder import WRITER

        def write() -> None:
            if node.row_id is None:
                return
            try:
                store.choose(node.row_id)
            except self._errors as exc:
                self._warn(f"history: {exc}")

        WRITER.submit(write)

    def remember(self, choice: ConversationChoice) -> None:
        """The model and system prompt now in use, kept with the open conversation
        (written in the writer thread, after the writes queued before it) and
        with the next new one."""
        self.choice = choice
        store, conversation_id = self.store, self.conversation_id
        if store is None or conversation_id is None:
            return
        from .recorder import WRITER

        def write() -> None:
            try:
                store.set_choice(conversation_id, choice)
            except self._errors as exc:
                self._warn(f"history: {exc}")

        WRITER.submit(write)

    def chosen(self, conversation_id: int) -> ConversationChoice | None:
        """What `remember` kept for a conversation (None: nothing, or no history)."""
        return self._safely(lambda s: s.choice(conversation_id), None)  # type: ignore[return-value]

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

    def load(self, conversation_id: int) -> list[PastAnswer]:
        """Every exchange of the conversation's chosen path, oldest first: all of
        them are its context when it continues, whatever part of it is on
        screen. The alternatives are in `tree`."""
        rows: list[MessageRow] = self._safely(  # type: ignore[assignment]
            lambda s: s.messages(conversation_id), []
        )
        self.conversation_id = conversation_id
        self.tree = tree_of(rows)
        return shown(self.tree.path())


def shown(path: list[Answer]) -> list[PastAnswer]:
    """The path's answers as the screen draws them."""
    from .turn import PastTurn

    past = []
    for answer in path:
        turn = answer.turn
        assert turn is not None
        if not isinstance(turn, PastTurn):  # a turn of this session: as it ended
            turn = PastTurn(turn.prompt, turn.message, turn.outcome)
        past.append(PastAnswer(turn, answer.metrics, answer.interrupted, node=answer))
    return past


def tree_of(rows: list[MessageRow]) -> Branches:
    """The stored rows (in id order, so a parent comes before what follows it)
    as a tree. A prompt whose answer never started gets an empty one, which
    carries what followed it; a row whose parent is missing starts the tree."""
    from .branches import Answer, Branches, Prompt, prune, unanswered

    tree = Branches()
    by_id = {row.id: row for row in rows}
    prompts: dict[int, Prompt] = {}
    answers: dict[int, Answer] = {}
    for row in rows:
        parent = by_id.get(row.parent_id) if row.parent_id is not None else None
        if row.role == "user":
            owner = None
            if parent is not None and parent.role == "assistant":
                owner = answers.get(parent.id)
            elif parent is not None and (asked := prompts.get(parent.id)) is not None:
                owner = next((a for a in asked.answers if a.row_id is None), None)
                if owner is None:
                    owner = unanswered(asked)
                    asked.answers.append(owner)
            prompt = prompts[row.id] = Prompt(row.text, owner, row_id=row.id)
            siblings = owner.follow if owner is not None else tree.first
            siblings.append(prompt)
            if row.chosen:
                if owner is not None:
                    owner.chosen = len(siblings) - 1
                else:
                    tree.chosen = len(siblings) - 1
        elif parent is not None and (asked := prompts.get(parent.id)) is not None:
            past = _exchange(parent, row)
            answer = answers[row.id] = Answer(
                asked, past.turn, past.metrics, past.interrupted, row_id=row.id
            )
            asked.answers.append(answer)
            if row.chosen:
                asked.chosen = len(asked.answers) - 1
    for prompt in prompts.values():
        if not prompt.answers:
            prompt.answers.append(unanswered(prompt))
        prune(prompt)
    return tree


def _exchange(prompt: MessageRow | None, answer: MessageRow | None) -> PastAnswer:
    from tokentide.client.events import Message

    from .turn import Outcome, PastTurn

    asked = Message("user", prompt.text if prompt else "")
    if answer is None:
        return PastAnswer(PastTurn(asked, Message("assistant"), Outcome.FAILED), None, False)
    outcome = {
        "finished": Outcome.FINISHED,
        "stopped": Outcome.STOPPED,
        "failed": Outcome.FAILED,
        "interrupted": Outcome.INTERRUPTED,
    }.get(answer.outcome or "", Outcome.STOPPED)
    message = Message(
        "assistant",
        text=answer.text,
        reasoning=answer.reasoning,
        tool_calls=[_tool_call(n, call) for n, call in enumerate(answer.tool_calls)],
        finish_reason=answer.finish_reason,
        model=answer.model,
        cancelled=answer.outcome == "stopped",
        interrupted=answer.outcome == "interrupted",
        error=answer.error if answer.outcome in ("failed", "interrupted") else None,
    )
    return PastAnswer(
        PastTurn(asked, message, outcome), _metrics(answer), answer.outcome == "interrupted"
    )


def _tool_call(index: int, call: dict) -> ToolCall:
    from tokentide.client.events import ToolCall

    return ToolCall(
        index=index,
        id=call.get("id"),
        name=call.get("name"),
        arguments_raw=call.get("arguments_raw") or "",
        arguments=call.get("arguments"),
        complete=True,
    )


def _metrics(row: MessageRow) -> Metrics:
    from tokentide.client.meter import Arrivals, Expectation, Metrics, TokensSaved

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
        itl_p50_ms=row.itl_p50_ms,
        itl_p99_ms=row.itl_p99_ms,
        longest_stall_ms=row.longest_stall_ms,
        arrivals=Arrivals.from_dict(row.arrivals) if row.arrivals is not None else None,
    )
