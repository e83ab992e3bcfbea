"""Regenerate, edit and resend, continue, and switching alternatives: the
chat screen's message actions that change the conversation.

Mixed into `ChatScreen`. The conversation's tree is `history.tree`
(tui/branches.py): every action makes a `Plan` there, takes the widgets
below the place it changes off the screen, and sends through the screen's
one `send`, so the request, the history and the drawing stay the same code
as for a new prompt. `turns` (what the next request sends) is always the
tree's chosen path.

Which message an action is about: the screen draws each exchange as one
`UserMessage` and one `AssistantMessage`, so the Nth of either on screen is
exchange N of the path after the ones not drawn yet (`_undrawn`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widget import Widget

from ..safe_text import safe_text

if TYPE_CHECKING:
    from ..branches import Answer, Plan
    from ..chat_history import ChatHistory, PastAnswer
    from ..turn import Exchange, Params
    from ..widgets.assistant_message import AssistantMessage
    from ..widgets.composer import Composer
    from ..widgets.conversation import Conversation
    from ..widgets.user_message import UserMessage

if TYPE_CHECKING:
    Drawn = UserMessage | AssistantMessage

EDITING = "editing a prompt · Enter sends it as a new branch · Esc cancels"
"""The composer's title while a prompt is edited."""


class BranchActions:
    """The actions; the attributes below are the chat screen's."""

    if TYPE_CHECKING:
        turns: list[Exchange]
        history: ChatHistory
        streaming: bool
        params: Params
        settings: Any
        focused: Widget | None
        _undrawn: list[PastAnswer]

        @property
        def conversation(self) -> Conversation: ...
        @property
        def composer(self) -> Composer: ...
        async def send(self, prompt: str, plan: Plan | None = None) -> None: ...
        async def _draw_past(
            self, past: list[PastAnswer], *, after: Widget | None = None
        ) -> None: ...
        def notify(self, message: str, **kw: Any) -> None: ...

    editing: Answer | None = None
    """The exchange whose prompt is being edited in the composer: Enter sends
    the edit as a new branch from there (if it is still on the path: a new
    chat or another conversation opened meanwhile make it a plain prompt)."""

    # -- which exchange ------------------------------------------------------------

    def exchange_of(self, widget: Widget) -> int | None:
        """The path index of a drawn prompt or answer."""
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        if not isinstance(widget, UserMessage | AssistantMessage):
            return None
        kind = type(widget)
        drawn = [child for child in self.conversation.children if isinstance(child, kind)]
        if widget not in drawn:
            return None
        return len(self._undrawn) + drawn.index(widget)

    def _drawn(self, index: int, kind: type[Drawn]) -> Drawn | None:
        at = index - len(self._undrawn)
        drawn = [child for child in self.conversation.children if isinstance(child, kind)]
        return drawn[at] if 0 <= at < len(drawn) else None  # type: ignore[return-value]

    def _answer(self, index: int) -> Answer | None:
        path = self.history.tree.path()
        return path[index] if 0 <= index < len(path) else None

    def last_drawn(self, kind: type[Drawn]) -> Drawn | None:
        """The last prompt or answer on screen (an answer that never started is hidden)."""
        drawn = [c for c in self.conversation.children if isinstance(c, kind) and c.display]
        return drawn[-1] if drawn else None

    # -- what applies ------------------------------------------------------------

    def branch_can(self, widget: Widget, action: str) -> bool:
        """Whether regenerate, edit or continue applies to `widget` now."""
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        if self.streaming:
            return False
        index = self.exchange_of(widget)
        if index is None or (answer := self._answer(index)) is None:
            return False
        if action == "regenerate":
            return isinstance(widget, AssistantMessage)
        if action == "edit":
            return isinstance(widget, UserMessage)
        if action == "continue":
            last = index == len(self.history.tree.path()) - 1
            return isinstance(widget, AssistantMessage) and last and continuable(answer)
        return False

    def alternatives_at(self, widget: Widget | None) -> int:
        """How many alternatives the focused message has (0: it is not one)."""
        from ..branches import ANSWER, PROMPT
        from ..widgets.assistant_message import AssistantMessage

        if widget is None or (index := self.exchange_of(widget)) is None:
            return 0
        level = ANSWER if isinstance(widget, AssistantMessage) else PROMPT
        return self.history.tree.alternatives(index, level)[1]

    # -- the actions ---------------------------------------------------------------

    async def regenerate(self, index: int) -> None:
        """The same prompt and context sent again; the old answer is kept as an
        alternative (a failed one is replaced), with what followed it."""
        answer = self._answer(index)
        if answer is None or self.streaming:
            return
        text = answer.prompt.text
        if answer.failed and self.composer.text == text:
            self.composer.load_text("")  # it was put back for a retry: taken now
        await self.send(text, self.history.tree.regenerate(index))

    def start_edit(self, index: int) -> None:
        """The prompt goes into the composer; Enter sends it as a new branch."""
        answer = self._answer(index)
        if answer is None or self.streaming:
            return
        self.editing = answer
        self.composer.load_text(answer.prompt.text)
        self.composer.focus()
        self.composer.border_title = EDITING

    def end_edit(self) -> None:
        self.editing = None
        self.composer.border_title = None

    def action_cancel_edit(self) -> None:
        self.end_edit()
        self.composer.load_text("")

    def plan_prompt(self, text: str) -> Plan:
        """Where a prompt from the composer goes: after the last answer, or, when
        a prompt is being edited, in its place (what followed the old one is
        kept on its branch). `send` takes the old widgets off."""
        editing = self.editing
        self.end_edit()
        path = self.history.tree.path()
        if editing is None or editing not in path:
            return self.history.tree.follow_up(text)
        return self.history.tree.edit(path.index(editing), text)

    async def continue_answer(self, index: int) -> None:
        """The rest of a stopped or cut-off answer: in place where the provider
        continues a prefill (the answer reads as one, stored as a new
        alternative that holds all of it), else with a visible turn."""
        from ..turn import CONTINUE_PROMPT, can_continue_in_place

        answer = self._answer(index)
        if answer is None or self.streaming or answer.turn is None:
            return
        if not can_continue_in_place(self.settings, self.params):
            self.composer.focus()  # as after any prompt: the answer streams below
            await self.send(CONTINUE_PROMPT)
            return
        so_far = answer.turn.message.text.rstrip()
        await self.send(answer.prompt.text, self.history.tree.regenerate(index, continues=so_far))

    async def action_alternative(self, step: int) -> None:
        """← / → on a focused message with alternatives: the previous or next
        one, and the conversation below it as it was on that branch."""
        from ..branches import ANSWER, PROMPT
        from ..chat_history import shown
        from ..widgets.assistant_message import AssistantMessage

        widget = self.focused
        if widget is None or self.streaming or (index := self.exchange_of(widget)) is None:
            return
        level = ANSWER if isinstance(widget, AssistantMessage) else PROMPT
        tree = self.history.tree
        chosen = tree.switch(index, level, step)
        if chosen is None:
            return
        self.history.choose(chosen)
        path = tree.path()
        self.turns = [answer.turn for answer in path if answer.turn is not None]
        await self.take_off(index, keep_prompt=False)
        await self._draw_past(shown(path[index:]))
        again = self._drawn(index, type(widget))
        if again is not None:
            again.focus()
            again.scroll_visible(animate=False)

    # -- drawing ---------------------------------------------------------------------

    async def take_off(self, index: int, *, keep_prompt: bool) -> None:
        """Remove the exchange at `index` and everything below it (its answer
        only, with `keep_prompt`): the new answer or branch is drawn there.
        Nothing, for an exchange not drawn (a new prompt's)."""
        from ..widgets.user_message import UserMessage

        prompt = self._drawn(index, UserMessage)
        if prompt is None:
            return
        children = list(self.conversation.children)
        start = children.index(prompt) + (1 if keep_prompt else 0)
        gone = children[start:]
        focused = self.focused
        if focused is not None and any(w is focused or w in focused.ancestors for w in gone):
            self.composer.focus()  # not to a neighbour: typing goes on in the prompt
        if gone:
            await self.conversation.remove_children(gone)

    def answered(self, plan: Plan, view: AssistantMessage, metrics: Any) -> None:
        """The turn's answer ended: its numbers are kept for drawing it again
        (switching back to it), and the switchers show the new count."""
        plan.answer.metrics = metrics
        self.show_alternatives()

    def show_alternatives(self) -> None:
        """`‹ 2/3 ›` under each drawn answer and prompt that has alternatives."""
        from ..branches import ANSWER, PROMPT
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        tree = self.history.tree
        prompts = [c for c in self.conversation.children if isinstance(c, UserMessage)]
        views = [c for c in self.conversation.children if isinstance(c, AssistantMessage)]
        first = len(self._undrawn)
        for at, (prompt, view) in enumerate(zip(prompts, views, strict=False)):
            _mark_answer(view, *tree.alternatives(first + at, ANSWER))
            _mark_prompt(prompt, *tree.alternatives(first + at, PROMPT))


def continuable(answer: Answer) -> bool:
    """A stopped or cut-off answer (by the user, the connection, or the token
    limit) with some text to go on from."""
    from ..turn import Outcome

    turn = answer.turn
    if turn is None or not turn.message.text.strip():
        return False
    if turn.outcome in (Outcome.STOPPED, Outcome.INTERRUPTED):
        return True
    return turn.outcome is Outcome.FINISHED and turn.message.finish_reason == "length"


def _mark_answer(view: AssistantMessage, which: int, count: int) -> None:
    from ..widgets.alternatives import Alternatives

    found = view.query(Alternatives)
    if count < 2:
        found.remove()
    elif found:
        found.first().show(which, count)
    elif view.is_attached:
        view.mount(Alternatives(which, count))


def _mark_prompt(prompt: UserMessage, which: int, count: int) -> None:
    """A prompt is one Static: the switcher is a dim last line of it."""
    from ..widgets.alternatives import label

    line = label(which, count) if count > 1 else None
    if getattr(prompt, "alternatives", None) == line:
        return
    prompt.alternatives = line  # type: ignore[attr-defined]
    text = safe_text(prompt.text)
    if line is not None:
        text.append(f"\n{line}", style="dim")
    prompt.update(text)
