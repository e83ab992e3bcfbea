"""`‹ 2/3 ›` under an answer (or a prompt) that has alternatives: the answer's
regenerations, or the prompt's edits. On the focused message ← and → switch
between them (the chat screen's keys); this only says where you are."""

from __future__ import annotations

from textual.widgets import Static


def label(which: int, count: int) -> str:
    """`‹ 2/3 ›`, with the keys that switch."""
    return f"‹ {which}/{count} ›  ←/→ on it switches"


class Alternatives(Static):
    """Mounted in an answer, under its footer, once it has an alternative."""

    DEFAULT_CSS = """
    Alternatives {
        color: $text-muted;
        padding: 0 1;
        height: 1;
    }
    """

    def __init__(self, which: int, count: int) -> None:
        super().__init__(label(which, count), markup=False)
        self.which = which
        self.count = count

    def show(self, which: int, count: int) -> None:
        if (which, count) != (self.which, self.count):
            self.which, self.count = which, count
            self.update(label(which, count))
