"""A streamed Markdown answer, drawn line by line on a frame clock.

Textual's `Markdown` widget builds, styles and lays out a widget per block and
re-parses the last block on every append: 86 % of a core at 200 tok/s, and a
growing code fence costs more per append the longer it gets. This widget
draws lines (Textual's Line API) from a `LiveDocument`, which keeps finished
blocks and redraws only the open one, and it redraws at most `FPS` times a
second however fast tokens come - and less often when a frame is costly, so
drawing never takes more than about 1/`BUDGET` of the main thread, which
keeps the stop key and typing immediate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from ..garbage import hold_full_collections, release_full_collections
from ..markdown import code
from ..markdown.document import LiveDocument
from ..markdown.render import SAFE_LINKS, BlockRenderer, Palette, render_console
from .layout import LaidOutOnce

FPS = 15
"""Redraws of the lines that change, a second, at most. At 12 the screen went
100-120 ms without output at 1,000 tok/s (a frame's own cost and Textual's
paint come on top of the interval); 15 keeps it at 80-86 ms, for about 9 %
more CPU at 200 and 1,000 tok/s (md4k, alternated runs)."""
GROW_FPS = 8
"""Times a second the view may grow, at most, but for a frame that would draw
nothing (all its lines below the rows laid out; see `_redraw`): that one grows
at once. A taller view is laid out again and every line on screen moves (the
conversation follows the end), which costs Textual far more than redrawing a
line."""
GROW_STEP = 0.2
"""The view grows by this much of the screen's height at a time (see `_rows`):
at 200 tok/s, about two layouts a second instead of eight..."""
MAX_GROW_STEP = 0.5
"""... or, when lines come faster than that step fills between two growths,
by the lines that came since the last growth, up to this much of the screen:
the frames until the next growth then draw into rows laid out already. With
a fixed step, at 1,000 tok/s most frames had all their lines below the rows
laid out, drew nothing, and waited for the next growth: 100-120 ms without
output. The cost: while lines come that fast, up to half a screen of the
view is rows not written yet (at the end the view shrinks to its lines)."""
BUDGET = 5
"""A frame that took t seconds is followed by at least BUDGET × t of rest..."""
MAX_REST = 0.085
"""... but no more than this after an ordinary frame, so the screen never
seems to freeze; only a pathological one (a 2 MB line) waits longer."""
RELEASE_AFTER = 0.3
"""Seconds from the answer's last frame to the full collection of what it left.
The collection holds the GIL for 50-75 ms: run right after the last frame, it
kept Textual's writer thread from sending that frame to the terminal, and the
last token showed that much later (md4k at 5,000 tok/s: 118-148 ms after the
server sent it, against 35 ms when the collection happened to come later)."""
SLOW_FRAME = 0.1
"""A frame slower than this is pathological. Below it, a busy machine's 40 ms
frame at 5,000 tok/s rested 200 ms: a freeze of the kind the rest prevents."""


class MarkdownView(LaidOutOnce, Widget):
    """Call `write()` with text as it arrives, `finish()` at the end."""

    DEFAULT_CSS = """
    MarkdownView {
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._document: LiveDocument | None = None
        self._pending: list[str] = []
        self._strips: list[Strip] = []
        self._lines: list[list[Segment]] = []
        """The document's line each strip was made from (the same object while
        it is unchanged: a fence's lines when it closes, say)."""
        self._shown = 0  # rows laid out: the lines, and free rows below while streaming
        self._frame_due: Timer | bool = False
        self._next_frame = 0.0
        self._next_growth = 0.0
        self._room = 0  # rows kept free while lines come fast, set at each growth
        self._grown = (0.0, 0)  # when the view last grew, and its lines then
        self._growth_due: Timer | None = None
        self._finished = False
        self._settling: set[asyncio.Task] = set()
        self._settled = asyncio.Event()
        self._settled.set()
        self._code_pads: list[int] = []
        """Lines that are a code block's padding, top and bottom, in order."""
        self._base_style: Style | None = None
        """`rich_style`, which walks every ancestor's styles: kept until they change."""
        self._holding = False
        """Full garbage collections are held off while this answer streams."""
        self.on_frame: Callable[[], None] | None = None
        """Called at each frame, so what else changes with the answer (the
        status line) reaches the screen in the frame's update, not one of its own."""

    # -- the text --------------------------------------------------------------

    @property
    def source(self) -> str:
        """All the text written so far."""
        queued = "".join(self._pending)
        return (self._document.source if self._document else "") + queued

    def write(self, text: str) -> None:
        """Queue text; it is drawn at the next frame. Never waits."""
        if not text:
            return
        if not self._holding and not self._finished:
            self._holding = True
            hold_full_collections()
        self._pending.append(text)
        if self._frame_due is False and self._document is not None:
            wait = self._next_frame - time.monotonic()
            if wait > 0:
                self._frame_due = self.set_timer(wait, self._frame)
            else:
                self._frame_due = True
                self.call_later(self._frame)

    async def finish(self) -> None:
        """The answer is complete: draw what is queued and the last block, and
        draw big streamed blocks whole (in a thread, so the screen stays live)."""
        self._finished = True
        if isinstance(self._frame_due, Timer):
            self._frame_due.stop()
        self._frame_due = False
        document = self._document
        if document is None:
            self._release()
            return
        first = document.feed(self._take())
        first = min(first, document.finish(whole=False))
        self._redraw(first, grow=True)
        if not document.provisional():
            self.set_timer(RELEASE_AFTER, self._release)
            return
        # Big blocks shown as streamed are drawn whole in a thread, once this
        # frame is painted: the drawing holds the GIL for long stretches, and
        # started at once it delayed a 50 KB fence's last token by 55-70 ms.
        # Nothing waits for it (the text is final, only colours change) but
        # `settled`.
        self._settled.clear()
        self.call_after_refresh(self._start_settling, document)

    def _release(self) -> None:
        """After the last frame is on the terminal: the garbage of the answer is collected."""
        if self._holding:
            self._holding = False
            release_full_collections()

    def on_unmount(self) -> None:
        self._settled.set()  # nothing will be drawn whole now: nobody waits
        self._release()
        # The subscription's callback holds this view, and with it the whole
        # rendered answer: left subscribed, no view would ever be freed.
        self.app.theme_changed_signal.unsubscribe(self)

    def update(self, text: str) -> None:
        """Show `text` at once (a whole answer, e.g. from history)."""
        self._pending = [text]
        self._finished = True
        if self._document is not None:
            self._document.feed(self._take())
            self._document.finish()
            self._redraw(0, grow=True)

    # -- frames ----------------------------------------------------------------

    def _take(self) -> str:
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def _frame(self) -> None:
        self._frame_due = False
        document = self._document
        if document is None or not self._pending:
            return
        started = time.monotonic()
        first = document.feed(self._take())
        self._redraw(first)
        if self.on_frame is not None:
            self.on_frame()
        spent = time.monotonic() - started
        # Rest after a costly frame, but not so long that the screen looks
        # frozen (under 0.1 s) unless the frame itself was that slow.
        rest = BUDGET * spent if spent > SLOW_FRAME else min(BUDGET * spent, MAX_REST)
        self._next_frame = started + max(1 / FPS, rest)

    def _redraw(self, first: int, *, grow: bool = False) -> None:
        """New strips from line `first` on. Only lines that changed are drawn
        again; the rest stay in Textual's line cache. The view is laid out
        again only when its lines no longer fit the rows it has (or, with
        `grow`, when it is not as tall as it should be)."""
        document = self._document
        assert document is not None
        height = document.height
        strips, sources = self._strips, self._lines
        drawn = len(strips)
        first = min(first, drawn)  # lines past those drawn are all new
        lines = [document.line(y) for y in range(first, height)]
        # The open block is drawn again whole, but mostly only its last line
        # changes: lines that come out as they were are neither made into
        # strips nor painted again (md4k at 200 tok/s: 2.5 lines a frame
        # instead of 7.4). Lines the document still holds are the same
        # objects (a 50 KB fence's 1,700 lines when it closes: 50 ms at the
        # last token if made into strips again). Equal lines above make equal
        # strips: a code block's label counts the blocks above it.
        same = 0
        while same < len(lines) and first + same < drawn:
            old, new = sources[first + same], lines[same]
            if new is not old and new != old:
                break
            same += 1
        first, lines = first + same, lines[same:]
        del strips[first:], sources[first:]
        strips.extend(self._strip(line, first + n) for n, line in enumerate(lines))
        sources.extend(lines)
        shown = self._shown
        # The lines that changed within the rows already laid out are drawn
        # again whether or not the view grows too: a layout repaints only the
        # rows it adds or takes away (a closing fence's last line was left
        # blank when the view shrank to its exact height at the end).
        bottom = min(shown, max(drawn, height))
        painted = first < bottom
        if painted:
            self.refresh(Region(0, first, self.size.width, bottom - first))
        if height > shown or (grow and self._rows(height) != shown):
            if grow:
                self._grow()
                return
            # A frame whose new lines are all below the rows laid out paints
            # nothing, and grows now if growing is due before the next frame,
            # a growth already timed included: waiting for the growth's own
            # clock left the screen without output for 100-120 ms at 1,000
            # tok/s, and waiting for a timed one 100-110 ms at 5,000.
            due = self._next_growth - time.monotonic()
            if not painted and due < 1 / FPS:
                self._grow()
                return
            if self._growth_due is None:
                # Half a frame later, not in this frame: the frame's lines and
                # the layout then reach the screen apart, neither waiting for
                # the other (a frame with a layout took 100-130 ms to show).
                if painted:
                    due = max(due, 0.5 / FPS)
                self._growth_due = self.set_timer(due, self._grow)

    def _rows(self, height: int) -> int:
        """Rows to lay the view out with for `height` lines: while the answer
        streams, rounded up to a step of the screen's height, so that it is
        laid out again (and the conversation scrolls) once a step rather than
        at every new line, and new lines are drawn into the rows kept free at
        once. The exact height once the answer is complete."""
        if self._finished or not height:
            return height
        step = max(1, int(self.screen.size.height * GROW_STEP))
        return -(-(height + self._room) // step) * step

    def _next_room(self, now: float) -> int:
        """Rows to keep free beyond the step at the growth made `now`: the
        lines that came since the last growth, when they are more than a step
        (see `MAX_GROW_STEP`)."""
        screen = self.screen.size.height
        since, lines = self._grown
        elapsed = now - since
        if not since or elapsed >= 1.0:  # the pace of this stream, not of its start
            return 0
        came = (len(self._strips) - lines) / max(elapsed, 1 / GROW_FPS) / GROW_FPS
        if came <= screen * GROW_STEP:
            return 0
        return min(int(came) + 1, int(screen * MAX_GROW_STEP))

    def _grow(self) -> None:
        """Lay the view out again: its lines outgrew its rows, or it is complete."""
        if self._growth_due is not None:
            self._growth_due.stop()
            self._growth_due = None
        now = time.monotonic()
        if not self._finished:
            self._room = self._next_room(now)
            self._grown = (now, len(self._strips))
        old, self._shown = self._shown, self._rows(len(self._strips))
        self._next_growth = now + 1 / GROW_FPS
        top = min(old, self._shown)
        self.refresh(Region(0, top, self.size.width, max(old, self._shown) - top), layout=True)

    def _strip(self, line: list[Segment], y: int) -> Strip:
        """Line `y` as a strip; lines are made in order from the first that
        changed, so the code blocks above `y` are counted already and the top
        line of a block can be labelled with its number (`[2]`: what Copy
        code block 2 copies, tui/markdown/fences.py)."""
        pads = self._code_pads
        while pads and pads[-1] >= y:
            pads.pop()
        if any(style is not None and style.meta.get(code.PAD) for _, style, _ in line):
            pads.append(y)
            if len(pads) % 2:  # a top: every block has one padding line above, one below
                line = _label(line, f"[{len(pads) // 2 + 1}]")
        return Strip(line).extend_cell_length(self._width)

    async def settled(self) -> None:
        """Until the blocks shown as streamed at the end are drawn whole."""
        await self._settled.wait()

    def _start_settling(self, document: LiveDocument) -> None:
        task = asyncio.create_task(self._settle(document))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, document: LiveDocument) -> None:
        try:
            for number, block in document.provisional():
                width = document.width
                lines = await asyncio.to_thread(document.renderer.block, block, width)
                if not self.is_attached:
                    return
                if document is self._document and document.width == width:
                    document.settle(number, lines)
                    self._redraw(0, grow=True)
        finally:
            self._settled.set()
            if self.is_attached:
                self.set_timer(RELEASE_AFTER, self._release)
            else:
                self._release()

    # -- layout ----------------------------------------------------------------

    @property
    def _width(self) -> int:
        return self._document.width if self._document else 0

    def on_mount(self) -> None:
        # The signal, not a watch on `theme`: a watcher runs before Textual has
        # worked out the new theme's variables, and would draw in the old ones.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def _renderer(self) -> BlockRenderer:
        palette = Palette.from_theme(self.app.theme_variables, self.app.current_theme.dark)
        return BlockRenderer(palette, render_console())

    def _restyle(self) -> None:
        if self._document is not None:
            self._document.resize(self._document.width, self._renderer())
            self._strips.clear()
            self._lines.clear()
            self._redraw(0, grow=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        document = self._document
        if document is None:
            # The first layout: now the width is known and drawing can start.
            document = self._document = LiveDocument(
                self._renderer(), width, lex_in_background=True
            )
            if self._pending:
                document.feed(self._take())
                if self._finished:
                    document.finish()
            self._restrip(document)
        elif width != document.width and width > 0:
            self._rewrap(document, width)
        return self._shown

    def on_resize(self, event: events.Resize) -> None:
        """Wrapped again here too: a container lays out a size it has laid out
        before from its cache, without asking this view's height, so narrow,
        wide, then narrow again kept the wide lines, cut at the narrow edge."""
        document, width = self._document, self.size.width
        if document is not None and width > 0 and width != document.width:
            shown = self._shown
            self._rewrap(document, width)
            self.refresh(layout=self._shown != shown)

    def _rewrap(self, document: LiveDocument, width: int) -> None:
        document.resize(width)
        self._grown = (0.0, 0)  # the lines wrapped again are not new ones
        self._restrip(document)

    def _restrip(self, document: LiveDocument) -> None:
        """Every line made into a strip again, and the rows to lay them out with."""
        self._lines = [document.line(y) for y in range(document.height)]
        self._strips = [self._strip(line, y) for y, line in enumerate(self._lines)]
        self._shown = self._rows(len(self._strips))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None

    def render_line(self, y: int) -> Strip:
        style = self._base_style
        if style is None:
            style = self._base_style = self.rich_style
        if 0 <= y < len(self._strips):
            strip = self._strips[y]
            selection = self.text_selection
            if selection is not None and (span := selection.get_span(y)) is not None:
                look = self.screen.get_component_rich_style("screen--selection")
                strip = _highlight(strip, *span, look)
            # Offsets let the mouse select text here (Textual reads them back).
            return strip.apply_offsets(0, y).apply_style(style)
        return Strip.blank(self.size.width, style)

    # -- selection ---------------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as drawn (padding to the width left out), so
        Ctrl+C copies what the reader sees selected."""
        text = "\n".join(strip.text.rstrip() for strip in self._strips[: self._shown])
        return selection.extract(text), "\n"

    # -- links -----------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        """Links come from the model: only web and mail links were made links."""
        style: Style = event.style
        if style.link and style.link.lower().startswith(SAFE_LINKS):
            event.stop()
            self.app.open_url(style.link)


def _highlight(strip: Strip, start: int, end: int, look: Style) -> Strip:
    """`strip` with characters `start` to `end` (-1: the end of the line) in
    the selection's look; offsets count characters, as `apply_offsets` does."""
    segments: list[Segment] = []
    x = 0
    for segment in strip:
        text, style, control = segment
        size = len(text)
        first = max(start - x, 0)
        last = size if end < 0 else min(end - x, size)
        x += size
        if control or first >= last:
            segments.append(segment)
            continue
        chosen = style + look if style else look
        for piece, piece_style in (
            (text[:first], style),
            (text[first:last], chosen),
            (text[last:], style),
        ):
            if piece:
                segments.append(Segment(piece, piece_style))
    return Strip(segments, strip.cell_length)


LABEL = Style(dim=True)


def _label(line: list[Segment], label: str) -> list[Segment]:
    """A code block's top padding line with `label` at its right end."""
    for index in range(len(line) - 1, -1, -1):
        text, style, _ = line[index]
        if style is not None and style.meta.get(code.PAD):
            if len(text) < len(label) + 2:
                return line  # too narrow to say
            return [
                *line[:index],
                Segment(text[: -len(label) - 1], style),
                Segment(label, style + LABEL),
                Segment(" ", style),
                *line[index + 1 :],
            ]
    return line
