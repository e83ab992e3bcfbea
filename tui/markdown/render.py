"""One Markdown block -> lines of Rich segments, in the app's colours.

Each block is parsed alone (markdown-it, shared parser) and drawn from its
tokens: inline text through Rich `Text` (wrapping, wide characters), tables
through Rich `Table`, code through `code.py`. Model text is data: nothing in
it is read as Rich markup, and only web and mail links become links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from . import code
from .blocks import Block, parser

if TYPE_CHECKING:
    from markdown_it.token import Token

Line = list[Segment]

SAFE_LINKS = ("https://", "http://", "mailto:")

ITEMS_KEPT = 256
"""List items' lines kept by a renderer (see `_item`), the oldest dropped first."""


@dataclass(frozen=True)
class Palette:
    """Rich styles for each element, taken from the app's theme variables."""

    headings: tuple[Style, ...] = (
        Style(bold=True),
        Style(underline=True),
        Style(bold=True),
        Style(bold=True, underline=True),
        Style(bold=True),
        Style(bold=True, dim=True),
    )
    code_inline: Style = field(default_factory=lambda: Style(bgcolor="#2a2a2a", color="#e6db74"))
    link: Style = field(default_factory=lambda: Style(underline=True, color="#57a5e2"))
    quote: Style = field(default_factory=lambda: Style(color="#57a5e2"))
    bullet: Style = field(default_factory=lambda: Style(color="#fea62b"))
    rule: Style = field(default_factory=lambda: Style(dim=True))
    table_header: Style = field(default_factory=lambda: Style(bold=True))
    code: code.CodeLook = field(
        default_factory=lambda: code.CodeLook("monokai", Style(bgcolor="#1e1e1e"))
    )

    @classmethod
    def from_theme(cls, variables: Mapping[str, str], dark: bool) -> Palette:
        """The theme's Markdown heading colours, accent, primary and surface."""

        from textual.color import Color, ColorParseError

        try:
            ground = Color.parse(variables.get("background", "#121212"))
        except ColorParseError:
            ground = Color(18, 18, 18)

        def color(name: str, fallback: str) -> str:
            """As a plain hex colour: Rich takes no alpha, so it is blended in."""
            try:
                return (ground + Color.parse(variables.get(name, ""))).hex6
            except ColorParseError:
                return fallback

        headings = tuple(
            _style(
                color(f"markdown-h{n}-color", "#0178d4"),
                variables.get(f"markdown-h{n}-text-style", "bold"),
            )
            for n in range(1, 7)
        )
        surface = color("surface-lighten-1" if dark else "surface-darken-1", "#2d2d2d")
        code_ground = color("surface" if dark else "surface-darken-1", "#1e1e1e")
        return cls(
            headings=headings,
            code_inline=Style(color=color("text-accent", "#ffc473"), bgcolor=surface),
            link=Style(color=color("text-primary", "#57a5e2"), underline=True),
            quote=Style(color=color("text-secondary", "#5684a5")),
            bullet=Style(color=color("text-accent", "#ffc473"), bold=True),
            table_header=Style(bold=True, color=color("text-primary", "#57a5e2")),
            # A theme may name its code style and ground (themes/__init__.py).
            code=code.CodeLook(
                variables.get("tokentide-code-theme") or ("monokai" if dark else "friendly"),
                Style(bgcolor=color("tokentide-code-background", code_ground)),
            ),
        )


def _style(color: str, text_style: str) -> Style:
    words = {word for word in text_style.split() if word != "none"}
    return Style(
        color=color,
        bold="bold" in words or None,
        italic="italic" in words or None,
        underline="underline" in words or None,
        reverse="reverse" in words or None,
    )


def render_console() -> Console:
    """A console that only lays text out (nothing is written to it)."""
    import io

    return Console(
        file=io.StringIO(),
        width=80,
        color_system="truecolor",
        force_terminal=True,
        legacy_windows=False,
        emoji=False,
        markup=False,
        highlight=False,
    )


class BlockRenderer:
    """Draws blocks at a width; holds the console and the palette."""

    def __init__(self, palette: Palette | None = None, console: Console | None = None) -> None:
        self.palette = palette or Palette()
        self.console = console or render_console()
        self._items: dict[tuple, list[Line]] = {}

    def block(self, block: Block, width: int) -> list[Line]:
        """All the lines of one finished block."""
        if block.fence:
            language, source = code.fence_parts(block.source)
            return self.code_block(code.lex(source, language), width)
        return self._tokens(parser().parse(block.source + "\n"), width)

    def code_block(self, lines: list[code.TokenLine], width: int) -> list[Line]:
        look = self.palette.code
        return [code.blank(width, look), *code.draw(lines, width, look), code.blank(width, look)]

    # -- block tokens ------------------------------------------------------

    def _tokens(self, tokens: list[Token], width: int) -> list[Line]:
        """Lines for a run of sibling block tokens, a blank line between blocks."""
        out: list[Line] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            end = _close_of(tokens, index)
            lines = self._element(tokens, index, end, width)
            if lines is not None:
                if out and not token.hidden:
                    out.append([])
                out.extend(lines)
            index = end + 1
        return out

    def _element(self, tokens: list[Token], start: int, end: int, width: int) -> list[Line] | None:
        token = tokens[start]
        kind = token.type
        if kind == "paragraph_open":
            return self._text(self._inline(tokens[start + 1]), width)
        if kind == "heading_open":
            level = int(token.tag[1:])
            text = self._inline(tokens[start + 1])
            text.stylize(self.palette.headings[min(level, 6) - 1])
            if level == 1:
                text.justify = "center"
            return self._text(text, width)
        if kind in ("bullet_list_open", "ordered_list_open"):
            return self._list(
                tokens[start + 1 : end],
                width,
                ordered=kind == "ordered_list_open",
                first=int(token.attrGet("start") or 1),
            )
        if kind == "blockquote_open":
            inner = self._tokens(tokens[start + 1 : end], max(1, width - 2))
            bar = Segment("▌ ", self.palette.quote)
            return [[bar, *line] for line in inner] or [[bar]]
        if kind in ("fence", "code_block"):
            language = token.info.strip().split(" ")[0] if kind == "fence" else ""
            return self.code_block(code.lex(token.content.rstrip("\n"), language), width)
        if kind == "table_open":
            return self._table(tokens[start : end + 1], width)
        if kind == "hr":
            return [[Segment("─" * width, self.palette.rule)]]
        if kind == "html_block":
            return self._text(Text(token.content.rstrip("\n")), width)
        return None

    def _list(self, items: list[Token], width: int, *, ordered: bool, first: int) -> list[Line]:
        out: list[Line] = []
        number = first
        index = 0
        loose = any(t.type == "paragraph_open" and not t.hidden for t in items)
        level = items[0].level if items else 0
        count = sum(1 for t in items if t.type == "list_item_open" and t.level == level)
        gutter = (len(f"{first + count - 1}.") if ordered else 1) + 1
        while index < len(items):
            end = _close_of(items, index)
            label = f"{number}." if ordered else "•"
            inner = self._item(items[index + 1 : end], max(1, width - gutter))
            if out and loose:
                out.append([])
            for row, line in enumerate(inner or [[]]):
                text = label.rjust(gutter - 1) + " " if row == 0 else " " * gutter
                out.append([Segment(text, self.palette.bullet if row == 0 else None), *line])
            number += 1
            index = end + 1
        return out

    def forget_items(self) -> None:
        """The list being drawn is finished: its items need not be kept (a
        renderer lives as long as its answer's view)."""
        self._items.clear()

    def _item(self, tokens: list[Token], width: int) -> list[Line]:
        """A list item's lines, kept. An open list is drawn again each frame
        while it streams, and only its last item changes: md4k fed in 13-token
        frames spent 2.5 ms a frame on a list, drawing every item again. The
        key is everything of the tokens a drawing reads (a tight list's
        paragraphs are hidden, a loose one's are not)."""
        key = (
            width,
            *(
                (t.type, t.tag, t.level, t.content, t.hidden, t.info, t.markup, *t.attrs.items())
                for t in tokens
            ),
        )
        lines = self._items.get(key)
        if lines is None:
            lines = self._tokens(tokens, width)
            if len(self._items) >= ITEMS_KEPT:
                del self._items[next(iter(self._items))]
            self._items[key] = lines
        return lines

    def _table(self, tokens: list[Token], width: int) -> list[Line]:
        from rich import box
        from rich.table import Table

        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style=self.palette.table_header,
            expand=False,
        )
        row: list[Text] = []
        header = True
        for index, token in enumerate(tokens):
            if token.type in ("th_open", "td_open"):
                align = (token.attrGet("style") or "").removeprefix("text-align:") or "left"
                if header:
                    table.add_column(
                        justify=align if align in ("left", "center", "right") else "left"
                    )
                row.append(self._inline(tokens[index + 1]))
            elif token.type == "tr_close":
                if not header:
                    table.add_row(*row)
                else:
                    for column, cell in zip(table.columns, row, strict=False):
                        column.header = cell
                row = []
            elif token.type == "thead_close":
                header = False
        return self._render(table, width)

    # -- inline ------------------------------------------------------------

    def _inline(self, token: Token) -> Text:
        text = Text(end="")
        styles: list[Style] = []
        for child in token.children or []:
            kind = child.type
            if kind in ("text", "html_inline"):
                text.append(child.content, Style.chain(*styles) if styles else None)
            elif kind == "code_inline":
                text.append(child.content, Style.chain(*styles, self.palette.code_inline))
            elif kind in ("softbreak",):
                text.append(" ")
            elif kind == "hardbreak":
                text.append("\n")
            elif kind == "strong_open":
                styles.append(Style(bold=True))
            elif kind == "em_open":
                styles.append(Style(italic=True))
            elif kind == "s_open":
                styles.append(Style(strike=True))
            elif kind == "link_open":
                href = str(child.attrGet("href") or "")
                safe = href.lower().startswith(SAFE_LINKS)
                styles.append(self.palette.link + Style(link=href) if safe else self.palette.link)
            elif kind == "image":
                text.append(f"🖼 {child.content}", Style.chain(*styles) if styles else None)
            elif kind.endswith("_close") and styles:
                styles.pop()
        return text

    def _text(self, text: Text, width: int) -> list[Line]:
        return self._render(text, width)

    def _render(self, renderable: Text | object, width: int) -> list[Line]:
        options = self.console.options.update(width=width, height=None)
        return [
            _rstrip(line)
            for line in self.console.render_lines(renderable, options, pad=False)  # type: ignore[arg-type]
        ]


def _rstrip(line: Line) -> Line:
    """Trailing unstyled spaces carry nothing; the widget pads lines itself."""
    while line and not line[-1].style and not line[-1].text.strip():
        line = line[:-1]
    return line


def _close_of(tokens: list[Token], start: int) -> int:
    """The index of the token that closes the one at `start` (itself if it opens nothing)."""
    if tokens[start].nesting != 1:
        return start
    depth = 0
    for index in range(start, len(tokens)):
        depth += tokens[index].nesting
        if depth == 0:
            return index
    return len(tokens) - 1
