"""The user's turn, as sent."""

from __future__ import annotations

from textual.widgets import Static

from ..safe_text import safe_text


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
        super().__init__(safe_text(text), markup=False)
        self.text = text
