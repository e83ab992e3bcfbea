"""One assistant answer: thinking, tool calls, the Markdown body, and a footer.

The answer's events are pushed in (`push`, the turn's sink). Text goes to
the Markdown view at once, which draws on its own frame clock; thinking and
tool calls are redrawn from the turn's message at most `REDRAW_INTERVAL`
apart, because re-laying out a growing block per delta would cost more than
the stream delivers.

The Markdown and JSON views, the fence finder and the price formatting are
imported when an answer is first made, not with this module: the chat
screen imports it for its first frame, which shows no answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Collapsible, Static

from tokentide.client.events import (
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from tokentide.client.meter import Metrics

from .. import format as fmt
from ..safe_text import SafeStream, one_line, safe_text, terminal_safe
from .drawn import DRAWN_CHARS, drawn
from .layout import LaidOutOnce
from .message_actions import CODE_BINDINGS, MESSAGE_BINDINGS, MessageKeys

if TYPE_CHECKING:
    from ..markdown.fences import CodeBlock
    from ..prices import Cost
    from .json_view import JsonView
    from .tool_call_view import ToolCallView

REDRAW_INTERVAL = 0.1
"""Seconds between redraws of the thinking and tool-call parts (at most 10/s)."""


class AssistantMessage(MessageKeys, LaidOutOnce, Vertical):
    """Built to be filled while streaming; every part is created on demand."""

    BINDINGS = [*MESSAGE_BINDINGS, *CODE_BINDINGS]

    DEFAULT_CSS = """
    AssistantMessage {
        height: auto;
        margin: 0 0 1 0;
        /* Focused: a bar in place of the text's left padding (the same
           width, so the answer is not wrapped again) and a tint. */
        &:focus > MarkdownView {
            border-left: outer $accent;
            padding: 0 1 0 0;
            background: $accent 8%;
        }
        &:focus > .footer { background: $accent 8%; }
        & > #thinking {
            display: none;
            margin: 0;
            padding: 0;
            border: none;
            background: transparent;
            & CollapsibleTitle { color: $text-muted; padding: 0; }
            & Contents { padding: 0 0 0 2; }
            & Static { color: $text-muted; text-style: italic; }
        }
        & > #thinking.-shown { display: block; margin-bottom: 1; }
        & > MarkdownView { margin: 0; }
        & > .footer { color: $text-muted; padding: 0 1; }
        & > .footer.-stopped { color: $warning; }
        & > .footer.-failed { color: $error; }
        & > .warning { color: $warning; padding: 0 1; }
    }
    """

    def __init__(self, *, structured: bool = False) -> None:
        from .markdown_view import MarkdownView

        super().__init__()
        self.structured = structured
        """The answer is a JSON value (a schema was asked for): drawn as JSON, not Markdown."""
        self.json_view: JsonView | None = None
        self.markdown = MarkdownView()
        self.thinking_text = Static("", markup=False)
        self.footer = Static("", classes="footer", markup=False)
        self._tool_views: dict[int, ToolCallView] = {}
        self._safe = SafeStream()
        """Server text is shown, never obeyed (see safe_text); a CRLF split
        between two deltas is still one newline."""
        self._message_of: Callable[[], Message] | None = None
        self._stale = False
        self._redraw_timer: Timer | None = None
        self._drawn_at = 0.0
        self._drawn_chars = 0  # of the answer's text, up to DRAWN_CHARS
        self.message: Message | None = None
        """The answer as it ended (set by `finish`)."""
        self.metrics: Metrics | None = None
        """Its numbers as it ended (set by `finish`): what its details show."""
        self._code: tuple[str, list[CodeBlock]] = ("", [])

    def compose(self) -> ComposeResult:
        with Collapsible(title="thinking…", collapsed=True, id="thinking"):
            yield self.thinking_text
        yield self.markdown
        yield self.footer

    # -- while streaming ---------------------------------------------------

    def start(
        self, message_of: Callable[[], Message], on_frame: Callable[[], None] | None = None
    ) -> None:
        """Stream an answer; `message_of` gives it as folded so far (read at
        redraw); `on_frame` is called at each frame of its text."""
        self._message_of = message_of
        self.markdown.on_frame = on_frame

    def push(self, event: StreamEvent) -> None:
        """The turn's sink: queue, never render here."""
        if isinstance(event, TextDelta) and not self.structured:
            if text := self._drawable(event.text):
                self.markdown.write(self._safe.feed(text))
        elif isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta) and not self._stale:
            self._stale = True
            wait = self._drawn_at + REDRAW_INTERVAL - time.monotonic()
            if wait > 0:
                self._redraw_timer = self.set_timer(wait, self._redraw)
            else:
                self.call_later(self._redraw)

    def _drawable(self, text: str) -> str:
        """What of `text` is drawn: all of it, until DRAWN_CHARS; then a note, once."""
        room = DRAWN_CHARS - self._drawn_chars
        if len(text) <= room:
            self._drawn_chars += len(text)
            return text
        if room >= 0:
            self._drawn_chars = DRAWN_CHARS + 1
            note = (
                f"the answer goes on past {DRAWN_CHARS:,} characters: the app draws no more "
                "of it (all of it is kept in the history)"
            )
            self.mount(Static(note, classes="warning", markup=False), before=self.footer)
        return text[: max(room, 0)]

    def _redraw(self) -> None:
        self._redraw_timer = None
        self._drawn_at = time.monotonic()
        if self._stale and self._message_of is not None:
            self._stale = False
            message = self._message_of()
            self.show_reasoning(message.reasoning)
            self.show_tool_calls(message.tool_calls)
            if self.structured:
                self.show_structured(message.text)

    async def flush(self) -> None:
        """Draw what is still queued and the last block."""
        if held := self._safe.flush():
            self.markdown.write(held)
        await self.markdown.finish()

    # -- copying -------------------------------------------------------------

    def copy_text(self) -> str:
        """The answer's text as the server sent it (so far, while it streams),
        all of it: the app may draw less (DRAWN_CHARS). An answer that is only
        tool calls copies each call's name and arguments, a JSON object a line."""
        message = self.message
        if message is None and self._message_of is not None:
            message = self._message_of()
        if message is None:
            return self.markdown.source
        if message.text or not message.tool_calls:
            return message.text
        import json

        lines = []
        for call in message.tool_calls:
            # Arguments that are not valid JSON are copied as the text that came.
            arguments = call.arguments_raw if call.parse_error else call.arguments
            call_dict = {"name": call.name, "arguments": arguments}
            lines.append(json.dumps(call_dict, ensure_ascii=False))
        return "\n".join(lines)

    def code_blocks(self) -> list[CodeBlock]:
        """The answer's code blocks, numbered from 1 as they are labelled."""
        if self.structured:
            return []  # a JSON answer is drawn as JSON, not as Markdown
        text = self.copy_text()
        if self._code[0] != text:  # asked each time the key bar is drawn: parse once
            from ..markdown.fences import code_blocks

            self._code = (text, code_blocks(text))
        return self._code[1]

    # -- parts ---------------------------------------------------------------

    def show_reasoning(self, reasoning: str) -> None:
        if not reasoning:
            return
        thinking = self.query_one("#thinking", Collapsible)
        thinking.add_class("-shown")
        self.thinking_text.update(safe_text(drawn(reasoning, "thinking")))

    def show_structured(self, text: str, *, final: bool = False) -> None:
        if not text and not final:
            return
        if self.json_view is None:
            from .json_view import JsonView

            self.json_view = JsonView()
            self.mount(self.json_view, before=self.footer)
        self.json_view.show(drawn(text, "answer"), final=final and len(text) <= DRAWN_CHARS)

    def show_tool_calls(self, calls: list[ToolCall]) -> None:
        kept = {call.index for call in calls}
        for index in [i for i in self._tool_views if i not in kept]:
            self._tool_views.pop(index).remove()  # a fragment never named: dropped at the end
        for call in calls:
            view = self._tool_views.get(call.index)
            if view is None:
                from .tool_call_view import ToolCallView

                view = self._tool_views[call.index] = ToolCallView()
                self.mount(view, before=self.footer)
            view.show(call)

    def show_past(self, message: Message, metrics: Metrics | None, interrupted: bool) -> None:
        """An answer reopened from the history, drawn whole."""
        self.markdown.update(terminal_safe(message.text[:DRAWN_CHARS]))
        if metrics is None:  # the prompt's answer never started (the app closed first)
            self.display = False
            return
        self.finish(message, metrics)
        if interrupted and not message.error:  # a cut-off answer says so itself
            self.footer.update(
                f"{one_line(message.model or '?')} · interrupted: the app closed mid-answer · "
                f"{fmt.tokens(metrics)} received"
            )
            self.footer.set_class(True, "-stopped")

    def show_cost(self, cost: Cost) -> None:
        """The answer's price, once known (it is looked up after the answer ends)."""
        from ..prices import usd

        mark = "~" if cost.estimated else ""
        what = " (answer only)" if cost.output_only else ""
        line = f"{self.footer.render()} · {mark}{usd(cost.usd)}{what}"
        tip = f"cost: {mark}{usd(cost.usd)}{what} ({cost.source})"
        if cost.output_only:
            tip += "; the server did not count the prompt, so its price is not in it"
        if cost.saved_usd:
            line += f" · ~{usd(cost.saved_usd)} not spent"
            tip += f"; ~{usd(cost.saved_usd)} not spent: an estimate, not a bill"
        self.footer.update(line)
        self.footer.tooltip = f"{self.footer.tooltip}\n{tip}" if self.footer.tooltip else tip

    def finish(self, message: Message, metrics: Metrics) -> None:
        """Final footer; the thinking title says how long it was."""
        self.message = message
        self.metrics = metrics
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = None
        self._message_of = None
        if message.reasoning:
            self.show_reasoning(message.reasoning)
            thinking = self.query_one("#thinking", Collapsible)
            thinking.title = f"thinking ({len(message.reasoning.split())} words)"
        if message.tool_calls or self._tool_views:
            self.show_tool_calls(message.tool_calls)
        for warning in message.warnings:
            self.mount(Static(warning, classes="warning", markup=False), before=self.footer)
        if self.structured and (message.text or not message.tool_calls):
            self.show_structured(message.text, final=not message.cancelled and not message.error)
        nothing = not (message.text or message.reasoning or message.tool_calls)
        if message.error and not message.interrupted and nothing:
            self.display = False  # nothing arrived: the error block says it all
            return
        self.footer.update(one_line(fmt.summary(message, metrics)))  # the server names the model
        self.footer.tooltip = fmt.details(metrics)
        if message.interrupted and message.error:
            self.footer.tooltip = f"{message.error}\n{self.footer.tooltip}"
        self.footer.set_class(message.cancelled, "-stopped")
        self.footer.set_class(message.error is not None, "-failed")
