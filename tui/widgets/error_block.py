"""A failed request, inline in the conversation."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..safe_text import safe_text


class ErrorBlock(Static):
    """The one-line message (which carries the fix) and how to retry."""

    DEFAULT_CSS = """
    ErrorBlock {
        border-left: outer $error;
        color: $text-error;
        background: $error-muted;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, message: str) -> None:
        text = Text()
        text.append("✖ ", style="bold")
        text.append_text(safe_text(message))
        text.append("\nCtrl+R retries · the prompt is back in the composer", style="dim")
        super().__init__(text, markup=False)
        self.message = message
