"""The small pictures of streaming numbers (tui/charts.py): bars in eighths
of a cell, bucket labels, and an answer's arrivals resampled for a sparkline."""

from __future__ import annotations

import pytest
from rich.console import Console

from tokentide.client.meter import Arrivals
from tokentide.tui.charts import (
    bar,
    bar_rows,
    column_at,
    ms_range,
    rate_range,
    rates_over_time,
    rich_chart,
    spark_rows,
)
from tokentide.tui.store import Bucket


def test_bars_are_drawn_in_eighths_of_a_cell():
    assert bar(10, 10, 4) == "████"
    assert bar(5, 10, 4) == "██"
    assert bar(9, 10, 4) == "███▋"  # 3.6 cells: 29 eighths -> 3 full and ▋ (5/8)
    assert bar(1, 1000, 4) == "▏"  # never rounded away
    assert bar(0, 10, 4) == "" and bar(3, 0, 4) == ""


def test_labels_name_each_range_once_with_its_unit():
    assert ms_range(250, 500) == "250–500 ms"
    assert ms_range(10_000, 20_000) == "10–20 s"
    assert ms_range(800, None) == "≥ 800 ms"
    assert ms_range(410.25, 410.25) == "410.2 ms"
    assert rate_range(22.5, 25) == "22.5–25 tok/s"


def test_a_chart_has_a_row_per_bucket_and_the_fullest_bar_is_full():
    buckets = [Bucket(0, 5, 2), Bucket(5, 10, 8), Bucket(10, 12, 1, open_ended=True)]
    rows = bar_rows(buckets, rate_range, width=8)
    assert [(r.label, r.bar, r.count) for r in rows] == [
        ("0–5 tok/s", "██", 2),
        ("5–10 tok/s", "████████", 8),
        ("≥ 10 tok/s", "█", 1),
    ]
    console = Console(width=60, record=True, color_system=None)
    console.print(rich_chart("a [bold]model[/] · tokens/s", rows))
    text = console.export_text()
    assert "a [bold]model[/] · tokens/s" in text  # a model's name is not markup
    assert "5–10 tok/s ████████ 8" in text


def test_arrivals_become_evenly_spaced_rates():
    arrivals = Arrivals(0.1, (2, 2, 0, 0, 4, 4))  # 0.6 s of stream, a 0.2 s pause
    assert rates_over_time(arrivals, 3) == pytest.approx([20, 0, 40])
    stretched = rates_over_time(arrivals, 12)  # more columns than buckets: each half a bucket
    assert stretched == pytest.approx([20, 20, 20, 20, 0, 0, 0, 0, 40, 40, 40, 40])
    assert rates_over_time(Arrivals(0.1, ()), 10) == []
    # Every token is in the picture whatever the width: rate x slice length sums to them.
    for columns in (1, 5, 7, 40):
        rates = rates_over_time(arrivals, columns)
        assert sum(rates) * 0.6 / columns == pytest.approx(12)
    assert column_at(arrivals, 0.25, 12) == 5
    assert column_at(arrivals, 0.0, 12) == 0 and column_at(arrivals, 9.0, 12) == 11


def test_a_sparkline_rises_from_zero_and_a_stall_is_a_gap():
    assert spark_rows([10, 5, 0, 1], height=1) == ["█▄ ▁"]  # half the rate, half the height
    assert spark_rows([16, 8, 0], height=2) == ["█  ", "██ "]  # top row first
    assert spark_rows([0, 0], height=2) == ["  ", "  "] and spark_rows([], 1) == [""]
