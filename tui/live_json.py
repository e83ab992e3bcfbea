"""Structured output in `tokentide ask`: a JSON value that grows as it streams.

To a terminal, the value parsed so far (jiter's partial mode, so a string
grows character by character) is redrawn in place, pretty-printed, at most
`FPS` times a second; at the end it is replaced by the strict parse, printed
once into scrollback. To a pipe nothing is written until the end, and then
the answer exactly as the server sent it, once it has parsed strictly: a
script reading stdout never sees half an object. When the final text does
not parse, the raw text is still printed, never a partial value passed off
as the answer, and the caller reports the error.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TextIO

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.live import Live
from rich.text import Text

from tokentide.client.accumulate import Parts, parse_final, parse_partial

from .safe_text import terminal_json, terminal_safe

FPS = 10


class LiveJson:
    """Feed it the answer's text; `finish()` returns the parse error, if any."""

    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self._out = out
        self._tty = tty
        self._text = Parts()
        self._live: Live | None = None
        self._due: asyncio.TimerHandle | None = None
        self._drawn_at = 0.0
        if tty:
            console = Console(file=out, force_terminal=True, highlight=False, markup=False)
            self._live = Live(
                console=console, auto_refresh=False, transient=True, vertical_overflow="crop"
            )
            self._live.start()

    @property
    def text(self) -> str:
        return self._text.value()

    def write(self, piece: str) -> None:
        self._text.add(piece)
        if self._live is not None and self._due is None:
            wait = self._drawn_at + 1 / FPS - time.monotonic()
            self._due = asyncio.get_running_loop().call_later(max(0.0, wait), self._draw)

    def _draw(self) -> None:
        self._due = None
        self._drawn_at = time.monotonic()
        value = parse_partial(self.text)
        if self._live is not None and value is not None:
            self._live.update(_pretty(value), refresh=True)

    def finish(self, *, complete: bool) -> tuple[Any, str | None]:
        """Stop drawing; print the final value. Returns (value, error): the
        strict parse, or (None, why it is not valid JSON)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        text = self.text
        value, error = parse_final(text) if text.strip() else (None, "the answer is empty")
        if self._live is not None:
            self._live.stop()
            if error is None:
                self._live.console.print(_pretty(value))
            elif text:
                self._out.write(terminal_safe(text) + "\n")
        elif text or complete:
            self._out.write(text.strip() + "\n" if error is None else text)
        self._out.flush()
        return value, error


def _pretty(value: Any) -> Text:
    """Indented, coloured JSON; `json.dumps` escapes C0 controls and
    `terminal_json` the rest (DEL, C1, bidi), so a server's text cannot drive
    the terminal and what is shown is still the same JSON value. (Rich's `JSON`
    would parse the text again and undo the escapes.)"""
    text = JSONHighlighter()(terminal_json(json.dumps(value, ensure_ascii=False, indent=2)))
    text.no_wrap = True
    text.overflow = None
    return text
