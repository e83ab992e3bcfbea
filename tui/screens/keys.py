"""F1: every key of the app, grouped by where it works.

The list is read from the bindings themselves (the app's, the chat screen's,
the prompt's, a message's, the conversation list's), so it cannot drift from
what the keys do; a binding's tooltip says when it applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import VerticalScroll
from textual.widgets import Static

from .panel import Panel

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


@dataclass(frozen=True)
class KeyRow:
    keys: str
    """As the key bar shows them ("^c", "alt+↑ ctrl+↑", "1-9")."""
    does: str
    when: str = ""


def key_groups(app: App, chat: Screen | None) -> list[tuple[str, list[KeyRow]]]:
    """(area, rows) for each place keys work, from the live bindings where the
    widget exists (keymaps applied) and from the classes otherwise."""
    from ..widgets.assistant_message import AssistantMessage
    from ..widgets.composer import Composer
    from ..widgets.history_panel import HistoryPanel
    from ..widgets.race_view import Lane, RaceView

    anywhere = _rows(app, app._bindings)
    listed = {binding.action for _, binding in app._bindings}
    if app.ENABLE_COMMAND_PALETTE and "command_palette" not in listed:
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        anywhere.append(KeyRow(app.get_key_display(palette), "Command palette"))
    groups = [("Anywhere", anywhere)]
    if chat is not None:
        groups.append(("Chat", _rows(app, chat._bindings)))
    message = AssistantMessage._merge_bindings()
    race = BindingsMap([*RaceView.BINDINGS, *Lane.BINDINGS])
    groups += [
        ("Prompt", _rows(app, BindingsMap(Composer.BINDINGS))),
        ("A focused message (Alt+Up from the prompt)", _rows(app, message)),
        ("Conversation list (Ctrl+B)", _rows(app, BindingsMap(HistoryPanel.BINDINGS))),
        ("A race, once over (Race models… in Ctrl+P; Alt+Up reaches it)", _rows(app, race)),
    ]
    return [(area, rows) for area, rows in groups if rows]


def _rows(app: App, bindings: BindingsMap) -> list[KeyRow]:
    """One row per action: its keys together; a group (1 to 9) as one row."""
    rows: dict[str, tuple[list[str], Binding]] = {}
    for _key, binding in bindings:
        if binding.system or not binding.description:
            continue
        label = binding.group.description if binding.group else binding.description
        name = f"{label}\0{binding.action if binding.group is None else ''}"
        keys, _ = rows.setdefault(name, ([], binding))
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    result = []
    for keys, binding in rows.values():
        if binding.group is not None and len(keys) > 2:
            keys = [f"{keys[0]}-{keys[-1]}"]
        label = binding.group.description if binding.group else binding.description
        result.append(KeyRow(" ".join(keys), label, binding.tooltip))
    return result


class KeysScreen(Panel):
    """Every binding, grouped; Esc, F1 or q closes it."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="keys.close")]

    def __init__(self, groups: Iterable[tuple[str, list[KeyRow]]]) -> None:
        super().__init__()
        self.groups = list(groups)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "Esc closes"
            for area, rows in self.groups:
                yield Static(area, classes="area", markup=False)
                yield Static(_table(rows))


def _table(rows: list[KeyRow]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=14)
    table.add_column()
    for row in rows:
        does = Text(row.does)
        if row.when:
            does.append(f" — {row.when}", style="dim")
        table.add_row(Text(row.keys), does)
    return table
