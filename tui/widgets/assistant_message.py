"""One assistant answer: thinking, tool calls, the Markdown body, and a footer."""

from __future__ import annotations

import json

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static

from tokentide.client.accumulate import arguments_so_far
from tokentide.client.events import Message, ToolCall
from tokentide.client.meter import Metrics

from .. import format as fmt
from ..safe_text import terminal_safe
from .markdown_feed import MarkdownFeed


class ToolCallView(Static):
    """`⚙ name` and the arguments as they parse, pretty-printed."""

    DEFAULT_CSS = """
    ToolCallView {
        border-left: outer $accent;
        padding: 0 1;
        margin: 0 0 1 0;
        color: $text-muted;
    }
    """

    def show(self, call: ToolCall) -> None:
        text = Text()
        text.append("⚙ ", style="bold")
        text.append(terminal_safe(call.name or "…"), style="bold")
        arguments = arguments_so_far(call)
        if arguments is not None:
            body = json.dumps(arguments, indent=2, ensure_ascii=False)
        else:
            body = call.arguments_raw
        if body:
            text.append("\n")
            text.append(terminal_safe(body))
        if call.parse_error:
            text.append(f"\n{terminal_safe(call.parse_error)}", style="italic")
        self.update(text)


class AssistantMessage(Vertical):
    """Built to be filled while streaming; every part is created on demand."""

    DEFAULT_CSS = """
    AssistantMessage {
        height: auto;
        margin: 0 0 1 0;
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
        & > Markdown { margin: 0; padding: 0 1; }
        & > .footer { color: $text-muted; padding: 0 1; }
        & > .footer.-stopped { color: $warning; }
        & > .footer.-failed { color: $error; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.markdown = Markdown(open_links=False)
        self.thinking_text = Static("", markup=False)
        self.footer = Static("", classes="footer", markup=False)
        self._tool_views: dict[int, ToolCallView] = {}

    def compose(self) -> ComposeResult:
        with Collapsible(title="thinking…", collapsed=True, id="thinking"):
            yield self.thinking_text
        yield self.markdown
        yield self.footer

    def feed(self) -> MarkdownFeed:
        return MarkdownFeed(self.markdown)

    @on(Markdown.LinkClicked)
    def _open_link(self, event: Markdown.LinkClicked) -> None:
        """Links come from the model: open only web and mail links."""
        event.stop()
        href = event.href.strip()
        if href.lower().startswith(("https://", "http://", "mailto:")):
            self.app.open_url(href)
        else:
            self.notify(f"not opening {href[:80]!r}: only http(s) and mailto links", markup=False)

    def show_reasoning(self, reasoning: str) -> None:
        if not reasoning:
            return
        thinking = self.query_one("#thinking", Collapsible)
        thinking.add_class("-shown")
        self.thinking_text.update(Text(terminal_safe(reasoning)))

    def show_tool_calls(self, calls: list[ToolCall]) -> None:
        for call in calls:
            view = self._tool_views.get(call.index)
            if view is None:
                view = self._tool_views[call.index] = ToolCallView()
                self.mount(view, before=self.footer)
            view.show(call)

    def finish(self, message: Message, metrics: Metrics) -> None:
        """Final footer; the thinking title says how long it was."""
        if message.reasoning:
            self.show_reasoning(message.reasoning)
            thinking = self.query_one("#thinking", Collapsible)
            thinking.title = f"thinking ({len(message.reasoning.split())} words)"
        if message.tool_calls:
            self.show_tool_calls(message.tool_calls)
        if message.error and not (message.text or message.reasoning or message.tool_calls):
            self.display = False  # nothing arrived: the error block says it all
            return
        self.footer.update(fmt.summary(message, metrics))
        self.footer.tooltip = fmt.details(metrics)
        self.footer.set_class(message.cancelled, "-stopped")
        self.footer.set_class(message.error is not None, "-failed")
