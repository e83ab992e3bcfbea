"""The chat screen's compositor (tui/screens/compositor.py) draws a partial
update from fewer widgets and rows than Textual's: what it sends the
terminal must be byte for byte what Textual's would, for any rows and
columns that changed, and a row of the answer must cost the answer alone.

The screen is the real app's, with a finished answer (prose, a code block, a
table) and the message, footer, status line, composer and key bar around it."""

from __future__ import annotations

import random
import re

from rich.console import Console
from textual._compositor import Compositor
from textual.geometry import Region
from textual.widget import Widget

from tests.scenes import SIZE, drawn, finished, stage, until
from tokentide.tui.screens.compositor import RowsCompositor, _bands
from tokentide.tui.widgets.markdown_view import MarkdownView


def _update(
    compositor: RowsCompositor, regions: list[Region], console: Console, *, textual: bool
) -> str:
    """What a partial update of `regions` writes to the terminal, drawn by the
    chat screen's compositor or, with `textual`, by Textual's own."""
    compositor._dirty_regions.update(regions)
    if textual:
        update = Compositor.render_partial_update(compositor)  # no bands: Textual's _get_renders
    else:
        update = compositor.render_partial_update()
    assert update is not None
    # A piece that starts at the last column changed is written cropped to
    # nothing: a cursor move and no text, which changes nothing on screen.
    # Textual writes that move; this compositor, which did not draw the
    # widget behind, does not.
    return _IDLE_MOVE.sub("", update.render_segments(console))


_IDLE_MOVE = re.compile(r"\x1b\[\d+;\d+H(?=\x1b\[\d+;\d+H|\n|$)")


def _regions(rng: random.Random, widgets: list[Region], width: int, height: int) -> list[Region]:
    """One to four changed regions: rows of a widget, a widget whole, or any rectangle."""
    regions = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.4:
            x, y, w, h = rng.choice(widgets)
            top = rng.randrange(y, y + h)
            regions.append(Region(x, top, w, rng.randint(1, y + h - top)))
        elif kind < 0.6:
            regions.append(rng.choice(widgets))
        else:
            x, y = rng.randrange(width), rng.randrange(height)
            regions.append(
                Region(x, y, rng.randint(1, width - x), rng.randint(1, min(6, height - y)))
            )
    return regions


async def test_a_partial_update_writes_what_textuals_compositor_writes():
    with stage() as world:
        app = world.app()
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.app.screen.started.wait()
            await finished(world)(pilot)
            compositor = app.screen._compositor
            assert isinstance(compositor, RowsCompositor)
            rng = random.Random(14)
            _compare(compositor, app.console, rng)
            # Widgets over others: the history panel beside the conversation,
            # a notification over both.
            await pilot.press("ctrl+b")
            app.notify("A notification over the conversation", timeout=60)
            await until(pilot, lambda: app.screen.query("Toast"), "the notification")
            await drawn(pilot)
            _compare(compositor, app.console, rng)


def _compare(compositor: RowsCompositor, console: Console, rng: random.Random) -> None:
    width, height = compositor.size
    widgets = [
        region.intersection(clip)
        for region, clip in compositor.visible_widgets.values()
        if region.intersection(clip)
    ]
    for _ in range(300):
        regions = _regions(rng, widgets, width, height)
        ours = _update(compositor, regions, console, textual=False)
        theirs = _update(compositor, regions, console, textual=True)
        assert ours == theirs, regions


async def test_a_changed_row_of_the_answer_draws_the_answer_alone(monkeypatch):
    """Textual's compositor asks every widget whose clip meets the row (the
    screen, the conversation, the message, the scroll bar, the key bar...)
    for all its lines; this one asks the answer for that row."""
    with stage() as world:
        app = world.app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.app.screen.started.wait()
            await finished(world)(pilot)
            compositor = app.screen._compositor
            view = app.screen.query(MarkdownView).last()
            region = view.region.intersection(compositor.visible_widgets[view][1])
            asked: list[tuple[str, int]] = []
            render_lines = Widget.render_lines

            def counted(widget: Widget, crop: Region):
                asked.append((type(widget).__name__, crop.height))
                return render_lines(widget, crop)

            monkeypatch.setattr(Widget, "render_lines", counted)
            row = Region(region.x, region.bottom - 2, region.width, 1)
            compositor._dirty_regions.add(row)
            assert compositor.render_partial_update() is not None
            assert asked == [("MarkdownView", 1)]


def test_bands_merge_rows_that_overlap_or_touch():
    assert _bands([]) == []
    assert _bands([Region(0, 5, 3, 2), Region(4, 0, 1, 1), Region(0, 7, 9, 1)]) == [(0, 1), (5, 8)]
    assert _bands([Region(0, 2, 5, 6), Region(1, 3, 1, 1), Region(0, 0, 0, 4)]) == [(2, 8)]
