"""The conversation list: newest first, filtered by what they contain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from ..safe_text import one_line
from ..store import ConversationRow


class HistoryPanel(Vertical):
    """Ctrl+B shows it; typing searches, Enter opens a conversation, F2 renames,
    Delete deletes. No letter is a command here: any word typed, on the list
    too, goes into the search (a `d` then a `y` once deleted a conversation)."""

    BINDINGS = [
        Binding("f2", "rename", "Rename", id="history.rename"),
        Binding("delete", "delete", "Delete", id="history.delete"),
        Binding("escape", "close", "Close", id="history.close"),
    ]

    MOVES = {
        "up": "cursor_up",
        "down": "cursor_down",
        "pageup": "page_up",
        "pagedown": "page_down",
    }
    """Keys typed in the search box that move the list's highlight instead."""

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
        # Not selected on focus: a character typed on the list is put in first.
        yield Input(placeholder="Search history…", id="history-search", select_on_focus=False)
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
        self.focus_list()

    def focus_list(self) -> None:
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
    def _open_highlighted(self, event: Input.Submitted) -> None:
        event.stop()
        row = self._current()
        if row is not None:
            self.post_message(self.Chosen(row.id))

    def on_key(self, event: events.Key) -> None:
        """A character typed on the list goes into the search; arrows typed in
        the search move the list's highlight (as in the command palette)."""
        search = self.query_one("#history-search", Input)
        listing = self.query_one(OptionList)
        if listing.has_focus and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            search.focus()
            search.insert_text_at_cursor(event.character)
        elif search.has_focus and event.key in self.MOVES:
            event.stop()
            event.prevent_default()
            getattr(listing, f"action_{self.MOVES[event.key]}")()

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
