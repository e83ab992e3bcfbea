"""Small modal questions: a yes/no confirmation, and a new title."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..safe_text import one_line, terminal_safe


class Confirm(ModalScreen[bool]):
    """`question`, answered with Y (yes) or N / Esc (no): Enter, typed on from a
    list, must not delete anything."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 60; height: auto; padding: 1 2;
        border: thick $error; background: $surface;
    }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = terminal_safe(question)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            yield Label("y: yes · n: no", classes="dim", markup=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Rename(ModalScreen[str | None]):
    """A new title: Enter keeps it, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    Rename { align: center middle; }
    Rename > Vertical {
        width: 60; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_now = one_line(title)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New title (Enter saves, Esc cancels)", markup=False)
            yield Input(self.title_now, id="title")

    @on(Input.Submitted)
    def _save(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
