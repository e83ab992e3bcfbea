"""Streaming numbers as small pictures, the same in the shell and the app.

- A distribution (a model's TTFTs, its tokens/s) as a horizontal bar chart:
  one row a bucket of `Store.stats`, its range as the label, a bar of full
  and partial blocks (eighths of a cell, so 12 and 13 answers differ), and
  the count. `tokentide stats` draws it with Rich on a terminal; the app's
  Stats screen builds the same rows into Textual content (theme colours).
- An answer's token arrivals (client/meter.py's `Arrivals`) resampled to
  a fixed number of columns of tokens/s and drawn as a sparkline from zero,
  its columns evenly spaced in time, so a mark under column N is at N/width
  of the stream (where the longest stall began).

Only text is built here; colour is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tokentide.client.meter import Arrivals

    from .store import Bucket

BAR_WIDTH = 16
"""Cells of the longest bar: two charts side by side fit 80 columns."""
EIGHTHS = "▏▎▍▌▋▊▉"
"""A bar's last cell, one to seven eighths full (a full cell is █)."""


def bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    """`count` as a bar where `most` fills `width` cells; any count above zero
    shows at least an eighth, zero shows nothing."""
    if count <= 0 or most <= 0:
        return ""
    eighths = max(1, round(count / most * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part - 1] if part else "")


@dataclass(frozen=True)
class BarRow:
    label: str
    bar: str
    count: int


def ms_range(low: float, high: float | None) -> str:
    """A TTFT bucket's label: `250–500 ms`, `10–20 s`; `≥ 2 s` when open
    (high None); one value `410 ms`."""
    scale, unit = (1000.0, "s") if max(low, high or 0) >= 10_000 else (1.0, "ms")
    return _range(low / scale, None if high is None else high / scale, unit)


def rate_range(low: float, high: float | None) -> str:
    """A tokens/s bucket's label: `40–60 tok/s`."""
    return _range(low, high, "tok/s")


def _range(low: float, high: float | None, unit: str) -> str:
    if high is None:
        return f"≥ {low:g} {unit}"
    if high == low:
        return f"{low:.4g} {unit}"
    return f"{low:g}–{high:g} {unit}"


def bar_rows(
    buckets: Sequence[Bucket],
    label: Callable[[float, float | None], str],
    width: int = BAR_WIDTH,
) -> list[BarRow]:
    """One row a bucket, the fullest bar `width` cells long."""
    most = max((b.count for b in buckets), default=0)
    return [
        BarRow(label(b.low, None if b.open_ended else b.high), bar(b.count, most, width), b.count)
        for b in buckets
    ]


def rich_chart(title: str, rows: Sequence[BarRow], bar_style: str = "cyan") -> RenderableType:
    """A titled bar chart for a terminal (`tokentide stats`): labels right
    aligned, bars in `bar_style`, counts after them. `title` is plain text
    (a model's name is never read as markup)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    for row in rows:
        grid.add_row(row.label, Text(row.bar, style=bar_style), str(row.count))
    return Group(Text(title, style="bold"), grid)


def rates_over_time(arrivals: Arrivals, columns: int) -> list[float]:
    """Tokens/s in `columns` equal slices of the stream (first token to last
    bucket), each the tokens that arrived in it over its length; a slice
    shorter than a bucket takes its share of that bucket's tokens."""
    counts = arrivals.counts
    if not counts or columns <= 0:
        return []
    span = len(counts)  # in buckets
    step = span / columns
    rates = []
    for column in range(columns):
        start, end = column * step, (column + 1) * step
        tokens = 0.0
        index = int(start)
        while index < span and index < end:
            overlap = min(end, index + 1) - max(start, index)
            tokens += counts[index] * max(overlap, 0.0)
            index += 1
        rates.append(tokens / (step * arrivals.bucket_s))
    return rates


LEVELS = "▁▂▃▄▅▆▇█"
"""A sparkline cell an eighth to eight eighths full."""


def spark_rows(values: Sequence[float], height: int = 1) -> list[str]:
    """`values` as a sparkline `height` rows tall (top row first), scaled from
    zero to the largest value: a column of half the rate is half as tall (a
    min-to-max scale would make a 5 % wobble fill the picture), a column of
    nothing is empty (a stall shows as a gap), and any rate above zero shows."""
    most = max(values, default=0.0)
    if most <= 0:
        return [" " * len(values) for _ in range(height)]
    levels = [0 if v <= 0 else max(1, round(v / most * height * 8)) for v in values]
    rows = []
    for row in range(height - 1, -1, -1):  # the top row first
        base = row * 8
        rows.append("".join(_cell(level - base) for level in levels))
    return rows


def _cell(eighths: int) -> str:
    if eighths <= 0:
        return " "
    return LEVELS[min(eighths, 8) - 1]


def column_at(arrivals: Arrivals, seconds: float, columns: int) -> int:
    """The column of `rates_over_time(arrivals, columns)` that holds the
    moment `seconds` after the first token."""
    span_s = len(arrivals.counts) * arrivals.bucket_s
    if span_s <= 0 or columns <= 0:
        return 0
    return min(columns - 1, max(0, int(seconds / span_s * columns)))
