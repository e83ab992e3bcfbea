"""Fenced code, highlighted by Pygments and drawn as lines of segments.

Rich's `Syntax` costs about 14 µs a character (a 73 KB fence: 1 s); lexing
alone costs 2.2 µs, so tokens are turned into segments here directly. While
a fence is still open each completed line is lexed on its own, once (a
multi-line string or comment may be coloured as code for a moment); when the
fence closes it is lexed whole, which is what a one-shot render shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style

if TYPE_CHECKING:
    from pygments.lexer import Lexer
    from pygments.token import _TokenType

Line = list[Segment]
TokenLine = list[tuple["_TokenType", str]]


@dataclass(frozen=True)
class CodeLook:
    """How code is drawn: a Pygments style's colours on a background of the app's."""

    theme: str  # a Pygments style name
    background: Style

    @property
    def styles(self) -> _TokenStyles:
        return _token_styles(self.theme, self.background)


def fence_parts(source: str) -> tuple[str, str]:
    """(language, code) of a fenced block's source, closing fence removed if present."""
    lines = source.split("\n")
    opener = lines[0].lstrip(" ")
    marker = opener[0] * (len(opener) - len(opener.lstrip(opener[0])))
    language = opener[len(marker) :].strip().split(" ")[0].split("{")[0]
    body = lines[1:]
    if body and body[-1].strip(" ").startswith(marker) and not body[-1].strip(" ").strip(marker[0]):
        body = body[:-1]
    return language, "\n".join(body)


def lex(code: str, language: str) -> list[TokenLine]:
    """Tokens of `code`, lexed whole, one list per line."""
    lines: list[TokenLine] = [[]]
    for token, text in _lexer(language).get_tokens(code):
        first, *rest = text.split("\n")
        if first:
            lines[-1].append((token, first))
        for piece in rest:
            lines.append([(token, piece)] if piece else [])
    if len(lines) > 1 and not lines[-1]:
        lines.pop()  # Pygments ends the text with a newline of its own
    return lines


def lex_line(line: str, language: str) -> TokenLine:
    """Tokens of one line lexed on its own (a fence still streaming)."""
    return lex(line, language)[0] if line else []


def draw(lines: Iterable[TokenLine], width: int, look: CodeLook) -> list[Line]:
    """Token lines as segment lines `width` cells wide: one cell of padding each
    side, long lines folded, the background carried to the edge."""
    styles = look.styles
    background = look.background
    inner = max(1, width - 2)
    drawn: list[Line] = []
    for tokens in lines:
        segments = [Segment(text, styles(token)) for token, text in tokens if text]
        for piece in _fold(segments, inner):
            used = sum(cell_len(segment.text) for segment in piece)
            drawn.append(
                [
                    Segment(" ", background),
                    *piece,
                    Segment(" " * (inner - used + 1), background),
                ]
            )
    return drawn


PAD = "tokentide.code_pad"
"""Style meta on a code block's padding lines: the app finds each block's top
line by it and labels the block with its number (widgets/markdown_view.py)."""


def blank(width: int, look: CodeLook) -> Line:
    """A padding line of the code block's background (marked as one, by `PAD`)."""
    return [Segment(" " * width, _pad_style(look.background))]


@cache
def _pad_style(background: Style) -> Style:
    return background + Style.from_meta({PAD: True})


def _fold(segments: Line, width: int) -> list[Line]:
    """Cut a line of segments into pieces of at most `width` cells."""
    if sum(cell_len(segment.text) for segment in segments) <= width:
        return [segments]
    pieces: list[Line] = [[]]
    room = width
    for segment in segments:
        text, style = segment.text, segment.style
        while text:
            if room == 0:
                pieces.append([])
                room = width
            head, text = _take_cells(text, room)
            if not head:  # a wide character that does not fit: next line
                room = 0
                continue
            pieces[-1].append(Segment(head, style))
            room -= cell_len(head)
    return pieces


def _take_cells(text: str, cells: int) -> tuple[str, str]:
    """The longest head of `text` at most `cells` wide, and the rest."""
    if cell_len(text) <= cells:
        return text, ""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[:index], text[index:]
    return text, ""


class _TokenStyles:
    """Rich style for a Pygments token type, by walking up to its parent types."""

    def __init__(self, theme: str, background: Style) -> None:
        from pygments.styles import get_style_by_name
        from pygments.util import ClassNotFound

        try:
            style = get_style_by_name(theme)
        except ClassNotFound:
            style = get_style_by_name("monokai")
        self._pygments = style
        self._background = background
        self._cache: dict[_TokenType, Style] = {}

    def __call__(self, token: _TokenType) -> Style:
        cached = self._cache.get(token)
        if cached is None:
            cached = self._cache[token] = self._background + self._style(token)
        return cached

    def _style(self, token: _TokenType) -> Style:
        while not self._pygments.styles_token(token) and token.parent is not None:
            token = token.parent
        spec = self._pygments.style_for_token(token)
        color = spec.get("color")
        return Style(
            color=f"#{color}" if color else None,
            bold=spec.get("bold") or None,
            italic=spec.get("italic") or None,
            underline=spec.get("underline") or None,
        )


@cache
def _token_styles(theme: str, background: Style) -> _TokenStyles:
    return _TokenStyles(theme, background)


_built: set[str] = set()
"""Languages whose lexer `_lexer` has built (its cache cannot be asked)."""
_building: set[str] = set()


def lexer_ready(language: str) -> bool:
    """Whether `language`'s lexer is built; if not, it is built in a thread.

    Building a Pygments lexer compiles its regular expressions: 50-100 ms for
    Python or SQL, the first time a language is seen. On the app's event loop
    that freezes the screen mid-answer; the app draws such a fence plain until
    its lexer is ready.
    """
    if language in _built:
        return True
    if language not in _building:
        import threading

        _building.add(language)
        # Not a daemon: waited for at exit, not torn down mid-import (see warm_up).
        threading.Thread(target=_lexer, args=(language,), name="tokentide-lexer").start()
    return False


@cache
def _lexer(language: str) -> Lexer:
    """The Pygments lexer for a fence's language; plain text when unknown."""
    lexer = _find_lexer(language)
    _built.add(language)
    return lexer


def _find_lexer(language: str) -> Lexer:
    from pygments.lexers import get_lexer_by_name
    from pygments.lexers.special import TextLexer
    from pygments.util import ClassNotFound

    if language:
        try:
            return get_lexer_by_name(language, stripnl=False, ensurenl=True)
        except ClassNotFound:
            pass
    return TextLexer(stripnl=False, ensurenl=True)
