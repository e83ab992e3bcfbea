"""The "new output below" hint."""

from __future__ import annotations

from textual.widgets import Static


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
        super().__init__("↓ new output · End follows", markup=False, id="new-output")

    def count(self, lines: int) -> None:
        """How much arrived below since the reader scrolled up: a number that
        grows says the answer goes on; End (Ctrl+End while typing) follows."""
        self.update(f"↓ {lines} new line{'s' if lines != 1 else ''} · End follows")
