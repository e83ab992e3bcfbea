"""Stats (the palette): what `tokentide stats` prints, in the app, for this
session and for the whole history - per model, answers and stops, TTFT p50
and p90, tokens/s p50, ITL p50, tokens received and saved by stopping, and
cost - and under the history's table, per model, its TTFT and tokens/s
distributions as bar charts (tui/charts.py, in the theme's colours).

The figures are read by `TokentideApp.action_stats` (after the history's
queued writes, so the answer just ended counts); this screen only lays
them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ..charts import BAR_WIDTH, BarRow, bar_rows, ms_range, rate_range
from ..format import count
from ..history_cli import totals
from ..prices import usd
from ..safe_text import one_line
from ..store import ModelStats
from .panel import Panel

COLUMNS = (
    "model",
    "answers",
    "stopped",
    "TTFT p50",
    "TTFT p90",
    "tok/s p50",
    "ITL p50",
    "tokens",
    "saved",
)


@dataclass(frozen=True)
class Figures:
    """What the Stats screen shows."""

    session_line: str
    """The status line's own summary of this session (the history aside)."""
    session: list[ModelStats] | None
    """Answers the history recorded since the app started; None: no history."""
    history: list[ModelStats] | None
    """Every answer in the history; None: no history."""
    history_off: str | None = None
    """Why there is no history to read (history off, or the read failed)."""


class StatsScreen(Panel):
    """The figures, grouped: this session, then all history. Esc or q closes."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="stats.close")]

    DEFAULT_CSS = """
    StatsScreen {
        & > VerticalScroll { width: 110; }
        & .charts { height: auto; margin: 1 0 0 0; }
        & .chart { width: auto; margin: 0 4 0 0; }
    }
    """

    def __init__(self, figures: Figures) -> None:
        super().__init__()
        self.figures = figures

    def compose(self) -> ComposeResult:
        figures = self.figures
        with VerticalScroll() as scroll:
            scroll.border_title = "Stats"
            scroll.border_subtitle = "Esc closes"
            yield Static("This session", classes="area", markup=False)
            yield Static(figures.session_line, classes="note", markup=False)
            if figures.session:
                yield Static(table(figures.session), id="session")
            yield Static("All history", classes="area", markup=False)
            if figures.history_off is not None:
                yield Static(figures.history_off, classes="note", markup=False)
            elif not figures.history:
                yield Static("no answers yet", classes="note", markup=False)
            else:
                yield Static(table(figures.history), id="history")
                for row in figures.history:
                    if charts := model_charts(row):
                        with Horizontal(classes="charts"):
                            for chart in charts:
                                yield Static(chart, classes="chart")
            yield Static(
                "~ estimated: tokens saved by stopping, and counts the server did not give. "
                "Cost only where a price is known (tokentide stats --json has every field).",
                classes="note area",
                markup=False,
            )


def table(rows: list[ModelStats]) -> Table:
    """One row per model, most answers first, and a total row under several.
    Cost columns only where some answer was priced."""
    priced = any(row.cost_usd is not None for row in rows)
    spared = any(row.cost_saved_usd for row in rows)
    extra = (("cost",) if priced else ()) + (("not spent",) if spared else ())
    grid = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for name in COLUMNS + extra:
        grid.add_column(name, justify="left" if name == "model" else "right", no_wrap=True)
    for row in rows:
        cells = [
            Text(row.model or "?", overflow="ellipsis"),
            str(row.answers),
            str(row.stopped),
            _ms(row.ttft_ms_p50),
            _ms(row.ttft_ms_p90),
            "–" if row.tokens_per_s_p50 is None else f"{row.tokens_per_s_p50:.1f}",
            "–" if row.itl_ms_p50 is None else f"{row.itl_ms_p50:.1f} ms",
            str(row.tokens_received),
            f"~{row.tokens_saved}" if row.tokens_saved else "–",
        ]
        grid.add_row(*cells, *_costs(row.cost_usd, row.cost_saved_usd, priced, spared))
    if len(rows) > 1:
        sums = totals(rows)
        cells = [
            Text(f"all {count(len(rows), 'model')}", style="bold"),
            str(sums["answers"]),
            str(sums["stopped"]),
            "",
            "",
            "",
            "",
            str(sums["tokens_received"]),
            f"~{sums['tokens_saved']}" if sums["tokens_saved"] else "–",
        ]
        grid.add_row(*cells, *_costs(sums["cost_usd"], sums["cost_saved_usd"], priced, spared))
    return grid


def model_charts(row: ModelStats) -> list[Content]:
    """The model's TTFT and tokens/s distributions (none without figures)."""
    name = one_line(row.model or "?")
    charts = []
    if row.ttft_ms_histogram:
        charts.append(chart(f"{name} · TTFT", bar_rows(row.ttft_ms_histogram, ms_range)))
    if row.tokens_per_s_histogram:
        rows = bar_rows(row.tokens_per_s_histogram, rate_range)
        charts.append(chart(f"{name} · tokens/s", rows))
    return charts


def chart(title: str, rows: list[BarRow]) -> Content:
    """A bar chart as content: the title, then a line a bucket (label, bar in
    the theme's accent, count). `title` is plain text, never markup."""
    label_width = max(len(row.label) for row in rows)
    count_width = max(len(str(row.count)) for row in rows)
    lines: list[Content] = [Content.styled(title, "bold $text-primary")]
    for row in rows:
        lines.append(
            Content.assemble(
                (row.label.rjust(label_width), "$text-muted"),
                " ",
                (row.bar.ljust(BAR_WIDTH), "$accent"),
                " ",
                str(row.count).rjust(count_width),
            )
        )
    return Content("\n").join(lines)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _costs(spent: float | None, saved: float | None, priced: bool, spared: bool) -> list[str]:
    """The cost cells shown: what was spent, and (an estimate) what stopping spared."""
    cells = []
    if priced:
        cells.append("–" if spent is None else usd(spent))
    if spared:
        cells.append(f"~{usd(saved)}" if saved else "–")
    return cells
