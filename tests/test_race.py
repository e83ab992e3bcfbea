"""`tokentide race` and its runner (tui/race.py), against real demo servers.

Two servers at different paces (each its own TTFT and tokens/s) and two wire
formats at once: each lane's text is exact, each lane's TTFT and tokens/s
are its own server's schedule, the lanes run at the same time (the race takes
about as long as its slowest lane, not the sum), a stop closes every
connection (each server records the EOF), one lane's failure leaves the
others alone, and the history has one prompt with one answer per lane.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import CMD, clean_env, tokentide
from tokentide.client.config import Endpoint, Settings, Timeouts
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import choose_answer
from tokentide.client.events import StreamEvent, TextDelta
from tokentide.client.lanes import Lane, LaneSpec
from tokentide.tui.race import Race, RaceLane
from tokentide.tui.recorder import Recording
from tokentide.tui.store import Store
from tokentide.tui.turn import Outcome, Params

FAST = {"ttft": 0.1, "tokens_per_second": 100.0}
SLOW = {"ttft": 0.3, "tokens_per_second": 50.0}
TEXT_A = " ".join(f"alpha{i}" for i in range(60))
TEXT_B = " ".join(f"beta{i}" for i in range(40))
EOF_BUDGET = 0.2
"""Seconds from a stop to each server seeing EOF."""


@pytest.fixture
def fast() -> Iterator[DemoServer]:
    with DemoServer(**FAST) as server:
        yield server


@pytest.fixture
def slow() -> Iterator[DemoServer]:
    with DemoServer(**SLOW) as server:
        yield server


def lane(name: str, wire: str, server: DemoServer) -> Lane:
    base = server.base_url if wire == "openai" else server.base_url.removesuffix("/v1")
    endpoint = Endpoint(name, wire, base, "demo")
    settings = Settings(endpoint, timeouts=Timeouts(connect=2, read=5))
    return Lane(LaneSpec(f"{name}:demo", name, "demo"), settings)


def tokens_of(server: DemoServer) -> int:
    (record,) = [r for r in server.requests if r.stream]
    return record.tokens_sent


async def test_lanes_are_exact_timed_by_their_own_server_and_concurrent(
    fast: DemoServer, slow: DemoServer, tmp_path: Path
) -> None:
    fast.script(TEXT_A)
    slow.script(TEXT_B)
    texts: dict[int, str] = {0: "", 1: ""}
    ended: list[str] = []

    def sink(racer: RaceLane, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            texts[racer.index] += event.text

    store = Store.open(tmp_path / "history.db")
    lanes = [lane("oa", "openai", fast), lane("an", "anthropic", slow)]
    recording = Recording(store, None, lanes[0].settings, Params(), warn=pytest.fail)
    race = Race(
        lanes,
        "race me",
        sink=sink,
        on_lane_done=lambda racer: ended.append(racer.label),
        recording=recording,
    )
    started = time.perf_counter()
    await race.run()
    wall = time.perf_counter() - started

    assert [r.outcome for r in race.lanes] == [Outcome.FINISHED, Outcome.FINISHED]
    assert [r.message.text for r in race.lanes] == [TEXT_A, TEXT_B]
    assert texts == {0: TEXT_A, 1: TEXT_B}  # the sink saw every delta, each in its lane
    assert ended == ["oa:demo", "an:demo"]  # the fast lane ends first

    # Each lane's numbers are its own server's schedule.
    for racer, server, pace in ((race.lanes[0], fast, FAST), (race.lanes[1], slow, SLOW)):
        metrics = racer.metrics()
        assert metrics.tokens_received == tokens_of(server)
        assert metrics.ttft_ms is not None and metrics.tokens_per_s is not None
        assert pace["ttft"] * 1000 <= metrics.ttft_ms <= pace["ttft"] * 1000 + 100
        assert metrics.tokens_per_s == pytest.approx(pace["tokens_per_second"], rel=0.1)
        assert metrics.itl_p50_ms == pytest.approx(1000 / pace["tokens_per_second"], rel=0.25)

    # Concurrent: the race lasts about as long as its slowest lane, not the sum.
    totals = [r.metrics().total_ms / 1000 for r in race.lanes]
    assert wall < max(totals) + 0.25, (wall, totals)
    assert wall < 0.8 * sum(totals), (wall, totals)

    # Both servers' requests were in flight together.
    a, b = fast.requests[-1], slow.requests[-1]
    assert a.received_at < b.ended_at and b.received_at < a.ended_at

    # The history: one prompt, one answer per lane under it, the first finished chosen.
    conversation = store.conversations()[0].id
    rows = store.messages(conversation)
    prompt, *answers = rows
    assert prompt.role == "user" and prompt.text == "race me"
    assert {r.parent_id for r in answers} == {prompt.id}
    assert {(r.provider, r.wire, r.model, r.text, r.outcome, r.chosen) for r in answers} == {
        ("oa", "openai", "demo", TEXT_A, "finished", True),
        ("an", "anthropic", "demo", TEXT_B, "finished", False),
    }
    store.close()


async def test_one_failing_lane_leaves_the_others_alone(
    fast: DemoServer, slow: DemoServer, tmp_path: Path
) -> None:
    fast.inject("midstream_error")
    slow.script(TEXT_B)
    store = Store.open(tmp_path / "history.db")
    lanes = [lane("oa", "openai", fast), lane("an", "anthropic", slow)]
    recording = Recording(store, None, lanes[0].settings, Params(), warn=pytest.fail)
    race = Race(lanes, "race me", recording=recording)
    await race.run()

    failed, finished = race.lanes
    assert failed.outcome is Outcome.FAILED and failed.message.error
    assert finished.outcome is Outcome.FINISHED and finished.message.text == TEXT_B
    assert race.winner() is finished
    rows = store.messages(store.conversations()[0].id)
    chosen = {r.provider: r.chosen for r in rows if r.role == "assistant"}
    assert chosen == {"oa": False, "an": True}  # the first lane that finished
    store.close()


async def test_a_sink_that_raises_ends_its_lane_only(fast: DemoServer, slow: DemoServer) -> None:
    fast.script(TEXT_A)
    slow.script(TEXT_B)

    def sink(racer: RaceLane, event: StreamEvent) -> None:
        if racer.index == 1 and isinstance(event, TextDelta):
            raise RuntimeError("drawing broke")

    race = Race([lane("oa", "openai", fast), lane("an", "anthropic", slow)], "hi", sink=sink)
    await race.run()
    good, broken = race.lanes
    assert good.outcome is Outcome.FINISHED and good.message.text == TEXT_A
    assert broken.outcome is Outcome.FAILED and broken.bug == "RuntimeError: drawing broke"
    # The broken lane's connection was closed, not left generating.
    record = slow.wait_for(lambda r: r.stream and r.disconnected_at is not None)
    assert not record.completed


async def test_abort_from_another_thread_closes_every_connection_at_once(
    fast: DemoServer, slow: DemoServer, tmp_path: Path
) -> None:
    fast.tokens_per_second = slow.tokens_per_second = 20  # long enough to be mid-answer
    store = Store.open(tmp_path / "history.db")
    lanes = [lane("oa", "openai", fast), lane("an", "anthropic", slow)]
    recording = Recording(store, None, lanes[0].settings, Params(), warn=pytest.fail)
    race = Race(lanes, "tell me about rust", recording=recording)
    running = asyncio.ensure_future(race.run())
    records = [
        await server.await_for(lambda r: r.stream and r.tokens_sent >= 5, timeout=10)
        for server in (fast, slow)
    ]
    stopped_at: list[float] = []

    def press() -> None:
        stopped_at.append(time.perf_counter())
        race.abort()

    threading.Thread(target=press).start()
    gone = [
        await server.await_for(
            lambda r, i=record.id: r.id == i and r.disconnected_at is not None, timeout=5
        )
        for server, record in zip((fast, slow), records, strict=True)
    ]
    await running
    for record in gone:
        assert record.disconnected_at - stopped_at[0] < EOF_BUDGET
        assert not record.completed
    assert [r.outcome for r in race.lanes] == [Outcome.STOPPED, Outcome.STOPPED]
    assert all(r.message.cancelled and r.message.text for r in race.lanes)
    answers = [r for r in store.messages(store.conversations()[0].id) if r.role == "assistant"]
    assert sorted(r.outcome for r in answers) == ["stopped", "stopped"]
    assert sum(r.chosen for r in answers) == 1
    store.close()


async def test_cancelling_the_race_stops_every_lane(fast: DemoServer, slow: DemoServer) -> None:
    fast.tokens_per_second = slow.tokens_per_second = 20
    race = Race([lane("oa", "openai", fast), lane("an", "anthropic", slow)], "hi")
    running = asyncio.ensure_future(race.run())
    await fast.await_for(lambda r: r.stream and r.tokens_sent >= 3, timeout=10)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert [r.outcome for r in race.lanes] == [Outcome.STOPPED, Outcome.STOPPED]
    for server in (fast, slow):
        record = server.wait_for(lambda r: r.stream and r.disconnected_at is not None)
        assert not record.completed


# --------------------------------------------------------------------------- tokentide race


PACE = {"ttft": 0.2, "tokens_per_second": 80.0}
TEXT = " ".join(f"word{i}" for i in range(50))


@pytest.fixture
def demo() -> Iterator[DemoServer]:
    with DemoServer(**PACE) as server:
        yield server


def race_env(tmp_path: Path, server: DemoServer) -> dict[str, str]:
    """Two providers of the config file on one demo server, each its own wire format."""
    host = server.base_url.removesuffix("/v1")
    config = tmp_path / "config.toml"
    config.write_text(
        'provider = "oa"\n'
        f'[providers.oa]\nwire = "openai"\nbase_url = "{host}/v1"\nmodel = "demo"\n'
        f'[providers.an]\nwire = "anthropic"\nbase_url = "{host}"\nmodel = "demo"\n'
    )
    return clean_env(tmp_path, TOKENTIDE_CONFIG=str(config))


def exported(env: dict[str, str]) -> list[dict]:
    """Every message of the newest conversation, alternatives too."""
    listed = tokentide("history", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    newest = json.loads(listed.stdout)[0]["id"]
    shown = tokentide("history", "export", str(newest), "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["messages"]


def test_race_json_two_wire_formats_at_once(demo: DemoServer, tmp_path: Path) -> None:
    demo.script(TEXT)
    demo.script(TEXT)
    env = race_env(tmp_path, demo)
    result = tokentide("race", "-m", "oa:demo", "-m", "an:demo", "--json", "go", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lanes = json.loads(result.stdout)["lanes"]
    assert [(lane["provider"], lane["wire"], lane["model"]) for lane in lanes] == [
        ("oa", "openai", "demo"),
        ("an", "anthropic", "demo"),
    ]
    chats = [r for r in demo.requests if r.stream]
    assert sorted(r.path for r in chats) == ["/v1/chat/completions", "/v1/messages"]
    for lane in lanes:
        assert lane["text"] == TEXT
        assert lane["finish_reason"] == "stop"
        assert lane["cancelled"] is False and lane["error"] is None
        assert lane["tokens_saved"] is None
        assert {"reasoning", "tool_calls", "usage"} <= lane.keys()
        metrics = lane["metrics"]
        assert 200 <= metrics["ttft_ms"] <= 300
        assert metrics["tokens_per_s"] == pytest.approx(80, rel=0.1)
        assert metrics["itl_ms"]["p50"] == pytest.approx(12.5, rel=0.25)
        assert metrics["itl_ms"]["p99"] >= metrics["itl_ms"]["p50"]
        assert metrics["longest_stall_ms"] >= metrics["itl_ms"]["p50"]
    # Streamed at the same time: each request began before the other ended.
    a, b = chats
    assert a.received_at < b.ended_at and b.received_at < a.ended_at

    prompt, *answers = exported(env)
    assert prompt["role"] == "user" and prompt["text"] == "go"
    assert [a["parent_id"] for a in answers] == [prompt["id"]] * 2
    assert {(a["provider"], a["wire"], a["text"], a["chosen"]) for a in answers} == {
        ("oa", "openai", TEXT, True),
        ("an", "anthropic", TEXT, False),
    }


def test_race_to_a_pipe_prints_each_answer_under_its_label(
    demo: DemoServer, tmp_path: Path
) -> None:
    demo.tokens_per_second = 500
    demo.script(TEXT)
    demo.script(TEXT)
    env = race_env(tmp_path, demo)
    result = tokentide("race", "-m", "an:demo", "-m", "oa:", "--no-log", "go", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"== an:demo ==\n{TEXT}\n== oa:demo ==\n{TEXT}\n"
    header, *rows = result.stderr.splitlines()
    assert header.split() == ["model", "TTFT", "tok/s", "ITL", "p50", "tokens", "cost", "outcome"]
    assert [row.split()[0] for row in rows] == ["an:demo", "oa:demo"]
    assert all(row.endswith("finished (stop)") for row in rows)
    assert tokentide("history", "list", "--json", env=env).stdout.strip() == "[]"


def test_race_ctrl_c_closes_every_connection_at_once(demo: DemoServer, tmp_path: Path) -> None:
    demo.tokens_per_second, demo.ttft = 40, 0.05
    env = race_env(tmp_path, demo)
    args = ["race", "-m", "oa:demo", "-m", "an:demo", "tell me about rust"]
    with subprocess.Popen(
        [*CMD, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        streaming = [
            demo.wait_for(lambda r, p=path: r.path == p and r.tokens_sent >= 10, timeout=15)
            for path in ("/v1/chat/completions", "/v1/messages")
        ]
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        gone = [
            demo.wait_for(lambda r, i=r.id: r.id == i and r.disconnected_at is not None, 5)
            for r in streaming
        ]
        out, err = proc.communicate(timeout=15)
    latencies = [record.disconnected_at - sent for record in gone]
    print(f"\nCtrl-C: each server EOF {[round(x * 1000, 1) for x in latencies]} ms after")
    assert proc.returncode == 130, err
    assert all(latency < EOF_BUDGET for latency in latencies), latencies
    assert not any(record.completed for record in gone)
    assert "Traceback" not in err
    assert "tokentide: cancelled: oa:demo after " in err
    # What arrived is printed, each lane a true prefix of the answer.
    answer = choose_answer("tell me about rust")
    first, second = out.split("== an:demo ==\n")
    assert first.startswith("== oa:demo ==\n")
    for text in (first.removeprefix("== oa:demo ==\n"), second):
        assert text and answer.startswith(text.rstrip("\n")) and text != answer
    answers = [m for m in exported(env) if m["role"] == "assistant"]
    assert sorted(a["outcome"] for a in answers) == ["stopped", "stopped"]


def test_race_one_bad_lane_is_one_line(demo: DemoServer, tmp_path: Path) -> None:
    env = race_env(tmp_path, demo)
    alone = tokentide("race", "-m", "oa:demo", "hi", env=env)
    assert alone.returncode == 2
    assert alone.stderr == (
        "tokentide: error: name at least 2 models (got 1) — add -m [PROVIDER:]MODEL\n"
    )
    assert not demo.requests  # nothing was sent

    demo.tokens_per_second = 500
    demo.script(TEXT)
    bad = tokentide("race", "-m", "nope:demo", "-m", "an:demo", "--no-log", "hi", env=env)
    assert bad.returncode == 1
    assert bad.stdout.endswith(f"== an:demo ==\n{TEXT}\n")  # the other lane ran on
    (line,) = [x for x in bad.stderr.splitlines() if x.startswith("tokentide:")]
    assert line.startswith("tokentide: oa:nope:demo: error: HTTP 404")
    assert line.endswith(
        "('nope' is no provider here: the whole of 'nope:demo' was sent as the model)"
    )


def test_race_on_a_terminal_draws_the_lanes_then_the_table(
    demo: DemoServer, tmp_path: Path
) -> None:
    demo.tokens_per_second = 400
    demo.script(TEXT)
    demo.script(TEXT)
    env = race_env(tmp_path, demo)
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="20")
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (20, 100))
    with subprocess.Popen(
        [*CMD, "race", "-m", "oa:demo", "-m", "an:demo", "--no-log", "go"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    ) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=15)
    os.close(master)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())
    assert code == 0, screen
    # Side by side (100 columns: 2 lanes of at least 40), each header finished.
    assert re.search(r"✓ oa:demo .*✓ an:demo ", screen), screen
    table = screen[screen.rindex("model") :]
    assert "oa:demo" in table and "an:demo" in table and "finished (stop)" in table
