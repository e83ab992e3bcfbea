"""One tool call, drawn as its arguments parse."""

from __future__ import annotations

import json

from rich.text import Text
from textual.widgets import Static

from tokentide.client.accumulate import arguments_so_far
from tokentide.client.events import ToolCall

from ..safe_text import safe_text, terminal_json
from .drawn import DRAWN_CHARS, drawn


class ToolCallView(Static):
    """`⚙ name` and the arguments as they parse, pretty-printed; at the end,
    arguments that are not valid JSON are shown as sent, with why."""

    DEFAULT_CSS = """
    ToolCallView {
        border-left: outer $accent;
        padding: 0 1;
        margin: 0 0 1 0;
        color: $text-muted;
    }
    ToolCallView.-invalid { border-left: outer $error; }
    """

    def show(self, call: ToolCall) -> None:
        text = Text()
        text.append("⚙ ", style="bold")
        text.append_text(safe_text(call.name or "…", style="bold"))
        # Arguments beyond what a screen can use are not parsed (a parse per
        # redraw of megabytes would stall the app): shown raw, cut short.
        huge = len(call.arguments_raw) > DRAWN_CHARS
        arguments = None if huge else arguments_so_far(call)
        if huge:
            body = drawn(call.arguments_raw, "arguments text")
        elif arguments is not None:
            body = terminal_json(json.dumps(arguments, indent=2, ensure_ascii=False))
        else:
            body = call.arguments_raw
        if body:
            text.append("\n")
            text.append_text(safe_text(body))
        if call.parse_error:
            text.append("\n")
            text.append_text(safe_text(call.parse_error, style="italic"))
        # Arguments that are not JSON are shown raw (they have no value) and marked.
        self.set_class(call.parse_error is not None, "-invalid")
        self.update(text)
