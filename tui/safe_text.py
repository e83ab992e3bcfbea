"""Server text is untrusted: it must never drive the terminal.

An answer, a reasoning summary, a tool call, a model name or an error body
can carry ESC sequences (clear the screen, OSC 52 writes to the clipboard,
set the title, hyperlinks), C1 controls (U+009B is a CSI on many terminals),
a backspace or a lone carriage return that overwrites what was shown, and
bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069) that make text
read in another order than it is ("Trojan Source"). Every path that puts
server text on a terminal - the app's widgets, `ask` on a tty, `history show`
and exports on a tty, stderr lines - goes through this module, the only place
that decides what is unsafe and how it is shown.

What is done with an unsafe character: it is *shown*, not dropped, as the
escape a programmer would write (`\\x1b`, `\\x9b`, `\\u202e`), dimmed where
the output has styles. Dropping would hide that the server sent something
odd, and can even change meaning ("rm -rf /\\rls"). A literal backslash in the
text is left as it is: the escape is for reading, not for round-tripping
(use a pipe, `--json` or an export file for the exact text).

Kept as they are: newline and tab (layout), CRLF (read as a newline: it is a
line ending, not an overwrite), and the bidi *marks* U+200E, U+200F and
U+061C, which only steer neutral characters next to them, cannot reorder a
run of text, and are common in right-to-left writing.

JSON written to a terminal is escaped differently: `\\uXXXX` inside strings,
so it stays valid JSON with the same value (`json.dumps` escapes C0 controls
itself, but with `ensure_ascii=False` lets DEL, C1 and bidi controls through).

Pipes and files get the exact text; the callers decide, this module only
transforms.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Embeddings, overrides, their pop, and the isolates: each can reorder what follows."""

_UNSAFE = re.compile("\r\n|[\x00-\x08\x0b-\x1f\x7f-\x9f" + BIDI_CONTROLS + "]")
"""CRLF first (kept as a newline), then C0 but tab and newline, DEL, C1, bidi controls."""

_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f" + BIDI_CONTROLS + "]")
"""What `json.dumps(..., ensure_ascii=False)` leaves raw that a terminal acts on."""


def shown(char: str) -> str:
    """The visible stand-in for one unsafe character: `\\x1b`, `\\x9b`, `\\u202e`."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _replace(match: re.Match[str]) -> str:
    found = match.group()
    return "\n" if found == "\r\n" else shown(found)


def is_safe(text: str) -> bool:
    """Whether `text` can reach a terminal unchanged."""
    return _UNSAFE.search(text) is None


def terminal_safe(text: str) -> str:
    """`text` with every unsafe character shown as an escape; newlines and tabs kept."""
    return _UNSAFE.sub(_replace, text)


def one_line(text: str) -> str:
    """A table cell, a title or a model name: `terminal_safe`, and whitespace
    (newlines, tabs) collapsed to single spaces."""
    return " ".join(terminal_safe(text).split())


def safe_text(text: str, style: str = "") -> Text:
    """`text` as Rich `Text` for a widget: the escapes of unsafe characters are
    dimmed so they read as "the server sent this", not as its words. Rich
    `Text` is never parsed as markup, so `[red]` in server text stays literal."""
    from rich.text import Text  # not at import: `ask` to a pipe never needs Rich

    result = Text(style=style)
    start = 0
    for match in _UNSAFE.finditer(text):
        result.append(text[start : match.start()])
        if match.group() == "\r\n":
            result.append("\n")
        else:
            result.append(shown(match.group()), style="dim")
        start = match.end()
    result.append(text[start:])
    return result


def terminal_json(dumped: str) -> str:
    """JSON text (from `json.dumps`) for a terminal: DEL, C1 and bidi controls
    written as `\\uXXXX`. They can only occur inside strings, where the escape
    means the same character, so the value a reader parses is unchanged."""
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)


class SafeStream:
    """`terminal_safe` for text that arrives in pieces (an answer's deltas).

    A piece may end with the CR of a CRLF whose LF starts the next piece: that
    CR is held until the next piece (or `flush`) says which it is, so the
    result is the same however the text was split.
    """

    def __init__(self) -> None:
        self._held_cr = False

    def feed(self, piece: str) -> str:
        if self._held_cr:
            piece = "\r" + piece
            self._held_cr = False
        if piece.endswith("\r"):
            piece = piece[:-1]
            self._held_cr = True
        return terminal_safe(piece)

    def flush(self) -> str:
        """What is still held: a lone CR at the very end, shown."""
        if not self._held_cr:
            return ""
        self._held_cr = False
        return shown("\r")
