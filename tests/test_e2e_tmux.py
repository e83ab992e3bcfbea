"""The installed `tokentide` in a real terminal (tmux, 120x40) against a loopback DemoServer.

What only a real terminal shows: keys arrive as bytes through a pty and
Textual's input parser (a lone Esc byte waits ESCDELAY, 100 ms, before it
becomes the `escape` key), the app renders to a real screen, and the server
sees the socket close. The key measurement is end to end: from just before
`tmux send-keys Escape` to the server noticing EOF, within 150 ms every time.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import Tmux
from tokentide.client.demo import DemoServer, RequestRecord
from tokentide.client.demo.answers import choose_answer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

TOKENTIDE = Path(sys.executable).parent / "tokentide"
WIDTH, HEIGHT = 120, 40

ESC_BUDGET = 0.150
"""Seconds from the Esc key to the server seeing EOF (ESCDELAY is 100 ms of it)."""

STOPPED_RE = re.compile(r"stopped · ~?(\d+) tokens? received · ~(\d+) saved")
COMPOSER_PLACEHOLDER = "Ask anything"
STREAMING_MARK = "● streaming"

# Each a different long canned answer (see tokentide.client.demo.answers).
LONG_PROMPTS = [
    "tell me about rust",
    "explain a sql window query",
    "how do I use asyncio in python",
    "some bash shell tips",
    "compare yaml and toml config",
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def server() -> Iterator[DemoServer]:
    # 40 tokens/s: the long answers take tens of seconds, so Esc always lands mid-answer.
    with DemoServer(tokens_per_second=40, ttft=0.2) as demo:
        yield demo


@pytest.fixture
def term(tmp_path: Path, server: DemoServer) -> Iterator[Tmux]:
    """The installed app running in a fresh 120x40 tmux pane, composer on screen."""
    assert TOKENTIDE.exists(), f"console script not installed at {TOKENTIDE}"
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    tmux = Tmux(tmp_path, width=WIDTH, height=HEIGHT)
    try:
        tmux.start([str(TOKENTIDE), "--base-url", server.base_url, "--model", "demo"], env)
        assert tmux.size() == (WIDTH, HEIGHT)
        tmux.wait_for_text(COMPOSER_PLACEHOLDER, timeout=15)
        yield tmux
    finally:
        tmux.kill()


# --------------------------------------------------------------------------- helpers


def chat_requests(server: DemoServer) -> list[RequestRecord]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def send_prompt(term: Tmux, server: DemoServer, prompt: str) -> RequestRecord:
    """Type `prompt` + Enter; return the chat request it produced, once it has arrived."""
    last = max((r.id for r in chat_requests(server)), default=0)
    term.send_text(prompt)
    term.wait_for_text(prompt, timeout=5)  # echoed in the composer: the keys got there
    term.send_keys("Enter")
    return server.wait_for(lambda r: r.id > last and r.path.endswith("/chat/completions"), 5)


def wait_streaming(term: Tmux, server: DemoServer, record: RequestRecord, tokens: int) -> str:
    """Wait until the server has sent `tokens` tokens and the app shows it is streaming."""
    server.wait_for(lambda r: r.id == record.id and r.tokens_sent >= tokens, timeout=10)
    return term.wait_for_text(STREAMING_MARK, timeout=5)


def press_esc(term: Tmux, server: DemoServer, record: RequestRecord) -> tuple[float, RequestRecord]:
    """Press Esc; return (seconds from the key to the server seeing EOF, the request then)."""
    pressed = time.perf_counter()
    term.send_keys("Escape")
    try:
        done = server.wait_for(lambda r: r.id == record.id and r.disconnected_at is not None, 3)
    except TimeoutError:
        late = next(r for r in server.requests if r.id == record.id)
        pytest.fail(
            f"Esc did not close the connection within 3 s (completed={late.completed}, "
            f"{late.tokens_sent} tokens sent):\n{term.screen()}"
        )
    assert done.disconnected_at is not None
    return done.disconnected_at - pressed, done


def wait_stopped(term: Tmux) -> tuple[list[tuple[int, int]], str]:
    """Wait until the stream is over and the stopped line is on screen; its (N, M)s."""

    def stopped(screen: str) -> list[tuple[int, int]] | None:
        if STREAMING_MARK in screen:
            return None
        return [(int(n), int(m)) for n, m in STOPPED_RE.findall(screen)] or None

    return term.wait_until(stopped, timeout=5, what="the stopped footer")


# --------------------------------------------------------------------------- tests


def test_esc_stops_mid_answer_and_app_keeps_working(term: Tmux, server: DemoServer) -> None:
    prompt = "tell me about rust"
    long_answer = choose_answer(prompt)
    heading = long_answer.splitlines()[0].lstrip("# ")  # "Ownership and borrowing in Rust"

    first = send_prompt(term, server, prompt)
    wait_streaming(term, server, first, tokens=40)
    term.wait_for_text(heading, timeout=5)  # answer text is on screen, not just counted

    latency, first = press_esc(term, server, first)
    print(f"\nEsc → server EOF: {latency * 1000:.1f} ms after {first.tokens_sent} tokens")
    assert latency <= ESC_BUDGET, f"server saw EOF {latency * 1000:.0f} ms after Esc"
    assert not first.completed

    counts, screen = wait_stopped(term)
    print(f"stopped lines on screen (received, saved): {counts}; server sent {first.tokens_sent}")
    for received, saved in counts:  # the answer's footer, the status line, the toast
        assert abs(received - first.tokens_sent) <= 2, (received, first.tokens_sent, screen)
        assert saved > 0, screen

    # The app still works, and the stopped answer is part of the conversation.
    second = send_prompt(term, server, "/echo second answer ok")
    second = server.wait_for(lambda r: r.id == second.id and r.completed, timeout=10)
    term.wait_until(
        lambda s: any(
            "second answer ok" in line and "/echo" not in line for line in s.splitlines()
        ),
        timeout=5,
        what="the second answer",
    )
    term.wait_for_text("finished (stop)", timeout=5)

    messages = [m for m in second.body["messages"] if m["role"] != "system"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"], messages
    assert messages[0]["content"] == prompt
    partial = messages[1]["content"]
    assert partial and long_answer.startswith(partial), partial
    assert heading in partial
    assert messages[2]["content"] == "/echo second answer ok"

    term.send_keys("C-q")
    assert term.wait_for_exit(timeout=10) == 0, term.screen()


def test_esc_stops_every_time(term: Tmux, server: DemoServer) -> None:
    latencies: list[float] = []
    for prompt in LONG_PROMPTS:
        record = send_prompt(term, server, prompt)
        wait_streaming(term, server, record, tokens=20)
        latency, record = press_esc(term, server, record)
        latencies.append(latency)
        assert not record.completed
        counts, screen = wait_stopped(term)
        received, _ = counts[-1]  # the lowest on screen: the status line (or the toast)
        assert abs(received - record.tokens_sent) <= 2, (received, record.tokens_sent, screen)
    shown = ", ".join(f"{latency * 1000:.1f}" for latency in latencies)
    print(f"\nEsc → server EOF over {len(latencies)} runs (ms): {shown}")
    slow = [f"{latency * 1000:.0f} ms" for latency in latencies if latency > ESC_BUDGET]
    assert not slow, f"Esc over {ESC_BUDGET * 1000:.0f} ms in runs: {shown}"
