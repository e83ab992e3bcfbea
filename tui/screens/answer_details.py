"""An answer's details (d on a focused answer): every number the meter took,
how each was obtained, and a picture of how its tokens arrived.

The picture is a sparkline of tokens/s over the stream, from the first token
to the last, in `COLUMNS` equal slices and from zero up (tui/charts.py
resamples the meter's `Arrivals` and draws it). The TTFT before it is a
label, not drawn to scale (a 2 s wait would flatten the stream), and a
caret under it marks where the longest stall began. An answer recorded
before tokentide kept arrivals, or sent without streaming, has the numbers
and no picture.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tokentide.client.events import Message
from tokentide.client.meter import Metrics

from .. import format as fmt
from ..charts import column_at, rates_over_time, spark_rows
from ..safe_text import one_line
from .panel import Panel

COLUMNS = 60
"""Columns of the sparkline: each a 60th of the stream's length."""
HEIGHT = 3
"""Rows of the sparkline: 24 levels."""
LABEL = 16
"""Cells left of the sparkline, for the TTFT label (the caret line is offset by them)."""


class AnswerDetails(Panel):
    """One answer's figures and its token arrivals. Esc, d or q closes."""

    BINDINGS = [Binding("escape,d,q", "dismiss", "Close", id="details.close")]

    DEFAULT_CSS = f"""
    AnswerDetails {{
        & > VerticalScroll {{ width: {LABEL + COLUMNS + 10}; }}
        & #arrivals-row {{ height: {HEIGHT}; margin: 1 0 0 0; }}
        & #ttft {{
            width: {LABEL};
            height: {HEIGHT};
            content-align: right bottom;
            color: $text-muted;
        }}
        & #arrivals {{ width: {COLUMNS}; height: {HEIGHT}; color: $accent; }}
        & #stall {{ color: $warning; }}
        & #axis {{ color: $text-muted; }}
    }}
    """

    def __init__(self, message: Message, metrics: Metrics) -> None:
        super().__init__()
        self.message = message
        self.metrics = metrics

    def compose(self) -> ComposeResult:
        message, metrics = self.message, self.metrics
        with VerticalScroll() as scroll:
            scroll.border_title = "Answer details"
            scroll.border_subtitle = "Esc closes"
            yield Static(one_line(fmt.summary(message, metrics)), classes="area", markup=False)
            yield Static(figures(metrics), id="figures")
            arrivals = metrics.arrivals
            if arrivals is None or not any(arrivals.counts):
                yield Static(
                    "no token-arrival series: the answer was not streamed, or was recorded "
                    "before tokentide kept one",
                    classes="note area",
                    markup=False,
                )
            else:
                yield Static("Tokens/s over time", classes="area", markup=False)
                with Horizontal(id="arrivals-row"):
                    ttft = f"TTFT {fmt.ms(metrics.ttft_ms)} ▸ "
                    yield Static(ttft, id="ttft", markup=False)
                    rows = spark_rows(rates_over_time(arrivals, COLUMNS), HEIGHT)
                    yield Static(Content("\n".join(rows)), id="arrivals")
                if arrivals.stall_at_s is not None and metrics.longest_stall_ms is not None:
                    column = column_at(arrivals, arrivals.stall_at_s, COLUMNS)
                    yield Static(
                        stall_line(column, metrics.longest_stall_ms, arrivals.stall_at_s),
                        id="stall",
                        markup=False,
                    )
                span = len(arrivals.counts) * arrivals.bucket_s
                yield Static(axis(span), id="axis", markup=False)
            yield Static("How each number was obtained", classes="area", markup=False)
            yield Static(fmt.details(metrics), classes="note", markup=False)


def figures(metrics: Metrics) -> Table:
    """The answer's numbers, one a row."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows = [
        ("TTFT", fmt.ms(metrics.ttft_ms)),
        ("headers after", fmt.ms(metrics.headers_ms)),
        ("tokens/s", fmt.rate(metrics.tokens_per_s)),
        ("tokens", fmt.tokens(metrics)),
        ("total", fmt.ms(metrics.total_ms)),
        ("ITL p50 / p99", f"{fmt.fine_ms(metrics.itl_p50_ms)} / {fmt.fine_ms(metrics.itl_p99_ms)}"),
        ("longest stall", fmt.fine_ms(metrics.longest_stall_ms)),
    ]
    if metrics.tokens_saved is not None:
        rows.append(("tokens saved", f"~{metrics.tokens_saved.tokens}"))
    for name, value in rows:
        grid.add_row(Text(name), Text(value))
    return grid


def axis(span_s: float) -> str:
    """The time axis under the sparkline: the first token, and the last bucket's end."""
    end = f"{span_s:.2f} s" if span_s < 10 else f"{span_s:.0f} s"
    return " " * LABEL + "0 s".ljust(COLUMNS - len(end)) + end


def stall_line(column: int, stall_ms: float, at_s: float) -> str:
    """A caret under the sparkline's `column`, and what it marks (on its right
    while that fits, else on its left)."""
    words = f"longest stall {fmt.fine_ms(stall_ms)} at {at_s:.2f} s"
    caret = LABEL + column
    if column + 2 + len(words) <= COLUMNS:
        return " " * caret + "^ " + words
    return (words + " ^").rjust(caret + 1)
