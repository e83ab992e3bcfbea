"""The chat screen: a conversation, a composer, and one stream worker.

Esc is a priority binding that cancels the worker directly. The cancellation
raises inside the worker's `async with answer`, which closes the HTTP
response (and its socket) before anything slower runs - rendering the rest,
the footer, the notification - so the server sees EOF within milliseconds of
the key event.
"""

from __future__ import annotations

import asyncio
import time

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tokentide.client.config import Settings
from tokentide.client.errors import StreamError
from tokentide.client.events import Message, TextDelta
from tokentide.client.meter import expectation
from tokentide.client.request import ChatRequest
from tokentide.client.stream import AnswerStream, ChatClient

from .. import format as fmt
from ..safe_text import terminal_safe
from ..session import SessionTotals
from ..widgets.assistant_message import AssistantMessage
from ..widgets.blocks import ErrorBlock, NewOutputHint, UserMessage
from ..widgets.composer import Composer
from ..widgets.conversation import Conversation
from ..widgets.status_line import StatusLine

STATUS_INTERVAL = 0.1
"""Seconds between status-line updates while streaming (at most ~10/s)."""


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop", priority=True),
        Binding("ctrl+c", "stop", "Stop", id="stop-ctrl-c", priority=True, show=False),
        Binding("ctrl+r", "retry", "Retry", id="retry"),
        Binding("ctrl+n", "new_chat", "New chat", id="new-chat"),
        Binding("end", "follow", "Follow", id="follow", priority=True),
    ]

    DEFAULT_CSS = """
    ChatScreen {
        layout: vertical;
        & > #conversation {
            height: 1fr;
            padding: 0 1;
            scrollbar-gutter: stable;
        }
        & > Composer { margin: 0 1; }
    }
    """

    streaming: var[bool] = var(False, bindings=True)
    """True while an answer streams; drives which bindings apply."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.client = ChatClient(settings.endpoint, timeouts=settings.timeouts)
        self.turns: list[Message] = []
        self.totals = SessionTotals()
        self.failed_prompt: str | None = None
        self.answer: AnswerStream | None = None
        self._worker: Worker | None = None
        self._view: AssistantMessage | None = None
        self._drawn: tuple[int, ...] = (0, 0, 0)
        self._answer_started = 0.0
        self._stopping = False
        self.stop_requested_at: float | None = None
        """perf_counter() of the last stop key, for measuring stop latency."""

    def compose(self) -> ComposeResult:
        from textual.widgets import Footer, Header

        yield Header()
        yield Conversation(id="conversation")
        yield NewOutputHint()
        yield StatusLine()
        yield Composer(id="composer", placeholder="Ask anything · Enter sends · Ctrl+J newline")
        yield Footer()

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def on_mount(self) -> None:
        self.composer.focus()
        self.status.idle(self.totals.describe())
        self._ticker = self.set_interval(STATUS_INTERVAL, self._tick, pause=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply now are hidden and pass through to the
        focused widget (Esc, Ctrl+C copy, End in the composer)."""
        if action == "stop":
            return self.streaming
        if action == "retry":
            return self.failed_prompt is not None and not self.streaming
        if action == "follow":
            return not self.conversation.following
        return True

    # -- sending ---------------------------------------------------------

    @on(Composer.Submitted)
    async def on_composer_submitted(self, event: Composer.Submitted) -> None:
        if self.streaming:
            self.notify("An answer is still streaming: Esc stops it.", severity="warning")
            return
        event.composer.load_text("")
        await self.send(event.text)

    async def send(self, prompt: str) -> None:
        self.failed_prompt = None
        self.turns.append(Message("user", prompt))
        view = AssistantMessage()
        await self.conversation.mount_all([UserMessage(prompt), view])
        self.conversation.follow()
        self._hide_hint()
        request = ChatRequest(
            self.settings.endpoint.model, self.context(), system=self.settings.system
        )
        expected = expectation(None, None, self.settings.expected_tokens)
        answer = self.client.stream(request, expected=expected)
        # Streaming from now, not from when the worker gets to run: a second
        # Enter must not start another answer, and Esc must have one to stop.
        self.answer, self._view, self._drawn = answer, view, (0, 0, 0)
        self.streaming = True
        self._stopping = False
        self._worker = self.stream_answer(view, request, answer)

    def context(self) -> list[Message]:
        """The turns sent with the next request.

        Tools are not run here, so an assistant turn's tool calls would go
        out unanswered, and OpenAI rejects a history like that: send the
        text only. A turn with no text (stopped before the first token, or
        tool calls alone) is left out.
        """
        turns = []
        for turn in self.turns:
            if turn.role == "assistant":
                if not turn.text:
                    continue
                turn = Message("assistant", turn.text)
            turns.append(turn)
        return turns

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def stream_answer(
        self, view: AssistantMessage, request: ChatRequest, answer: AnswerStream
    ) -> None:
        self._answer_started = time.monotonic()
        self._ticker.resume()
        feed = view.feed()
        try:
            async with answer:
                async for event in answer:
                    # Only queue here: this loop must keep up with the socket.
                    # Thinking, tool calls and the hint are drawn by `_tick`.
                    if isinstance(event, TextDelta):
                        feed.write(terminal_safe(event.text))
        except StreamError:
            pass  # recorded on answer.message; shown by _finish
        finally:
            # The socket is already closed here (the `async with` has exited);
            # a stop key from now on has nothing left to stop.
            self._stopping = True
            try:
                await feed.stop()
            finally:
                self._done()

    def _done(self) -> None:
        """Record the answer in flight, once, and make the screen ready again."""
        self._ticker.pause()
        answer, view = self.answer, self._view
        self.answer = self._view = None
        if answer is not None and view is not None:
            self._finish(view, answer)
        # Last: until the answer is recorded, Enter must not start another.
        self.streaming = False

    def _finish(self, view: AssistantMessage, answer: AnswerStream) -> None:
        # The worker may have ended before the stream did (cancelled before
        # it ran, or a bug): what there is then counts as stopped.
        answer.mark_cancelled()
        message, metrics = answer.message, answer.metrics()
        view.finish(message, metrics)
        prompt = answer.request.messages[-1].text
        if message.error:
            # Keep what arrived on screen, but not in the context of the next turn.
            self.turns.pop()
            self.failed_prompt = prompt
            self.conversation.mount(ErrorBlock(message.error))
            if not self.composer.text.strip():
                self.composer.load_text(prompt)
                self.composer.move_cursor(self.composer.document.end)
        else:
            self.turns.append(message)
            if message.cancelled:
                self.notify(fmt.stopped(metrics), title="Stopped", timeout=4, markup=False)
        self.totals.add(message, metrics)
        self.status.idle(self.totals.describe())
        self._new_output()

    @on(Worker.StateChanged)
    def _worker_ended(self, event: Worker.StateChanged) -> None:
        """A stream worker cancelled before it ran never reaches its
        `finally`; one that failed (a bug, not a StreamError, which is shown
        inline) may not have either. Either way: record, say so, carry on."""
        worker = event.worker
        if worker.group != "stream" or not worker.is_finished:
            return
        if event.state == WorkerState.ERROR:
            self.notify(
                f"internal error: {worker.error!r}", severity="error", timeout=10, markup=False
            )
        if self.answer is not None and worker is self._worker:
            self._done()

    # -- following the stream ----------------------------------------------

    def _new_output(self) -> None:
        if not self.conversation.following:
            self.query_one(NewOutputHint).add_class("-shown")

    def _hide_hint(self) -> None:
        self.query_one(NewOutputHint).remove_class("-shown")

    @on(Conversation.AtEnd)
    def _at_end(self) -> None:
        self._hide_hint()

    def _tick(self) -> None:
        """Everything that need not follow each delta, at most 10 times a second."""
        answer, view = self.answer, self._view
        if answer is None or view is None:
            return
        self.status.streaming(time.monotonic() - self._answer_started, answer.metrics())
        message = answer.message
        drawn = (
            len(message.text),
            len(message.reasoning),
            sum(len(call.arguments_raw) + len(call.name or "") for call in message.tool_calls),
        )
        if drawn == self._drawn:
            return
        if drawn[1] != self._drawn[1]:
            view.show_reasoning(message.reasoning)
        if drawn[2] != self._drawn[2]:
            view.show_tool_calls(message.tool_calls)
        self._drawn = drawn
        self._new_output()

    # -- actions -----------------------------------------------------------

    def action_stop(self) -> None:
        """Esc / Ctrl+C while streaming: cancel the worker; nothing else first."""
        if not self.streaming:
            raise SkipAction()  # not ours: the key goes on to the focused widget
        self._cancel_stream()

    def _cancel_stream(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.stop_requested_at = time.perf_counter()
        self.workers.cancel_group(self, "stream")

    def action_follow(self) -> None:
        self.conversation.follow()
        self._hide_hint()

    async def action_retry(self) -> None:
        prompt = self.failed_prompt
        if prompt is None or self.streaming:
            return
        if self.composer.text == prompt:
            self.composer.load_text("")
        await self.send(prompt)

    async def action_new_chat(self) -> None:
        await self.stop_streaming()
        self.turns.clear()
        self.failed_prompt = None
        await self.conversation.remove_children()
        self.status.idle(self.totals.describe())
        self.composer.focus()

    async def stop_streaming(self) -> None:
        """Cancel a running answer and wait until its cleanup is done."""
        workers: list[Worker] = [w for w in self.workers if w.group == "stream"]
        if not workers:
            return
        self._cancel_stream()
        await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)

    async def on_unmount(self) -> None:
        await self.client.aclose()
