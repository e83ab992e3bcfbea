"""The render benchmark, short: it produces every figure, and the figures make sense.

    .venv/bin/python -m pytest -m slow -s tests/perf/test_bench_render.py

Runs `tests/perf/bench_render.py` on the 4,000-token answer at 1,000 tok/s,
once in tokentide and once in the `Markdown.get_stream` baseline, plus two
cold starts of tokentide and of the bare Textual app, and prints the report.
Nothing here asserts a timing: how fast is a matter of reading the figures
(the full benchmark prints the issue's targets as met / NOT met); this only
guards the harness, so that a renderer change cannot quietly break the
measurement. The two small tests at the end check the harness's parsing of
the terminal stream and run with the default suite.
"""

from __future__ import annotations

import json

import pytest

from tests.perf import bench_render as bench

RATE = 1000


@pytest.fixture(scope="module")
def report() -> bench.Report:
    config = bench.Config(
        docs=("md4k",),
        rates=(RATE,),
        runs=1,
        baseline_runs=1,
        cold_runs=2,
        log=lambda line: None,
    )
    result = bench.run_benchmark(config)
    print(bench.format_report(result))
    return result


def check_run(run: bench.RunFigures, doc_tokens: int) -> None:
    """Figures a finished (or given-up) run must have, each within what is possible."""
    assert run.tokens == doc_tokens
    assert run.cpu_s is not None and run.cpu_s > 0
    assert run.cpu_pct is not None and 0 < run.cpu_pct <= 100 * 64
    assert run.cpu_per_1k == pytest.approx(1000 * run.cpu_s / run.tokens)
    assert run.lag_ms is not None and run.lag_ms >= 0
    stream_ms = 1000 * run.tokens / RATE
    # At least one frame while tokens arrive, and no gap longer than the stream itself
    # (the server may have been held back by a slow reader, so allow for its delay).
    assert run.longest_gap_ms is not None
    assert 0 < run.longest_gap_ms <= stream_ms + (run.server_late_ms or 0) + 1000
    assert run.peak_rss_mib is not None and 10 < run.peak_rss_mib < 4096


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tokentide_figures(report: bench.Report) -> None:
    cell = report.cell("tokentide", "md4k", RATE)
    assert cell is not None and len(cell.runs) == 1
    run = cell.runs[0]
    assert run.error is None, run.error
    check_run(run, report.docs["md4k"])
    assert run.echo_ms is not None and run.echo_ms > 0
    assert cell.responsive is not None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_baseline_figures(report: bench.Report) -> None:
    """The baseline may be given up on a slow machine; its figures still come out."""
    cell = report.cell("baseline", "md4k", RATE)
    assert cell is not None and len(cell.runs) == 1
    run = cell.runs[0]
    assert run.error is None or run.timed_out, run.error
    check_run(run, report.docs["md4k"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cold_start(report: bench.Report) -> None:
    cold = report.cold
    assert cold is not None
    assert len(cold.tokentide_s) == 2 and len(cold.bare_s) == 2
    assert all(0 < s < bench.STARTUP_TIMEOUT for s in cold.tokentide_s + cold.bare_s)
    assert cold.ratio is not None and cold.ratio > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_report_and_json(report: bench.Report) -> None:
    text = bench.format_report(report)
    assert f"md4k ({report.docs['md4k']:,} tokens) at 1,000 tok/s" in text
    assert "Cold start" in text and "Targets" in text
    targets = bench.check_targets(report)
    assert any(t.met is not None for t in targets)  # the baseline and cold-start ratios
    assert all(str(t).strip().startswith(("met", "NOT met", "unknown")) for t in targets)
    raw = json.loads(json.dumps(bench.report_json(report)))
    assert {c["app"] for c in raw["cells"]} == {"tokentide", "baseline"}


# --------------------------------------------------------------------------- harness, fast


def test_escape_filter_joins_text_split_by_escapes_and_answers_queries() -> None:
    replies: list[bytes] = []
    screen = bench.EscapeFilter(replies.append)
    pieces = [b"\x1b[?2026$p\x1b[1;1HQZ", b"\x1b[38;2;1", b";2;3mX\x1b]0;title\x07JV\x1b", b"[0m"]
    assert b"".join(screen.feed(p) for p in pieces) == b"QZXJV"
    assert replies == [b"\x1b[?2026;0$y"]


def test_longest_gap_is_clipped_to_the_window() -> None:
    writes = [0.5, 1.0, 1.2, 2.5, 4.0]
    assert bench.longest_gap(writes, start=0.8, end=3.0) == pytest.approx(1.3)
    assert bench.longest_gap([], start=1.0, end=2.0) == pytest.approx(1.0)
    assert bench.longest_gap(writes, start=2.6, end=3.0) == pytest.approx(0.4)
