"""The conversation list: newest first, filtered by what they contain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from ..safe_text import one_line
from ..store import ConversationRow


class HistoryPanel(Vertical):
    """Ctrl+B shows it; Enter opens a conversation, R renames, Delete deletes."""

    BINDINGS = [
        Binding("r", "rename", "Rename", id="history.rename"),
        Binding("delete,d", "delete", "Delete", id="history.delete"),
        Binding("escape", "close", "Close", id="history.close"),
    ]

    DEFAULT_CSS = """
    HistoryPanel {
        dock: left;
        width: 44;
        height: 1fr;
        margin: 1 0 1 0;  /* between the title bar and the key bar */
        display: none;
        border-right: vkey $border-blurred;
        background: $surface;
        &.-open { display: block; }
        & > Input { margin: 0 0 1 0; }
        & > OptionList { height: 1fr; border: none; background: $surface; }
    }
    """

    @dataclass
    class Chosen(Message):
        """Open this conversation."""

        conversation_id: int

    @dataclass
    class Searched(Message):
        text: str

    @dataclass
    class RenameAsked(Message):
        conversation_id: int
        title: str

    @dataclass
    class DeleteAsked(Message):
        conversation_id: int
        title: str

    class Closed(Message):
        pass

    def __init__(self) -> None:
        super().__init__(id="history")
        self._rows: dict[str, ConversationRow] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search history…", id="history-search")
        yield OptionList(id="history-list")

    @property
    def search_text(self) -> str:
        return self.query_one("#history-search", Input).value.strip()

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, rows: list[ConversationRow]) -> None:
        self.add_class("-open")
        self.show(rows)
        self.query_one(OptionList).focus()

    def close(self) -> None:
        self.remove_class("-open")

    def show(self, rows: list[ConversationRow]) -> None:
        listing = self.query_one(OptionList)
        listing.clear_options()
        self._rows = {str(row.id): row for row in rows}
        listing.add_options([Option(_label(row), id=str(row.id)) for row in rows])
        if rows:
            listing.highlighted = 0

    def _current(self) -> ConversationRow | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return None
        option = listing.get_option_at_index(listing.highlighted)
        return self._rows.get(option.id or "")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        row = self._rows.get(event.option.id or "")
        if row is not None:
            self.post_message(self.Chosen(row.id))

    @on(Input.Changed, "#history-search")
    def _searched(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Searched(event.value))

    @on(Input.Submitted, "#history-search")
    def _to_list(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(OptionList).focus()

    def action_rename(self) -> None:
        row = self._current()
        if row is not None:
            self.post_message(self.RenameAsked(row.id, row.title or ""))

    def action_delete(self) -> None:
        row = self._current()
        if row is not None:
            self.post_message(self.DeleteAsked(row.id, row.title or "(untitled)"))

    def action_close(self) -> None:
        self.post_message(self.Closed())


def _label(row: ConversationRow) -> Text:
    """Title on the first line; model, date and size dimmed on the second."""
    title = one_line(row.title or "(untitled)")
    try:
        when = datetime.fromisoformat(row.updated_at).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        when = row.updated_at[:16]
    label = Text(title[:40], no_wrap=True, overflow="ellipsis")
    label.append(f"\n{one_line(row.model or '-')} · {when} · {row.message_count}", style="dim")
    return label
