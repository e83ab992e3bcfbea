"""`tokentide ask` to a terminal: the answer as Markdown, live, in scrollback.

Lines that can no longer change are printed once and left in the terminal's
scrollback: finished blocks, and the finished lines of an open code fence.
Only what is still open (the paragraph being written, the fence's last line)
is redrawn, in place, at most `FPS` times a second. A live block taller than
the screen cannot be redrawn in place; it is then printed when it is done.
No Textual here: `ask` starts fast.
"""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from rich.console import Console
from rich.segment import Segment

from .markdown.document import LiveDocument
from .markdown.render import BlockRenderer, render_console

FPS = 20
"""Terminals redraw slower than a Textual screen; 20 redraws a second look live."""


class TerminalMarkdown:
    """Write text as it arrives; `finish()` (or `stop()`) at the end."""

    def __init__(self, out: TextIO, *, width: int, height: int) -> None:
        self._out = out
        self._rows = max(3, height)
        console = render_console()
        self._ansi = Console(
            file=out, force_terminal=True, width=width, highlight=False, markup=False, emoji=False
        )
        self._document = LiveDocument(BlockRenderer(console=console), width, redraw_fences=False)
        self._printed = 0  # lines of the document committed to scrollback
        self._live = 0  # lines drawn below them that the next frame replaces
        self._pending: list[str] = []
        self._due: asyncio.TimerHandle | None = None
        self._last = 0.0

    def write(self, text: str) -> None:
        self._pending.append(text)
        if self._due is None:
            wait = self._last + 1 / FPS - time.monotonic()
            self._due = asyncio.get_running_loop().call_later(max(0.0, wait), self._frame)

    def finish(self) -> None:
        """Everything, as a one-shot render would show it."""
        self._cancel()
        self._document.feed(self._take())
        self._document.finish()
        self._draw(final=True)

    def stop(self) -> None:
        """Stopped mid-answer: what arrived stays on screen as it is."""
        self._cancel()
        self._document.feed(self._take())
        self._draw(final=True)

    def _take(self) -> str:
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def _cancel(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None

    def _frame(self) -> None:
        self._due = None
        self._last = time.monotonic()
        self._document.feed(self._take())
        self._draw(final=False)

    def _draw(self, *, final: bool) -> None:
        document = self._document
        stable = document.height if final else document.stable_height
        live_end = document.height if not final else stable
        committed = [document.line(y) for y in range(self._printed, stable)]
        live = [document.line(y) for y in range(stable, live_end)]
        if len(live) >= self._rows - 1:
            live = []  # taller than the screen: printed once it is done
        self._emit([*committed, *live])
        self._printed = max(self._printed, stable)
        self._live = len(live)

    def _emit(self, lines: list[list[Segment]]) -> None:
        """Over the live lines of the last frame, in one write. Each line is
        cleared to its end rather than the screen below (tmux keeps what an
        erase-below at the top of the screen removes in its scrollback)."""
        with self._ansi.capture() as captured:
            for line in lines:
                self._ansi.print(_Line(line), crop=False, soft_wrap=True)
        text = captured.get().replace("\n", "\x1b[K\n")
        old = self._live
        if old:
            text = f"\r\x1b[{old}A" + text
        if len(lines) < old:  # the live part got shorter: blank what is left below
            extra = old - len(lines)
            text += "\x1b[K\n" * extra + f"\x1b[{extra}A"
        if text:
            self._out.write(text)
            self._out.flush()


class _Line:
    """One drawn line as a Rich renderable (its segments as they are)."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments

    def __rich_console__(self, console: Console, options: object):
        yield from self.segments
        yield Segment.line()


def terminal_size(out: TextIO) -> tuple[int, int]:
    """Columns to draw in (one short of the edge) and lines, for `out`.

    `COLUMNS` / `LINES` come first, as `shutil.get_terminal_size` reads them;
    then the terminal's own size; then 80x24 where a terminal reports 0 (some
    containers and serial consoles do), not a 20-column answer."""
    import os

    def env(name: str) -> int:
        try:
            return max(0, int(os.environ.get(name, "")))
        except ValueError:
            return 0

    columns, lines = env("COLUMNS"), env("LINES")
    if not (columns and lines):
        try:
            size = os.get_terminal_size(out.fileno())
        except (OSError, ValueError, AttributeError):
            size = os.terminal_size((0, 0))
        columns = columns or size.columns or 80
        lines = lines or size.lines or 24
    return max(20, columns - 1), lines
