"""Small single-purpose blocks of the conversation: the user's turn, an error,
and the "new output below" hint."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..safe_text import terminal_safe


class UserMessage(Static):
    DEFAULT_CSS = """
    UserMessage {
        background: $boost;
        border-left: outer $primary;
        padding: 0 1;
        margin: 1 0 1 0;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(Text(terminal_safe(text)), markup=False)
        self.text = text


class ErrorBlock(Static):
    """A failed request: the one-line message (which carries the fix) and how to retry."""

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
        text.append(terminal_safe(message))
        text.append("\nCtrl+R retries · the prompt is back in the composer", style="dim")
        super().__init__(text, markup=False)
        self.message = message


class NewOutputHint(Static):
    """Shown while the user reads above and the answer keeps growing below."""

    DEFAULT_CSS = """
    NewOutputHint {
        display: none;
        width: 100%;
        content-align: center middle;
        background: $accent-muted;
        color: $text-accent;
        &.-shown { display: block; }
    }
    """

    def __init__(self) -> None:
        super().__init__("↓ new output (End to follow)", markup=False, id="new-output")
