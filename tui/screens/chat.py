"""The chat screen: a conversation of turns, a composer, one answer task.

Each prompt becomes a `Turn` (tui/turn.py) whose events are pushed into its
answer view and the status line; the turn ends in one `on_done`, which
records it here. Esc is a priority binding that cancels the task; the
cancellation raises inside the turn's stream, which closes the HTTP response
(and its socket) before anything slower runs - rendering the rest, the
footer, the notification - so the server sees EOF within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from textual import events, on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget

from ..chat_history import SHOWN, ChatHistory, PastAnswer
from ..choices import Choices, SystemPrompt, restore_failure
from ..garbage import settle_garbage
from ..params import Params
from ..session import SessionTotals
from ..signals import Interruption
from ..widgets.composer import Composer
from ..widgets.conversation import Conversation
from ..widgets.earlier_hint import EarlierHint
from ..widgets.new_output_hint import NewOutputHint
from ..widgets.race_bar import RaceBar
from ..widgets.status_line import StatusLine
from .branch_actions import BranchActions
from .branch_commands import BranchCommands
from .chat_commands import ModelCommands
from .compositor import RowsCompositor
from .copy_commands import CopyCommands
from .race_actions import RaceActions

if TYPE_CHECKING:
    from tokentide.client.config import Endpoint, Settings
    from tokentide.client.events import Message, StreamEvent
    from tokentide.client.meter import Metrics
    from tokentide.client.stream import ChatClient

    from ..branches import Plan
    from ..recorder import Recording
    from ..turn import Outcome, Turn
    from ..widgets.assistant_message import AssistantMessage
    from ..widgets.history_panel import HistoryPanel
    from ..widgets.message_actions import MessageAction
    from ..widgets.user_message import UserMessage
    from .model_picker import ModelChoice, ModelPicker

PickerT = TypeVar("PickerT", bound="ModelPicker")


def _first_answer_modules() -> None:
    """What the first answer needs and the first frame does not: imported
    after the first frame, in a thread, not with this module."""
    from .. import recorder, turn  # noqa: F401
    from ..widgets import (  # noqa: F401
        assistant_message,
        markdown_view,
        user_message,
    )


@dataclass
class _InFlight:
    """The one turn streaming now, with its view and its task."""

    turn: Turn
    view: AssistantMessage
    task: asyncio.Task | None = None
    recording: Recording | None = None
    closing: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class ChatScreen(RaceActions, BranchActions, Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop", priority=True),
        Binding("ctrl+c", "stop", "Stop", id="stop-ctrl-c", priority=True, show=False),
        Binding(
            "ctrl+c",
            "copy_selection",
            "Copy",
            id="copy-selection",
            show=False,
            tooltip="the text selected with the mouse (while an answer streams, Ctrl+C stops it)",
        ),
        Binding(
            "ctrl+r",
            "retry",
            "Regenerate",
            id="retry",
            tooltip="the last answer anew (the old one is kept), or a failed prompt",
        ),
        *[
            Binding(
                key,
                f"alternative({step})",
                mark,
                id=f"alternative-{name}",
                priority=True,
                group=Binding.Group("Switch alternative ‹ ›", compact=True),
                tooltip="on a message with alternatives (‹ 2/3 ›)",
            )
            for key, step, mark, name in [("left", -1, "‹", "previous"), ("right", 1, "›", "next")]
        ],
        # While a prompt is edited (the composer's title says so); not in F1's list.
        Binding("escape", "cancel_edit", "", id="cancel-edit", show=False),
        Binding("escape", "cancel_race", "Cancel race", id="cancel-race"),
        Binding("ctrl+n", "new_chat", "New chat", id="new-chat"),
        Binding("ctrl+b", "history", "History", id="history"),
        Binding("ctrl+u", "load_earlier", "Earlier messages", id="load-earlier", priority=True),
        Binding("end", "follow", "Follow", id="follow", priority=True),
        Binding(
            "ctrl+end",
            "follow(True)",
            "Follow",
            id="follow-ctrl",
            priority=True,
            show=False,
            tooltip="the end of the conversation, following the answer (End: from an empty prompt)",
        ),
        Binding(
            "home",
            "scroll_conversation('home')",
            "Top",
            id="top",
            priority=True,
            show=False,
            tooltip="the top of the conversation (from an empty prompt; Ctrl+Home from any)",
        ),
        Binding(
            "ctrl+home", "scroll_conversation('home', True)", "Top", id="top-ctrl", priority=True
        ),
        Binding("pageup", "scroll_conversation('up')", "Page up", id="page-up", priority=True),
        Binding(
            "pagedown", "scroll_conversation('down')", "Page down", id="page-down", priority=True
        ),
        Binding(
            "alt+up,ctrl+up",
            "focus_message(-1)",
            "Messages",
            id="message-previous",
            tooltip="focus the message above (from the prompt: the last one); F1 lists its keys",
        ),
        Binding("alt+down,ctrl+down", "focus_message(1)", "Next message", id="message-next"),
        Binding(
            "escape",
            "to_prompt",
            "Prompt",
            id="to-prompt",
            tooltip="from a message, back to the prompt",
        ),
        Binding("ctrl+o", "pick_model", "Model", id="pick-model"),
        Binding("ctrl+s", "system_prompt", "System prompt", id="system-prompt"),
    ]
    COMMANDS = {ModelCommands, CopyCommands, BranchCommands}

    DEFAULT_CSS = """
    ChatScreen {
        layout: vertical;
        & > #conversation {
            height: 1fr;
            padding: 0 1;
            scrollbar-gutter: stable;
        }
        & > #prompt-area {
            height: auto;
            & > Composer { margin: 0 1; }
        }
    }
    """

    streaming: var[bool] = var(False, bindings=True)
    """True from Enter until the answer is recorded; drives which bindings apply."""
    scrolled_up: var[bool] = var(False, bindings=True)
    """The reader left the end of the conversation: End (follow) applies."""
    _prompt_empty: var[bool] = var(True, bindings=True)
    """Home and End scroll the conversation only from an empty prompt."""

    def __init__(self, settings: Settings, params: Params | None = None) -> None:
        super().__init__()
        self._compositor = RowsCompositor()
        self.settings = settings
        self.params = dataclasses.replace(params or Params(), thinking=settings.thinking)
        """What every prompt is sent with besides the conversation."""
        self._client: ChatClient | None = None
        self._warm: Future[ChatClient] | None = None
        self.turns: list[Turn] = []
        """Every turn of this chat, failed ones included (they are not sent again)."""
        self.in_flight: _InFlight | None = None
        self.totals = SessionTotals()
        self.history = ChatHistory(warn=self._warn)
        self._undrawn: list[PastAnswer] = []
        """Exchanges of a reopened conversation not drawn yet (Ctrl+U draws them)."""
        self._stopping = False
        self.interruption: Interruption | None = None
        """Set by the app when SIGTERM/SIGHUP arrives: the answer it stops is
        recorded as interrupted, not as stopped."""
        self.choices = Choices(settings)
        """The providers and system prompts to pick from, and the ones in use."""
        self._history_opened = False
        self._starting = False
        self.started = asyncio.Event()
        """Set once `after_first_frame` has run: the history is open."""
        self._retired: list[ChatClient] = []
        """Clients of a provider switched away from while an answer streamed
        through them: closed once it is recorded."""

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical
        from textual.widgets import Header

        yield Header()
        yield Conversation(id="conversation")
        # In a container of their own: for each frame Textual draws every
        # widget whose container overlaps a changed line, and the screen
        # overlaps all of them; in here, the answer's lines no longer redraw
        # the prompt box, the status line and the hints (measured at 200
        # tok/s: ten widgets a frame, five of them these).
        with Vertical(id="prompt-area"):
            yield NewOutputHint()
            yield StatusLine()
            yield RaceBar()
            yield Composer(id="composer", placeholder="Ask anything · Enter sends · Ctrl+J newline")

    @property
    def client(self) -> ChatClient:
        """Built in a thread right after the first frame (`_warm_client`): httpx
        is not imported before the first frame, and the first prompt does not
        wait for it and its TLS context (100-250 ms). Built here if the prompt
        came first, or the provider changed since."""
        if self._client is None:
            warm, self._warm = self._warm, None
            built = None
            if warm is not None:  # finishing it costs no more than building another
                with contextlib.suppress(Exception):
                    built = warm.result(timeout=10)
            if built is not None and built.endpoint == self.settings.endpoint:
                self._client = built
            else:
                if built is not None:
                    self._retired.append(built)  # closed with the others
                self._client = self._new_client()
        return self._client

    def _new_client(self) -> ChatClient:
        from tokentide.client.stream import ChatClient

        return ChatClient(
            self.settings.endpoint,
            timeouts=self.settings.timeouts,
            retries=self.settings.retries,
            limits=self.settings.limits,
        )

    def _warm_client(self) -> None:
        """Build the client in a thread while the user types the first prompt."""
        future: Future[ChatClient] = Future()

        def build() -> None:
            try:
                future.set_result(self._new_client())
            except BaseException as exc:  # the prompt then builds one itself
                future.set_exception(exc)

        # Not a daemon: waited for at exit, not torn down mid-build (see warm_up).
        threading.Thread(target=build, name="tokentide-client").start()
        self._warm = future

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def current(self) -> Turn | None:
        """The turn streaming now; read from the input thread by the stop key."""
        in_flight = self.in_flight
        return in_flight.turn if in_flight is not None else None

    @property
    def failed_prompt(self) -> str | None:
        """The prompt of the last turn, if it failed: what Ctrl+R sends again."""
        from ..turn import Outcome

        if self.turns and self.turns[-1].outcome is Outcome.FAILED:
            return self.turns[-1].prompt.text
        return None

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The header now; the history, which keeps the choices with the
        # conversation, after the first frame (`after_first_frame`).
        self.sub_title = self.choices.header(self.settings.endpoint)
        self.composer.focus()
        self.status.idle(self.totals.describe())

    async def after_first_frame(self) -> None:
        """Called by the app once its first frame is on the terminal: the key
        bar (its ten keys are widgets, laid out again each time the bindings
        change: 0.1 s of a 0.6 s start), the history, and in threads the
        client and what the first answer needs. Run any earlier, all of it
        delays the frame with the prompt box (by 70-90 ms, measured)."""
        if self._starting:
            return
        self._starting = True
        try:
            if not self.is_attached:  # quit at once
                return
            from ..markdown.warm import warm_up
            from ..widgets.key_bar import KeyBar

            # In a thread: the first answer then finds loaded what the first
            # frame did without (its view, the history's writer, the parser).
            warm_up(_first_answer_modules)
            if self._client is None:
                self._warm_client()
            await self.mount(KeyBar())
            # Textual's footer draws its keys when the bindings change, and
            # mounted after the first frame it would wait for the first key.
            self.refresh_bindings()
            self._open_history()
        finally:
            self.started.set()

    def _open_history(self) -> None:
        """Once: after the first frame, or at a prompt sent before it
        (`tokentide "prompt"`), which is then recorded like any other."""
        if self._history_opened:
            return
        self._history_opened = True
        self.history.open()
        self.history.remember(self.choices.stored(self.settings.endpoint))
        self.composer.prompts[:0] = self.history.prompts()

    def _warn(self, line: str) -> None:
        """A history problem, said once. The history writes from its own thread,
        so this only schedules the notice on the app's loop (never waits on it:
        at exit there may be no loop left to wait on)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            self._loop.call_soon_threadsafe(self._notify_history, line)

    def _notify_history(self, line: str) -> None:
        if self.is_attached:
            self.notify(line, title="history", severity="warning", timeout=8, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply now are hidden and pass through to the
        focused widget (Esc, Ctrl+C copy, End in the composer)."""
        if action == "stop":
            return self.streaming
        if action == "retry":
            return bool(self.turns) and not self.streaming
        if action == "alternative":
            return not self.streaming and self.alternatives_at(self.focused) > 1
        if action == "cancel_edit":
            return self.editing is not None and self.focused is self.composer
        if action == "cancel_race":
            return bool(self.race_endpoints) and not self.streaming
        if action == "follow":  # End in a prompt being written moves its cursor
            typing = self.focused is self.composer and bool(self.composer.text)
            return not self.conversation.following and (bool(parameters) or not typing)
        if action == "scroll_conversation":  # from the prompt or a message, not a panel
            if not self._reading():
                return False
            typing = self.focused is self.composer and bool(self.composer.text)
            return parameters[0] != "home" or len(parameters) > 1 or not typing
        if action == "focus_message":
            return self._reading() and bool(self._messages())
        if action == "to_prompt":
            return self.focused is not self.composer and self._reading()
        if action == "load_earlier":  # else Ctrl+U edits the prompt, as usual
            return bool(self.query(EarlierHint))
        return True

    # -- sending ---------------------------------------------------------

    @on(Composer.Submitted)
    async def on_composer_submitted(self, event: Composer.Submitted) -> None:
        event.composer.submitting = False
        if self.streaming:
            event.composer.stop_requested = False
            closing = self.in_flight is None or self.in_flight.closing
            busy = "being finished" if closing else "still streaming: Esc stops it"
            if self.racing is not None:
                busy = "still racing: Esc stops every lane"
            self.notify(f"The last answer is {busy}.", severity="warning")
            return
        event.composer.load_text("")
        await self.keep_first_finished()  # a race not kept: its first finished lane
        if self.race_endpoints:
            await self.send_race(event.text)
            return
        await self.send(event.text)

    async def send(self, prompt: str, plan: Plan | None = None) -> None:
        """Send `prompt` after the last answer (or in place of the prompt being
        edited); `plan` places it elsewhere (regenerate, continue)."""
        from tokentide.client.events import Retrying, TextDelta

        from ..turn import Turn
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        self._open_history()
        plan = plan or self.plan_prompt(prompt)
        params = self.params
        view = AssistantMessage(structured=params.output_schema is not None)
        status = self.status
        recording = self.history.recording(self.settings, params, plan)

        def sink(event: StreamEvent) -> None:
            if isinstance(event, Retrying):
                status.retrying(event)
                return
            view.push(event)
            status.changed()
            if recording is not None:
                recording.event(event)

        def done(message: Message, metrics: Metrics, outcome: Outcome) -> None:
            if self.interruption is not None:
                outcome = self.interruption.mark(message, metrics, outcome)
            try:
                if recording is not None:
                    recording.done(message, metrics, outcome)  # the history first
            finally:
                self._record(view, prompt, message, metrics, outcome)
                self.answered(plan, view, metrics)

        expected = recording.expected_tokens() if recording is not None else None
        turn = Turn(
            self.client,
            self.settings,
            prompt,
            history=plan.history,
            params=params,
            history_tokens=expected,
            sink=sink,
            on_done=done,
            checkpoint=recording.checkpoint if recording is not None else None,
            continues=plan.continues,
        )
        plan.answer.turn = turn
        if recording is not None:
            recording.turn = turn
        # Streaming from now, before the first await: a second Enter must not
        # start another answer, and a stop key must have one to stop.
        self.turns = [*plan.history, turn]
        in_flight = self.in_flight = _InFlight(turn, view)
        self.streaming = True
        self._stopping = False
        await self.take_off(plan.index, keep_prompt=not plan.new_prompt)
        await self.conversation.mount_all(
            [UserMessage(prompt), view] if plan.new_prompt else [view]
        )
        if plan.continues:  # the answer so far, and the rest streams on after it
            view.push(TextDelta(plan.continues))
        self.conversation.follow()
        self._hide_hint()
        view.start(lambda: turn.message, on_frame=status.frame)
        status.streaming(turn.metrics)
        if recording is not None and not self._stopping:
            await recording.prompt(prompt)  # committed before the request is sent
        if self._stopping or self.composer.stop_requested:
            # Stopped before it could be sent (Enter, then Esc at once): nothing is sent.
            self.composer.stop_requested = False
            await self._close(in_flight)
            return
        # A task of our own rather than a Textual worker: a worker cancelled
        # before its first step vanishes without a word, a task's done
        # callback runs however it ends, so the answer is always recorded.
        in_flight.task = asyncio.create_task(turn.run(), name="tokentide-answer")
        in_flight.recording = recording
        in_flight.task.add_done_callback(partial(self._answer_done, in_flight))

    async def _price(self, view: AssistantMessage, recording: Recording) -> None:
        """The answer's cost, looked up off the event loop (the price table is slow to load)."""
        found = await recording.price(self.settings.prices)
        if found is not None and view.is_attached:
            view.show_cost(found)

    def _answer_done(self, in_flight: _InFlight, task: asyncio.Task) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            # A bug, not a request error (those are outcomes): say so, carry on.
            said = self.settings.endpoint.secrets.scrub(repr(error))
            self.notify(f"internal error: {said}", severity="error", timeout=10, markup=False)
        self.call_later(self._close, in_flight)

    async def _close(self, in_flight: _InFlight) -> None:
        """After a turn, once: render what is queued, then accept the next prompt."""
        if in_flight.closing:
            await in_flight.closed.wait()
            return
        in_flight.closing = True
        self._stopping = True  # the socket is closed: a stop key has nothing left to stop
        in_flight.turn.abandon()  # records a turn that never ran; no-op otherwise
        try:
            await in_flight.view.flush()
        finally:
            if self.in_flight is in_flight:
                self.in_flight = None
            # Last: until the answer is recorded and drawn, Enter must not start another.
            self.streaming = False
            in_flight.closed.set()
            settle_garbage()
            if in_flight.recording is not None:
                self.run_worker(partial(self._price, in_flight.view, in_flight.recording))

    async def settle(self) -> None:
        """Until the answer in flight, if any, has ended and is recorded and drawn."""
        await self.settle_race()
        in_flight = self.in_flight
        if in_flight is None:
            return
        if in_flight.task is not None:
            await asyncio.wait([in_flight.task])
        await self._close(in_flight)

    async def coloured(self) -> None:
        """Until every answer's big streamed blocks are drawn whole (after
        `settle`: the chat does not wait for it, only the colours change)."""
        from ..widgets.assistant_message import AssistantMessage

        for view in self.query(AssistantMessage):
            await view.markdown.settled()

    def _record(
        self,
        view: AssistantMessage,
        prompt: str,
        message: Message,
        metrics: Metrics,
        outcome: Outcome,
    ) -> None:
        """The turn's `on_done`: footer, error block, totals."""
        from ..turn import Outcome
        from ..widgets.error_block import ErrorBlock

        view.finish(message, metrics)
        if outcome is Outcome.FAILED and message.error:
            self.conversation.mount(ErrorBlock(message.error))
            if not self.composer.text.strip():
                # Back for Enter or Ctrl+R, and selected: a prompt typed right
                # away replaces it instead of being glued on to its end.
                self.composer.load_text(prompt)
                self.composer.select_all()
        elif outcome is Outcome.INTERRUPTED and message.error:
            self.notify(message.error, title="Cut off", severity="warning", markup=False)
        self.totals.add(message, metrics)
        self.status.idle(self.totals.describe())

    # -- following the stream ----------------------------------------------

    @on(Conversation.NewOutput)
    def _show_hint(self, event: Conversation.NewOutput) -> None:
        hint = self.query_one(NewOutputHint)
        hint.count(event.lines)
        hint.add_class("-shown")

    @on(Conversation.AtEnd)
    def _hide_hint(self) -> None:
        self.query_one(NewOutputHint).remove_class("-shown")
        self.scrolled_up = False

    @on(Conversation.LeftEnd)
    def _left_end(self) -> None:
        self.scrolled_up = True

    # -- actions -----------------------------------------------------------

    def action_stop(self) -> None:
        """Esc / Ctrl+C while streaming: cancel the task; nothing else first."""
        if not self.streaming:
            raise SkipAction()  # not ours: the key goes on to the focused widget
        self.abort_race()
        self._cancel_stream()

    def action_copy_selection(self) -> None:
        """Ctrl+C when nothing streams (while one does, it stops it): the text
        selected with the mouse. With nothing selected it says how to select,
        rather than Textual's "Do you want to quit?" (Ctrl+Q quits)."""
        text = self.get_selected_text()
        if text:
            self.app.copy_to_clipboard(text)
            return
        self.notify(
            "Drag across text to select it, or press Alt+Up and c to copy a whole "
            "message. Ctrl+Q quits.",
            title="Nothing selected",
            timeout=5,
            markup=False,
        )

    def _cancel_stream(self) -> None:
        in_flight = self.in_flight
        if self._stopping or in_flight is None or in_flight.closing:
            return
        self._stopping = True
        if in_flight.task is not None:
            in_flight.task.cancel()

    def action_follow(self, ctrl: bool = False) -> None:
        self.conversation.follow()
        self._hide_hint()

    # -- keys for reading: scrolling, message focus, copying -----------------

    def _reading(self) -> bool:
        """The focus is on the prompt or in the conversation (not in a panel)."""
        focused = self.focused
        return focused is None or focused is self.composer or self._in_conversation(focused)

    def _in_conversation(self, widget: Widget) -> bool:
        conversation = self.conversation
        return widget is conversation or conversation in widget.ancestors

    def action_scroll_conversation(self, where: str, ctrl: bool = False) -> None:
        """PageUp, PageDown and Home reach the conversation from the prompt."""
        conversation = self.conversation
        if where == "up":
            conversation.scroll_page_up(animate=False)
        elif where == "down":
            conversation.scroll_page_down(animate=False)
        else:
            conversation.scroll_home(animate=False)

    def _messages(self) -> list[UserMessage | AssistantMessage]:
        """The messages on screen, top to bottom (an answer that never started is hidden)."""
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.race_view import RaceView
        from ..widgets.user_message import UserMessage

        return [
            child
            for child in self.conversation.children
            if isinstance(child, UserMessage | AssistantMessage | RaceView) and child.display
        ]

    def action_focus_message(self, step: int) -> None:
        """Alt+Up from the prompt: the last message; then Up/Down (or Alt+Up/Down)
        move between messages, and past the last one back to the prompt."""
        messages = self._messages()
        focused = self.focused
        if focused in messages:
            index = messages.index(focused) + step  # type: ignore[arg-type]
            if index >= len(messages):
                self.composer.focus()
            elif index >= 0:
                messages[index].focus()
        elif step < 0 and messages:
            messages[-1].focus()

    def action_to_prompt(self) -> None:
        self.composer.focus()

    def on_key(self, event: events.Key) -> None:
        """Typing lands in the prompt: a character typed while a message or the
        conversation has the focus goes to the prompt (unless it is one of the
        focused message's keys, such as c), and so does the focus."""
        focused = self.focused
        if not event.is_printable or event.character is None or focused is None:
            return
        if not self._in_conversation(focused) or event.key in self.active_bindings:
            return
        event.stop()
        event.prevent_default()
        self.composer.focus()
        self.composer.insert(event.character)

    def on_paste(self, event: events.Paste) -> None:
        """A paste (bracketed) while reading goes to the prompt too."""
        focused = self.focused
        if focused is not None and self._in_conversation(focused):
            event.stop()
            self.composer.focus()
            self.composer.insert(event.text)

    @on(Composer.Changed, "#composer")
    def _prompt_changed(self) -> None:
        self._prompt_empty = not self.composer.text

    def message_can(self, widget: Widget, action: str, number: int = 0) -> bool:
        """Whether a key on a focused message applies (else it is hidden, and a
        letter typed goes to the prompt). Regenerate, edit and continue are
        hooks for features to come: each says True here once it is built and
        handled in `_message_action`."""
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        if action == "copy":
            return isinstance(widget, UserMessage | AssistantMessage)
        if action == "copy_code":
            return isinstance(widget, AssistantMessage) and number <= len(widget.code_blocks())
        if action == "details":
            return isinstance(widget, AssistantMessage) and widget.metrics is not None
        return self.branch_can(widget, action)  # regenerate, edit, continue

    async def on_message_action(self, event: MessageAction) -> None:
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        widget = event.widget
        if event.action == "copy" and isinstance(widget, UserMessage | AssistantMessage):
            self.copy_message(widget)
        elif event.action == "copy_code" and isinstance(widget, AssistantMessage):
            self.copy_code(widget, event.number)
        elif event.action == "details" and isinstance(widget, AssistantMessage):
            self.show_details(widget)
        elif (index := self.exchange_of(widget)) is not None:
            if event.action == "regenerate":
                await self.regenerate(index)
            elif event.action == "edit":
                self.start_edit(index)
            elif event.action == "continue":
                await self.continue_answer(index)

    def show_details(self, answer: AssistantMessage) -> None:
        """The answer's numbers and token arrivals (screens/answer_details.py)."""
        from .answer_details import AnswerDetails

        if answer.message is not None and answer.metrics is not None:
            self.app.push_screen(AnswerDetails(answer.message, answer.metrics))

    def copy_target(self) -> UserMessage | AssistantMessage | None:
        """The focused message, else the last answer: what the palette copies."""
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        if isinstance(self.focused, UserMessage | AssistantMessage):
            return self.focused
        answers = [m for m in self._messages() if isinstance(m, AssistantMessage)]
        return answers[-1] if answers else None

    def copy_message(self, widget: UserMessage | AssistantMessage) -> None:
        from ..widgets.user_message import UserMessage

        what = "Prompt" if isinstance(widget, UserMessage) else "Answer"
        self.app.copy_to_clipboard(widget.copy_text(), what=what)  # type: ignore[call-arg]

    def copy_code(self, answer: AssistantMessage, number: int) -> None:
        """Code block `number` (from 1, as labelled) of `answer`: its code only."""
        blocks = answer.code_blocks()
        if not 1 <= number <= len(blocks):
            have = f"{len(blocks)} code block{'s' if len(blocks) != 1 else ''}"
            self.notify(f"This answer has {have}.", title="Copy", severity="warning")
            return
        what = f"Code block {number}"
        self.app.copy_to_clipboard(blocks[number - 1].code, what=what)  # type: ignore[call-arg]

    async def action_retry(self) -> None:
        """Ctrl+R: the last answer again, or a failed prompt sent again (its
        error block replaced)."""
        if self.turns and not self.streaming:
            await self.regenerate(len(self.turns) - 1)

    async def action_new_chat(self) -> None:
        await self.stop_streaming()
        self.end_edit()
        self.turns.clear()
        self._undrawn = []
        self.history.new_chat()
        await self.conversation.remove_children()
        self.status.idle(self.totals.describe())
        self.composer.focus()

    # -- the history -------------------------------------------------------

    @property
    def panel(self) -> HistoryPanel:
        from ..widgets.history_panel import HistoryPanel

        return self.query_one(HistoryPanel)

    async def action_history(self) -> None:
        from ..widgets.history_panel import HistoryPanel

        if not self.query(HistoryPanel):
            # Mounted when first wanted: one less thing to build before the first frame.
            await self.mount(HistoryPanel(), before=self.conversation)
        if self.panel.is_open:
            self._close_panel()
        else:
            self.panel.open(self.history.conversations())

    def on_history_panel_closed(self) -> None:
        self._close_panel()

    def _close_panel(self) -> None:
        self.panel.close()
        self.composer.focus()

    def on_history_panel_searched(self, event: HistoryPanel.Searched) -> None:
        self.panel.show(self.history.conversations(event.text.strip()))

    async def on_history_panel_chosen(self, event: HistoryPanel.Chosen) -> None:
        await self.open_conversation(event.conversation_id)
        self._close_panel()

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a stored conversation's last exchanges and continue it: the next
        prompt is sent with all its turns, drawn or not."""
        await self.stop_streaming()
        self.end_edit()
        past = self.history.load(conversation_id)
        self.turns = [exchange.turn for exchange in past]  # type: ignore[misc]
        self._undrawn = past[:-SHOWN] if len(past) > SHOWN else []
        await self.conversation.remove_children()
        shown = past[len(self._undrawn) :]
        if self._undrawn:
            await self.conversation.mount(EarlierHint(2 * len(self._undrawn)))
        await self._draw_past(shown)
        self.conversation.follow()
        await self._restore_choices(conversation_id)

    async def _draw_past(self, past: list[PastAnswer], *, after: Widget | None = None) -> None:
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        widgets: list[Widget] = []
        views = []
        for exchange in past:
            view = AssistantMessage()
            widgets += [UserMessage(exchange.turn.prompt.text), view]
            views.append((view, exchange))
        await self.conversation.mount_all(widgets, after=after)
        for view, exchange in views:
            view.show_past(exchange.turn.message, exchange.metrics, exchange.interrupted)
        self.show_alternatives()

    async def action_load_earlier(self) -> None:
        """The next exchanges up, drawn above the ones on screen."""
        hints = self.query(EarlierHint)
        if not hints or not self._undrawn:
            return
        hint = hints.first()
        batch, self._undrawn = self._undrawn[-SHOWN:], self._undrawn[:-SHOWN]
        await self._draw_past(batch, after=hint)
        if self._undrawn:
            hint.count(2 * len(self._undrawn))
        else:
            await hint.remove()

    def on_history_panel_rename_asked(self, event: HistoryPanel.RenameAsked) -> None:
        from .ask_screens import Rename

        def renamed(title: str | None) -> None:
            if title is not None:
                self.history.rename(event.conversation_id, title)
                self.panel.show(self.history.conversations(self.panel.search_text))

        self.app.push_screen(Rename(event.title), renamed)

    def on_history_panel_delete_asked(self, event: HistoryPanel.DeleteAsked) -> None:
        from .ask_screens import Confirm

        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            open_now = self.history.conversation_id == event.conversation_id
            self.history.delete(event.conversation_id)
            self.panel.show(self.history.conversations(self.panel.search_text))
            if open_now:
                await self.action_new_chat()
            if self.panel.is_open:
                self.panel.focus_list()  # the new chat took it: Esc must still close the list

        self.app.push_screen(Confirm(f"Delete “{event.title}” and all its messages?"), answered)

    async def stop_streaming(self) -> None:
        """Cancel a running answer and wait until it is recorded and drawn."""
        self.abort_race()
        self._cancel_stream()
        await self.settle()

    async def on_unmount(self) -> None:
        await self.stop_streaming()
        for client in [self._client, *self._retired]:
            if client is not None:
                await client.aclose()
        self.choices.close()
        self.history.close()

    # -- model and system prompt ---------------------------------------------

    def action_pick_model(self) -> None:
        from .model_picker import ModelPicker

        self.app.push_screen(self.model_picker(ModelPicker), self._model_picked)

    def model_picker(self, kind: type[PickerT]) -> PickerT:
        """The model picker (or the race's), over every configured provider's
        models, the one in use marked."""
        from .model_picker import ModelChoice

        endpoint = self.settings.endpoint
        return kind(
            self.choices.sources(endpoint),
            ModelChoice(endpoint.name, endpoint.model),
            self.settings.timeouts,
        )

    async def _model_picked(self, choice: ModelChoice | None) -> None:
        if choice is not None:
            endpoint = self.choices.endpoint(choice.provider, choice.model)
            if endpoint is not None:
                await self.use_endpoint(endpoint)
        self.composer.focus()

    async def use_endpoint(self, endpoint: Endpoint) -> None:
        """Send the next message to `endpoint`: a new client for it, the old
        one closed (after the answer streaming through it, if one is)."""
        if endpoint != self.settings.endpoint:
            self.settings = dataclasses.replace(self.settings, endpoint=endpoint)
            old, self._client = self._client, None
            if old is not None:
                self._retired.append(old)
            if not self.streaming:
                await self._close_retired()
        self._show_choices()

    async def watch_streaming(self, streaming: bool) -> None:
        # The prompt box's cursor holds still while an answer streams: each
        # blink is a screen update of its own, 36 in a 20 s answer.
        for composer in self.query(Composer):  # none while the screen is torn down
            composer.cursor_blink = not streaming
        if not streaming:
            await self._close_retired()

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for client in retired:
            await client.aclose()

    def action_system_prompt(self) -> None:
        from .system_prompt import SystemPromptPicker

        picker = SystemPromptPicker(self.choices.prompts(), self.choices.prompt)
        self.app.push_screen(picker, self._prompt_picked)

    def _prompt_picked(self, picked: SystemPrompt | str | None) -> None:
        from .system_prompt import EDIT

        if picked == EDIT:
            self.action_edit_system_prompt()
            return
        if isinstance(picked, SystemPrompt):
            self.use_prompt(picked)
        self.composer.focus()

    def action_edit_system_prompt(self) -> None:
        from .system_prompt import SystemPromptEditor

        self.app.push_screen(SystemPromptEditor(self.choices.prompt.text), self._prompt_edited)

    def _prompt_edited(self, text: str | None) -> None:
        if text is not None:
            self.use_prompt(self.choices.edited(text))
        self.composer.focus()

    def use_prompt(self, prompt: SystemPrompt) -> None:
        """The system message of this conversation's next requests."""
        self.choices.prompt = prompt
        self.settings = dataclasses.replace(self.settings, system=prompt.text)
        self._show_choices()

    def _show_choices(self) -> None:
        """The header's subtitle says what the next message goes to; the history
        keeps it with the conversation."""
        endpoint = self.settings.endpoint
        self.sub_title = self.choices.header(endpoint)
        self.history.remember(self.choices.stored(endpoint))

    async def _restore_choices(self, conversation_id: int) -> None:
        """A reopened conversation goes on with the model and system prompt it
        had; a provider no longer configured is said in one line, and the
        current one kept."""
        stored = self.history.chosen(conversation_id)
        if stored is None or (stored.provider is None and stored.prompt_name is None):
            self._show_choices()  # nothing kept: it goes on with these, and keeps them
            return
        if stored.prompt_name is not None:
            self.choices.prompt = SystemPrompt(stored.prompt_name, stored.system_prompt)
            self.settings = dataclasses.replace(self.settings, system=stored.system_prompt)
        endpoint = None
        if stored.provider is not None and stored.model is not None:
            endpoint = self.choices.endpoint(stored.provider, stored.model)
            if endpoint is None:
                line = restore_failure(stored, self.settings.endpoint)
                self.notify(line, title="model", severity="warning", timeout=8, markup=False)
        if endpoint is not None:
            await self.use_endpoint(endpoint)
        else:
            self.sub_title = self.choices.header(self.settings.endpoint)
