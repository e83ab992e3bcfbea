"""A Markdown answer laid out as lines while it streams, at a cost per frame
that does not grow with the answer.

Finished blocks are drawn once and kept; only the open block is drawn again,
and an open fence only by its new lines. `lines` is what a one-shot render
of the same text shows once `finish()` has run (the oracle test holds it to
that). The widget (`widgets/markdown_view.py`) decides when a frame runs;
`ask` prints frozen lines as they come and redraws only the tail.

A fence that closes after growing large is drawn from its streamed lines
first (`provisional`), and drawn whole - its multi-line strings and comments
coloured right - when the caller has time: the widget does it in a thread,
so a 50 KB fence does not freeze the screen. With `lex_in_background`, a
fence in a language seen for the first time is drawn plain while its lexer
is built in a thread, and coloured at the first frame after it is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import code
from .blocks import Block, BlockSplitter
from .render import BlockRenderer, Line

BIG_BLOCK = 8_000
"""Characters above which a block that was streamed in drafts is drawn whole
off the frame path (a thread, in the app)."""

LONG_TAIL = 16_000
"""An open block longer than this (a 2 MB line with no newline) is drafted in
pieces of about `PIECE` characters, each drawn once, until it is finished."""

PIECE = 4_000


@dataclass
class _Part:
    """A finished block and its lines at the current width."""

    block: Block
    lines: list[Line]
    provisional: bool = False
    waiting: str | None = None
    """The language whose lexer is being built: drawn plain until it is."""


@dataclass
class _FenceDraft:
    """The lines of an open fence drawn so far, one entry per code line."""

    language: str
    padding: Line
    """The blank line above and below, the same object every frame (so a frame
    can tell the top of the fence did not change)."""
    drawn: list[list[Line]] = field(default_factory=list)
    plain: bool = False
    """Drawn without colours: the language's lexer is still being built."""


class LiveDocument:
    """Lines of a growing Markdown text at one width."""

    def __init__(
        self,
        renderer: BlockRenderer,
        width: int,
        *,
        redraw_fences: bool = True,
        lex_in_background: bool = False,
    ) -> None:
        self.renderer = renderer
        self.width = max(1, width)
        self.redraw_fences = redraw_fences
        """False where printed lines cannot be taken back (a terminal's scrollback):
        a fence that streamed keeps its streamed lines when it closes."""
        self.lex_in_background = lex_in_background
        """Never wait for a lexer to be built (see `code.lexer_ready`): an app's
        event loop must not; a program printing to a terminal may."""
        self._waiting = 0  # parts drawn plain until their lexer is built
        self._splitter = BlockSplitter()
        self._parts: list[_Part] = []
        self._frozen: list[Line] = []
        self._tail: list[Line] = []
        self._tail_source: str | None = None
        self._draft: _FenceDraft | None = None
        self._pieces: list[tuple[int, list[Line]]] = []  # a long open block: (end, lines)
        self._chunks: list[str] = []

    @property
    def source(self) -> str:
        """Everything fed so far."""
        if len(self._chunks) > 1:
            self._chunks[:] = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def lines(self) -> list[Line]:
        """All lines (a new list: for tests and one-off use; a view reads `line(y)`)."""
        return [self.line(y) for y in range(self.height)]

    @property
    def height(self) -> int:
        return len(self._frozen) + self._gap + len(self._tail)

    def line(self, y: int) -> Line:
        frozen = len(self._frozen)
        if y < frozen:
            return self._frozen[y]
        y -= frozen + self._gap
        return self._tail[y] if 0 <= y < len(self._tail) else []

    @property
    def stable_height(self) -> int:
        """Leading lines that will not change: finished blocks and, with
        `redraw_fences` off, an open fence's finished lines."""
        stable = len(self._frozen)
        if self._draft is not None and not self.redraw_fences and self._tail:
            stable += self._gap + 1 + sum(len(lines) for lines in self._draft.drawn)
        return stable

    @property
    def _gap(self) -> int:
        """The blank line between the finished blocks and the open one."""
        return 1 if self._frozen and self._tail else 0

    def provisional(self) -> list[tuple[int, Block]]:
        """Finished fences still shown as streamed: (part number, block) to draw whole."""
        return [(n, part.block) for n, part in enumerate(self._parts) if part.provisional]

    # -- growing -------------------------------------------------------------

    def feed(self, text: str) -> int:
        """Take `text`; return the first line that changed (`height` if none did)."""
        if text:
            self._chunks.append(text)
        before, frozen, tail = self.height, len(self._frozen), self._tail
        coloured = self._colour_waiting() if self._waiting else frozen
        for block in self._splitter.feed(text):
            self._freeze(block)
        self._draw_tail()
        if coloured < frozen:
            return coloured
        if len(self._frozen) != frozen:
            return frozen
        # The same tail lines are the same objects: an open fence changes at its end.
        same = 0
        for old, new in zip(tail, self._tail, strict=False):
            if old is not new:
                break
            same += 1
        if same == len(tail) == len(self._tail):
            return self.height
        # Never past the old end: an open block after nothing but finished
        # ones brings the blank line above it too, and a view that kept its
        # lines up to `first` went on one line short, every line below out of
        # place (and, its rows seeming full, not grown) until something above
        # changed: md4k at 200 tok/s, a table after a fence, 137 ms frozen.
        return min(frozen + self._gap + same, before)

    def finish(self, *, whole: bool = True) -> int:
        """The text is complete: the open block is final. With `whole`, big fences
        are drawn whole now; without, they stay provisional for the caller."""
        first = len(self._frozen)
        for block in self._splitter.finish():
            self._freeze(block)
        self._tail, self._tail_source, self._draft = [], None, None
        if whole:
            for number, block in self.provisional():
                self.settle(number, self.renderer.block(block, self.width))
        return first

    def settle(self, number: int, lines: list[Line]) -> None:
        """A provisional fence drawn whole (at the current width)."""
        part = self._parts[number]
        if part.waiting is not None:
            self._waiting -= 1
        part.lines, part.provisional, part.waiting = lines, False, None
        self._rebuild()

    def _colour_waiting(self) -> int:
        """Fences drawn plain whose lexer is ready now, drawn again (big ones
        stay provisional: they are drawn whole off the frame path). Returns the
        first line that changed (the frozen height if none did)."""
        first = len(self._frozen)
        height = 0  # frozen lines up to here, counted as `_rebuild` lays them out
        changed = False
        for part in self._parts:
            top = height + 1 if height else 0
            language = part.waiting
            if language is not None and code.lexer_ready(language):
                part.waiting = None
                self._waiting -= 1
                if len(part.block.source) <= BIG_BLOCK:
                    part.lines = self.renderer.block(part.block, self.width)
                    part.provisional = False
                    first, changed = min(first, top), True
            height = top + len(part.lines)
        if changed:
            self._rebuild()
        return first

    # -- redrawing -----------------------------------------------------------

    def resize(self, width: int, renderer: BlockRenderer | None = None) -> None:
        """Everything again at another width (or in other colours)."""
        self.width = max(1, width)
        if renderer is not None:
            self.renderer = renderer
        for part in self._parts:
            part.lines = self.renderer.block(part.block, self.width)
            part.provisional, part.waiting = False, None
        self._waiting = 0
        self._rebuild()
        self._tail_source, self._draft = None, None
        self._draw_tail()

    def _rebuild(self) -> None:
        frozen: list[Line] = []
        for part in self._parts:
            if frozen:
                frozen.append([])
            frozen.extend(part.lines)
        self._frozen = frozen

    def _freeze(self, block: Block) -> None:
        if block.fence and self._draft is not None and not self.redraw_fences:
            part = _Part(block, self._draft_lines(block.source, closed=True))
        elif block.fence and (waiting := self._unlexed(block)) is not None:
            part = _Part(block, self._plain_lines(block), provisional=True, waiting=waiting)
            self._waiting += 1
        elif block.fence and self._draft is not None and len(block.source) > BIG_BLOCK:
            part = _Part(block, self._draft_lines(block.source, closed=True), provisional=True)
        elif self._pieces and len(block.source) > BIG_BLOCK:
            part = _Part(block, self._long_lines(block.source), provisional=True)
        elif not block.fence and block.source == self._tail_source and self._tail:
            part = _Part(block, self._tail)  # drawn in the last frame already
        else:
            part = _Part(block, self.renderer.block(block, self.width))
        self._draft = None if block.fence else self._draft
        self._pieces = []
        self._tail_source = None
        self._parts.append(part)
        if self._frozen:
            self._frozen.append([])
        self._frozen.extend(part.lines)
        self.renderer.forget_items()  # kept for the open block only

    def _unlexed(self, block: Block) -> str | None:
        """The fence's language if it must not wait for its lexer, which is not built yet."""
        if not self.lex_in_background:
            return None
        language, _ = code.fence_parts(block.source)
        return None if code.lexer_ready(language) else language

    def _plain_lines(self, block: Block) -> list[Line]:
        """A closed fence without colours: its streamed lines, or drawn plain."""
        if self._draft is not None:
            return self._draft_lines(block.source, closed=True)
        _, source = code.fence_parts(block.source)
        return self.renderer.code_block(code.lex(source, ""), self.width)

    def _draw_tail(self) -> None:
        tail = self._splitter.tail
        if self._splitter.in_fence:
            self._tail = self._draft_lines(tail)
            self._tail_source = tail
            return
        self._draft = None
        source = tail.strip("\n")
        if source == self._tail_source:
            return
        self._tail_source = source
        if len(source) > LONG_TAIL:
            self._tail = self._long_lines(source)
        elif source.strip():
            self._tail = self.renderer.block(Block(source), self.width)
        else:
            self._tail = []

    def _long_lines(self, source: str) -> list[Line]:
        """A very long open block drafted in pieces cut at spaces: finished
        pieces drawn once, the last one every frame (wrapping at a piece's end
        may differ from the whole until the block is drawn whole)."""
        pieces = self._pieces
        start = pieces[-1][0] if pieces else 0
        while len(source) - start > 2 * PIECE:
            cut = source.rfind(" ", start + PIECE // 2, start + PIECE) + 1 or start + PIECE
            pieces.append((cut, self.renderer.block(Block(source[start:cut]), self.width)))
            start = cut
        last = self.renderer.block(Block(source[start:]), self.width) if source[start:] else []
        return [line for _, lines in pieces for line in lines] + last

    def _draft_lines(self, source: str, *, closed: bool = False) -> list[Line]:
        """A fence's lines as it streams: each complete code line drawn once,
        the partial one every frame; `closed`: the last line is the closing fence."""
        opener, _, body = source.partition("\n")
        look = self.renderer.palette.code
        if self._draft is None:
            language, _ = code.fence_parts(opener)
            plain = self.lex_in_background and not code.lexer_ready(language)
            self._draft = _FenceDraft(language, code.blank(self.width, look), plain=plain)
        draft = self._draft
        code_lines = body.split("\n")
        complete, partial = code_lines[:-1], "" if closed else code_lines[-1]
        if draft.plain and code.lexer_ready(draft.language):
            draft.plain = False  # the lines drawn plain so far are coloured now
            done = complete[: len(draft.drawn)]
            draft.drawn = [
                code.draw([code.lex_line(line, draft.language)], self.width, look) for line in done
            ]
        language = "" if draft.plain else draft.language
        for line in complete[len(draft.drawn) :]:
            draft.drawn.append(code.draw([code.lex_line(line, language)], self.width, look))
        last = code.draw([code.lex_line(partial, language)], self.width, look)
        drawn = [line for lines in draft.drawn for line in lines]
        if partial:
            drawn.extend(last)
        return [draft.padding, *drawn, draft.padding]
