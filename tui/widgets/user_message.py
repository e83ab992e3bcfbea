"""The user's turn, as sent."""

from __future__ import annotations

from textual.widgets import Static

from ..safe_text import safe_text
from .message_actions import MESSAGE_BINDINGS, MessageKeys


class UserMessage(MessageKeys, Static):
    BINDINGS = MESSAGE_BINDINGS

    DEFAULT_CSS = """
    UserMessage {
        background: $boost;
        border-left: outer $primary;
        padding: 0 1;
        margin: 1 0 1 0;
        &:focus { border-left: outer $accent; background: $accent 20%; }
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(safe_text(text), markup=False)
        self.text = text

    def copy_text(self) -> str:
        """The prompt exactly as it was sent."""
        return self.text
