"""An answer's details (d on a focused answer): its ITL, longest stall and
token-arrival sparkline, for an answer just streamed from the demo server
and for the same answer reopened from the history (real SQLite file)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from tests.pilot import make_app, screen_text, send, wait_idle
from tokentide.client.demo import DemoServer
from tokentide.tui.charts import LEVELS, column_at
from tokentide.tui.format import fine_ms
from tokentide.tui.screens.answer_details import COLUMNS, HEIGHT, AnswerDetails

SIZE = (110, 40)


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=200, ttft=0.05) as demo:
        yield demo


pytestmark = pytest.mark.usefixtures("history_file")


async def details(pilot) -> dict[str, object]:
    """Open the last answer's details and read them off the screen."""
    app = pilot.app
    await pilot.press("alt+up", "d")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, AnswerDetails)
    sparkline = screen.query_one("#arrivals", Static)
    stall = screen.query_one("#stall", Static)
    (stall_row,) = screen_text(app, stall)
    shown = {
        "figures": [row.rstrip() for row in screen_text(app, screen.query_one("#figures"))],
        "sparkline": screen_text(app, sparkline),
        "ttft": "".join(screen_text(app, screen.query_one("#ttft"))).strip(),
        "caret_x": stall.region.x + stall_row.index("^"),
        "sparkline_x": sparkline.region.x,
        "metrics": screen.metrics,
    }
    await pilot.press("escape")
    assert not isinstance(app.screen, AnswerDetails)
    return shown


async def test_details_show_itl_the_longest_stall_and_the_arrivals_also_when_reopened(server):
    server.script("word " * 120)  # 0.6 s at 200 tok/s
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "stream something")
        await wait_idle(pilot)
        chat = app.chat_screen()
        metrics = chat.turns[-1].metrics()
        live = await details(pilot)

        assert live["metrics"] == metrics
        figures = live["figures"]
        assert f"ITL p50 / p99  {fine_ms(metrics.itl_p50_ms)} / {fine_ms(metrics.itl_p99_ms)}" in (
            figures
        )
        assert f"longest stall  {fine_ms(metrics.longest_stall_ms)}" in figures
        assert 0 < metrics.itl_p50_ms <= metrics.itl_p99_ms <= metrics.longest_stall_ms
        assert live["ttft"] == f"TTFT {metrics.ttft_ms:.0f} ms ▸"
        # Tokens arrived all along: every column of the bottom row has a bar.
        rows = live["sparkline"]
        assert len(rows) == HEIGHT and all(len(row) == COLUMNS for row in rows)
        assert set(rows[-1]) <= set(LEVELS) and " " not in rows[-1]
        # The caret stands under the column where the longest stall began.
        arrivals = metrics.arrivals
        column = column_at(arrivals, arrivals.stall_at_s, COLUMNS)
        assert live["caret_x"] == live["sparkline_x"] + column

        # Reopened from the history: the same figures and the same picture.
        await chat.open_conversation(chat.history.conversation_id)
        await pilot.pause()
        reopened = await details(pilot)
        assert reopened["figures"][5:7] == figures[5:7]  # ITL and longest stall
        assert reopened["sparkline"] == rows and reopened["caret_x"] == live["caret_x"]

        # A prompt has no details: d is typed into the composer.
        await pilot.press("alt+up", "alt+up", "d")
        assert chat.focused is chat.composer and chat.composer.text == "d"
