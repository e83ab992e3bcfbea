"""SIGTERM and SIGHUP mid-answer, in `ask` and in the app, through real sockets.

What a signalled tokentide must do (tui/signals.py): shut the connection
down at once (the demo server records when it saw EOF), keep the partial
answer and store it as interrupted, restore the terminal, and exit 128 + the
signal with one line on stderr. Python's default is none of that: exit -15,
nothing said, and the app's terminal left in raw mode on the alternate
screen.

Every wait is on an event: the demo server's request records (a token count
reached, a disconnect seen), the process's exit, or the tmux screen polled
against a deadline.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import CMD, clean_env, tokentide
from tests.tmux import Tmux
from tokentide.client.demo import DemoServer, RequestRecord
from tokentide.client.demo.answers import choose_answer

PROMPT = "tell me about rust"
"""A long canned answer: at 40 tokens/s it is still streaming when the signal comes."""

EOF_BUDGET = 0.2
"""Seconds from the signal to the server seeing EOF (measured: 1-3 ms)."""

SIGNALS = [
    pytest.param(signal.SIGTERM, 143, id="SIGTERM"),
    pytest.param(signal.SIGHUP, 129, id="SIGHUP"),
]

LINE_RE = re.compile(r"tokentide: stopped by (SIG\w+) · partial answer kept \((\d+) tokens?\)")


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=40, ttft=0.05) as demo:
        yield demo


def chat_request(server: DemoServer, tokens: int) -> RequestRecord:
    """The chat request, once the server has sent it `tokens` tokens."""
    return server.wait_for(
        lambda r: r.path.endswith("/chat/completions") and r.tokens_sent >= tokens, timeout=15
    )


def signal_and_wait_eof(
    server: DemoServer, record: RequestRecord, pid: int, signum: int
) -> tuple[float, RequestRecord]:
    """Send `signum` to `pid`; (seconds until the server saw EOF, the request then)."""
    sent = time.perf_counter()
    os.kill(pid, signum)
    done = server.wait_for(lambda r: r.id == record.id and r.disconnected_at is not None, 5)
    assert done.disconnected_at is not None
    return done.disconnected_at - sent, done


def stored_answer(env: dict[str, str]) -> dict:
    """The newest conversation's answer, as `tokentide history show --json` gives it."""
    listed = tokentide("history", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    newest = json.loads(listed.stdout)[0]["id"]
    shown = tokentide("history", "show", str(newest), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    messages = json.loads(shown.stdout)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"], messages
    assert messages[0]["text"] == PROMPT
    return messages[1]


# --------------------------------------------------------------------------- ask


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_ask_signal_mid_answer(
    server: DemoServer, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    env = clean_env(tmp_path)
    args = ["ask", "--base-url", server.base_url, "--model", "demo", PROMPT]
    with subprocess.Popen(
        [*CMD, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        record = chat_request(server, tokens=10)
        latency, record = signal_and_wait_eof(server, record, proc.pid, signum)
        out, err = proc.communicate(timeout=15)
    print(f"\n{signum.name}: server EOF {latency * 1000:.1f} ms after the signal")

    assert proc.returncode == code, (proc.returncode, err)
    assert latency <= EOF_BUDGET, f"server saw EOF {latency * 1000:.0f} ms after {signum.name}"
    assert not record.completed
    lines = err.splitlines()
    assert len(lines) == 1, err
    match = LINE_RE.fullmatch(lines[0])
    assert match is not None, lines[0]
    assert match[1] == signum.name
    kept = int(match[2])
    assert 0 < kept <= record.tokens_sent
    # A pipe gets exactly what arrived: a true prefix of the canned answer.
    answer = choose_answer(PROMPT)
    assert out and answer.startswith(out) and out != answer

    stored = stored_answer(env)
    assert stored["outcome"] == "interrupted"
    assert stored["error"] == f"stopped by {signum.name}"
    assert stored["text"] == out
    assert stored["tokens_received"] == kept


def _pty_run(
    argv: list[str], env: dict[str, str], server: DemoServer, tokens: int, signum: int
) -> tuple[int, str]:
    """Run `argv` with stdout and stderr on a new pty (a terminal, as a person
    has); signal it once the server has sent `tokens` tokens. (exit code, all
    it wrote to the terminal)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
        ) as proc:
            os.close(slave)
            slave = -1
            record = chat_request(server, tokens)
            signal_and_wait_eof(server, record, proc.pid, signum)
            code = proc.wait(timeout=15)
        reader.join(timeout=5)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_ask_sigterm_on_a_terminal_restores_the_cursor(server: DemoServer, tmp_path: Path) -> None:
    """A JSON answer drawn live hides the cursor (rich's Live): a signal must not
    leave it hidden."""
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"summary": {"type": "string"}}}))
    env = clean_env(tmp_path, TERM="xterm-256color", COLUMNS="100", LINES="30")
    argv = [*CMD, "ask", "--base-url", server.base_url, "--model", "demo"]
    argv += ["--json-schema", str(schema), PROMPT]
    code, shown = _pty_run(argv, env, server, tokens=4, signum=signal.SIGTERM)

    assert code == 143, shown
    hidden = shown.rfind("\x1b[?25l")
    assert hidden >= 0, f"the live view never hid the cursor: {shown!r}"
    assert shown.find("\x1b[?25h", hidden) > hidden, f"cursor left hidden: {shown!r}"
    assert LINE_RE.search(shown), shown


def test_ask_sighup_during_thinking_resets_the_dim_style(
    server: DemoServer, tmp_path: Path
) -> None:
    """Reasoning is drawn dimmed on a terminal's stderr: the style is reset
    before the last line, so the shell's prompt is not left dim."""
    env = clean_env(tmp_path, TERM="xterm-256color", COLUMNS="100", LINES="30")
    argv = [*CMD, "ask", "--base-url", server.base_url, "--model", "demo-think", PROMPT]
    code, shown = _pty_run(argv, env, server, tokens=4, signum=signal.SIGHUP)

    assert code == 129, shown
    dim = shown.rfind("\x1b[2m")
    assert dim >= 0, f"no reasoning was drawn: {shown!r}"
    assert shown.find("\x1b[0m", dim) > dim, f"dim style left on: {shown!r}"
    line = shown.splitlines()[-1]
    assert "stopped by SIGHUP" in line and "\x1b[2m" not in line, shown


# --------------------------------------------------------------------------- the app

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc)."""
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return found
    for child in map(int, children):
        found += [child, *_children(child)]
    return found


def _app_pid(term: Tmux) -> int:
    """The app's own process: the Python one under the pane's shell."""
    for pid in _children(int(term.display("#{pane_pid}"))):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if any(arg.endswith(b"tokentide") for arg in argv[:2]):
            return pid
    raise AssertionError("the app's process was not found under the pane")


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie counts: it runs no more)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


def _start_app_streaming(
    term: Tmux, server: DemoServer, env: dict[str, str], after: str = ""
) -> RequestRecord:
    """The app in `term` (then `after`, a shell command, once it exits),
    streaming the long answer; returns its request once 30 tokens are sent."""
    app = f"{CMD[0]} --base-url {server.base_url} --model demo"
    script = f"{app}; code=$?; {after} exit $code" if after else app
    term.start(["sh", "-c", script], env)
    term.wait_for_text("Ask anything", timeout=15)
    assert term.display("#{alternate_on}") == "1"
    term.send_text(PROMPT)
    term.send_keys("Enter")
    return chat_request(server, tokens=30)


@needs_tmux
@pytest.mark.e2e
@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_app_signal_mid_answer_restores_the_terminal(
    server: DemoServer, tmp_path: Path, app_env: dict[str, str], signum: signal.Signals, code: int
) -> None:
    modes = tmp_path / "stty.txt"
    term = Tmux(tmp_path)
    try:
        record = _start_app_streaming(term, server, app_env, after=f"stty -a > {modes};")
        latency, record = signal_and_wait_eof(server, record, _app_pid(term), signum)
        print(f"\napp {signum.name}: server EOF {latency * 1000:.1f} ms after the signal")
        assert term.wait_for_exit(timeout=15) == code, term.screen()
        # Off the alternate screen, the line on the shell's screen, cooked mode back.
        assert term.display("#{alternate_on}") == "0", term.screen()
        # The screen and its scrollback: where the line lands depends on where
        # the shell's cursor was when the app took the alternate screen.
        screen = term.run("capture-pane", "-p", "-S", "-", "-t", term.target).stdout
    finally:
        term.kill()
    assert latency <= EOF_BUDGET, f"server saw EOF {latency * 1000:.0f} ms after {signum.name}"
    match = LINE_RE.search(screen)
    assert match is not None and match[1] == signum.name, screen
    settings = modes.read_text().replace(";", " ").split()
    assert "icanon" in settings and "echo" in settings, f"terminal left raw: {settings}"

    stored = stored_answer(app_env)
    assert stored["outcome"] == "interrupted"
    assert stored["error"] == f"stopped by {signum.name}"
    assert stored["tokens_received"] == int(match[2])
    assert 0 < stored["tokens_received"] <= record.tokens_sent
    assert choose_answer(PROMPT).startswith(stored["text"])


@needs_tmux
@pytest.mark.e2e
def test_app_terminal_closed_mid_answer(
    server: DemoServer, tmp_path: Path, app_env: dict[str, str]
) -> None:
    """The real SIGHUP: the terminal itself goes away (tmux is killed), so the
    app cannot even draw its way out; it must still stop the answer, record
    it and exit rather than linger."""
    term = Tmux(tmp_path)
    try:
        record = _start_app_streaming(term, server, app_env)
        pid = _app_pid(term)
    finally:
        term.kill()
    record = server.wait_for(lambda r: r.id == record.id and r.disconnected_at is not None, 5)
    assert not record.completed
    deadline = time.monotonic() + 10
    while not _gone(pid):
        assert time.monotonic() < deadline, "the app outlived its terminal by 10 s"
        time.sleep(0.02)

    stored = stored_answer(app_env)
    assert stored["outcome"] == "interrupted"
    assert stored["error"] == "stopped by SIGHUP"
    assert 0 < stored["tokens_received"] <= record.tokens_sent
