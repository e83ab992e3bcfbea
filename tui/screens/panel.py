"""A read-only panel over the chat: the keys (F1), the stats and an answer's
details share its box, its section headings and its muted notes; each says
only how wide it is and what else it draws."""

from __future__ import annotations

from textual.screen import ModalScreen


class Panel(ModalScreen[None]):
    """A scrolling box in the middle of the screen, 90 cells wide unless the
    subclass's CSS sets its `VerticalScroll` another width."""

    DEFAULT_CSS = """
    Panel {
        align: center middle;
        & > VerticalScroll {
            width: 90;
            max-width: 100%;
            height: auto;
            max-height: 90%;
            padding: 0 2;
            border: thick $primary;
            background: $surface;
        }
        & .area { margin: 1 0 0 0; color: $text-primary; text-style: bold; }
        & .note { color: $text-muted; }
    }
    """
