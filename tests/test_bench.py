"""`tokentide bench`: figures that agree with the demo server's schedule, runs
that really overlap, errors counted apart, the JSON shape, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import CMD, clean_env, tokentide
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import split_tokens
from tokentide.client.lanes import resolve_lanes
from tokentide.tui.bench import FIGURES, Bench, ModelBench, weighted_percentile
from tokentide.tui.store import percentile

TEXT = " ".join(f"word{i}" for i in range(40))
PROMPT = f"/echo {TEXT}"
TOKENS = len(split_tokens(TEXT))


def config(tmp_path: Path, server: DemoServer) -> Path:
    """Two providers of two wire formats, both the one demo server."""
    path = tmp_path / "config.toml"
    host = server.base_url.removesuffix("/v1")
    path.write_text(
        f'[providers.oa]\nwire = "openai"\nbase_url = "{server.base_url}"\nmodel = "demo"\n'
        f'[providers.an]\nwire = "anthropic"\nbase_url = "{host}"\nmodel = "demo"\n'
    )
    return path


def lanes(tmp_path: Path, server: DemoServer, *specs: str):
    return resolve_lanes(list(specs), env={}, path=config(tmp_path, server))


def close(value: float | None, expected: float, share: float = 0.05) -> bool:
    return value is not None and abs(value - expected) <= expected * share


async def test_figures_agree_with_the_schedule(tmp_path):
    rate, ttft = 100.0, 0.3
    with DemoServer(tokens_per_second=rate, ttft=ttft) as server:
        bench = Bench(lanes(tmp_path, server, "oa:demo"), PROMPT, runs=4)
        [result] = await bench.run()
    data = result.to_dict()
    assert (data["runs"], data["errors"], data["error"]) == (4, 0, None)
    # TTFT: the schedule's, plus the loopback (a few ms), never less.
    assert ttft * 1000 <= data["ttft_ms"]["p50"] <= ttft * 1000 * 1.05 + 5, data
    assert close(data["tokens_per_s"]["p50"], rate), data
    # 10 %: on a loaded machine the server's own sleeps run late by half a ms.
    assert close(data["itl_ms"]["p50"], 1000 / rate, 0.1), data
    assert close(data["total_ms"]["p50"], (ttft + (TOKENS - 1) / rate) * 1000), data
    assert data["tokens"] == {"p50": TOKENS, "p90": TOKENS, "p99": TOKENS}
    assert data["ttft_ms"]["p50"] <= data["ttft_ms"]["p90"] <= data["ttft_ms"]["p99"]


async def test_concurrency_overlaps_runs_and_models_run_one_after_another(tmp_path):
    with DemoServer(tokens_per_second=200, ttft=0.1) as server:
        bench = Bench(lanes(tmp_path, server, "oa:demo", "an:demo"), PROMPT, runs=6, concurrency=3)
        results = await bench.run()
        records = server.requests
    assert [(r.runs, r.errors) for r in results] == [(6, 0), (6, 0)]
    assert [r.path for r in records] == ["/v1/chat/completions"] * 6 + ["/v1/messages"] * 6
    for model in (records[:6], records[6:]):
        in_flight = [
            sum(1 for s in model if s.received_at <= r.received_at < s.ended_at) for r in model
        ]
        assert max(in_flight) == 3, in_flight  # three at once, never more
    # The second model starts once the first has finished: they never share the server.
    assert min(r.received_at for r in records[6:]) >= max(r.ended_at for r in records[:6])
    # Both wire formats measure the same schedule.
    for result in results:
        assert close(result.figure("tokens_per_s")["p50"], 200), result.to_dict()


async def test_failed_runs_are_counted_not_measured_and_never_retried(tmp_path):
    with DemoServer(tokens_per_second=400, ttft=0.02) as server:
        server.inject("http:429")
        server.inject("midstream_error")
        bench = Bench(lanes(tmp_path, server, "oa:demo"), PROMPT, runs=5)
        [result] = await bench.run()
        assert len(server.requests) == 5  # the 429 was not sent again
    assert (result.runs, result.errors) == (5, 2)
    assert result.error is not None and "429" in result.error and "\n" not in result.error
    assert len(result.ttft_ms) == len(result.tokens) == 3  # the finished runs only
    assert close(result.figure("tokens_per_s")["p50"], 400)


async def test_a_model_whose_every_run_fails_has_no_figures(tmp_path):
    with DemoServer(tokens_per_second=400, ttft=0.02) as server:
        bench = Bench(lanes(tmp_path, server, "oa:demo"), "/fault truncate hi", runs=2)
        [result] = await bench.run()
    assert (result.runs, result.errors) == (2, 2)
    assert "cut off" in (result.error or "")
    assert all(result.figure(name) == dict.fromkeys(("p50", "p90", "p99")) for name in FIGURES)


def test_itl_is_over_every_token_not_over_each_runs_median(tmp_path):
    [lane] = resolve_lanes(["demo:demo"], env={}, path=tmp_path / "none.toml")
    result = ModelBench(lane, planned=2)
    result.gaps = [(0.010, 1)] * 99 + [(0.100, 1)] * 11  # a smooth run, then a stuttering one
    itl = result.figure("itl_ms")
    assert itl["p50"] == 10.0  # the medians' median would be 55 ms
    assert itl["p90"] == pytest.approx(10.0 + 90 * 0.1, abs=0.01)  # rank 98.1 of 110
    assert itl["p99"] == 100.0


@pytest.mark.parametrize(
    "pairs",
    [
        [(3.0, 1), (1.0, 1), (2.0, 1)],
        [(1.0, 4), (5.0, 1), (2.0, 3)],
        [(7.0, 1)],
        [(1.0, 2), (9.0, 2)],
    ],
)
@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_weighted_percentile_is_the_percentile_of_the_repeated_values(pairs, q):
    repeated = [value for value, weight in pairs for _ in range(weight)]
    assert weighted_percentile(pairs, q) == pytest.approx(percentile(repeated, q))


def test_weighted_percentile_of_nothing_is_none():
    assert weighted_percentile([], 0.5) is None
    assert weighted_percentile([(1.0, 0)], 0.5) is None


# -- the command -------------------------------------------------------------------


def bench_env(tmp_path: Path, server: DemoServer) -> dict[str, str]:
    return clean_env(tmp_path, TOKENTIDE_CONFIG=str(config(tmp_path, server)))


def test_cli_json_shape_and_nothing_in_the_history(tmp_path):
    with DemoServer(tokens_per_second=400, ttft=0.05) as server:
        env = bench_env(tmp_path, server)
        history = tmp_path / "history.sqlite"
        env["TOKENTIDE_HISTORY"] = str(history)
        result = tokentide(
            "bench", "-m", "oa:demo", "-m", "an:demo", "--runs", "2", "--json", PROMPT, env=env
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == ["models"]
    assert [(m["provider"], m["model"]) for m in data["models"]] == [("oa", "demo"), ("an", "demo")]
    for model in data["models"]:
        assert list(model) == ["provider", "model", "runs", "errors", "error", *FIGURES]
        assert (model["runs"], model["errors"], model["error"]) == (2, 0, None)
        for name in FIGURES:
            assert list(model[name]) == ["p50", "p90", "p99"]
            assert all(isinstance(v, int | float) for v in model[name].values())
        assert close(model["tokens_per_s"]["p50"], 400, share=0.1)
    assert not history.exists()


def test_cli_table_to_a_pipe(tmp_path):
    with DemoServer(tokens_per_second=400, ttft=0.05) as server:
        server.inject("http:503")
        result = tokentide(
            "bench", "-m", "oa:demo", "-n", "3", PROMPT, env=bench_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "runs", "errors", "figure", "p50", "p90", "p99"]
    assert lines[1].split()[:5] == ["oa:demo", "3", "1", "TTFT", "ms"]
    assert [line.split()[0] for line in lines[2:]] == ["tokens/s", "ITL", "total", "tokens"]
    assert lines[5].split()[1:] == [str(TOKENS)] * 3
    assert "\x1b" not in result.stdout
    [note] = result.stderr.splitlines()
    assert note.startswith("tokentide: oa:demo: 1 of 3 runs failed, the first: ") and "503" in note


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--runs", "0"], "--runs 0"),
        (["--concurrency", "0"], "--concurrency 0"),
        (["-n", "-3"], "--runs -3"),
    ],
)
def test_cli_bad_counts_are_one_line_errors(tmp_path, args, words):
    result = tokentide("bench", "-m", "demo:demo", *args, "hi", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"tokentide: error: {words}")


def test_cli_every_run_failing_exits_1(tmp_path):
    with DemoServer(tokens_per_second=400, ttft=0.02) as server:
        result = tokentide(
            "bench", "-m", "oa:demo", "-n", "2", "--json", "/fault http:500 hi",
            env=bench_env(tmp_path, server),
        )  # fmt: skip
    assert result.returncode == 1
    [model] = json.loads(result.stdout)["models"]
    assert (model["runs"], model["errors"]) == (2, 2)
    assert model["ttft_ms"] == {"p50": None, "p90": None, "p99": None}


def test_ctrl_c_closes_every_running_stream_and_prints_what_was_measured(tmp_path):
    with DemoServer(tokens_per_second=100, ttft=0.02) as server:
        proc = subprocess.Popen(
            [*CMD, "bench", "-m", "oa:demo", "-n", "6", "-c", "2", "--json", PROMPT],
            env=bench_env(tmp_path, server),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Runs 1 and 2 are done, 3 and 4 both streaming.
        for run in (3, 4):
            server.wait_for(lambda r, run=run: r.id == run and r.tokens_sent >= 5, timeout=20)
        sent_at = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        records = server.requests
    assert proc.returncode == 130, err
    running = [r for r in records if r.id in (3, 4)]
    assert all(not r.completed and r.disconnected_at is not None for r in running), running
    assert all(r.disconnected_at - sent_at < 0.2 for r in running)
    assert len(records) == 4  # no run started after the stop
    [model] = json.loads(out)["models"]
    assert (model["runs"], model["errors"]) == (2, 0)  # the cut-short runs count as neither
    assert close(model["tokens_per_s"]["p50"], 100)
    [line] = err.splitlines()
    assert line == "tokentide: stopped by Ctrl-C after 2 of 6 runs: the figures are those runs"
