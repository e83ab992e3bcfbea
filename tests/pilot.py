"""Driving the real app under Textual's Pilot: shared by the tests and
`screenshots/make.py`, so the pictures come from the same steps the tests check."""

from __future__ import annotations

from dataclasses import replace

from tokentide.client.config import resolve
from tokentide.tui.app import TokentideApp
from tokentide.tui.widgets.assistant_message import AssistantMessage
from tokentide.tui.widgets.composer import Composer

AT_ONCE = 0.5
"""Esc -> the server's EOF, in seconds, in a Pilot test: far under the seconds
the rest of the stream would take, so a stop that waited for it still fails.
The 150 ms target is measured by tests/perf/bench_stop.py in a real terminal
on a quiet machine; a test run on two loaded workers has stalls of its own
(one CI run saw 254 ms)."""


def make_app(
    base_url: str, model: str = "demo", *, retries: int | None = None, **kw
) -> TokentideApp:
    """The app on an OpenAI-compatible server, with nothing from the environment."""
    settings = resolve(base_url=base_url, model=model, env={}, **kw)
    if retries is not None:
        settings = replace(settings, retries=retries)
    return TokentideApp(settings)


async def send(pilot, text: str) -> None:
    """Type `text` into the composer and press Enter."""
    pilot.app.screen.query_one(Composer).load_text(text)
    await pilot.press("enter")


async def wait_idle(pilot) -> None:
    """Until the answer in flight is recorded and drawn (an event, not a sleep)."""
    await pilot.app.screen.settle()
    await pilot.app.screen.coloured()
    await pilot.pause()


def answers(app) -> list[AssistantMessage]:
    return list(app.screen.query(AssistantMessage))


def screen_text(app, widget=None) -> list[str]:
    """The rows of the real composited screen (those `widget` occupies, if given)."""
    strips = app.screen._compositor.render_strips()
    if widget is None:
        return [strip.text for strip in strips]
    region = widget.region
    assert region.height > 0
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]
