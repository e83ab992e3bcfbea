"""At the top of a long reopened conversation: how many messages are not shown."""

from __future__ import annotations

from textual.widgets import Static

from ..format import count


class EarlierHint(Static):
    DEFAULT_CSS = """
    EarlierHint {
        width: 100%;
        content-align: center middle;
        color: $text-muted;
        margin: 1 0 0 0;
    }
    """

    def __init__(self, hidden: int) -> None:
        super().__init__("", markup=False)
        self.count(hidden)

    def count(self, hidden: int) -> None:
        self.hidden = hidden
        self.update(f"▲ {count(hidden, 'earlier message')} · Ctrl+U or a click shows more")

    async def on_click(self) -> None:
        await self.screen.run_action("load_earlier")
