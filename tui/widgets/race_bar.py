"""The line above the prompt while a race is set up, running, or waiting for
a lane to be kept: what the next Enter does and how to back out."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class RaceBar(Static):
    DEFAULT_CSS = """
    RaceBar {
        display: none;
        height: auto;
        margin: 0 1;
        padding: 0 1;
        color: $text-warning;
        background: $warning-muted;
        &.-shown { display: block; }
    }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False, id="race-bar")

    def say(self, line: str | None) -> None:
        """Show `line` (built from model names: never markup), or hide the bar."""
        self.set_class(line is not None, "-shown")
        if line is not None:
            self.update(Text(line))
