"""`tokentide ask` as a user runs it: a real subprocess against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cli import CMD, clean_env, tokentide
from tests.replay import Canned, fixture
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import choose_answer, split_tokens


@pytest.fixture
def demo():
    with DemoServer(tokens_per_second=4000, ttft=0.01) as server:
        yield server


def test_ask_demo_with_empty_environment(tmp_path):
    result = tokentide(
        "ask", "--demo", "/echo Hello **world**\n\n- a list", env=clean_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello **world**\n\n- a list"


def test_nothing_configured_uses_demo_and_says_so(tmp_path):
    result = tokentide("ask", "hello", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    notice = [line for line in result.stderr.splitlines() if "demo provider" in line]
    assert len(notice) == 1


def test_stdout_is_exactly_the_answer(tmp_path, demo):
    text = (
        "# Title\n\nSome `code` and a [link](https://example.com).\n\n```python\nprint('hi')\n```"
    )
    demo.script(text)
    env = clean_env(tmp_path)
    result = tokentide("ask", "--base-url", demo.base_url, "--model", "demo", "x", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == text
    assert result.stderr == ""


def test_prompt_from_stdin_and_combined(tmp_path, demo):
    env = clean_env(tmp_path)
    result = tokentide(
        "ask", "--base-url", demo.base_url, "-m", "demo", "-", env=env, input="/echo piped"
    )
    assert result.returncode == 0 and result.stdout == "piped"
    result = tokentide(
        "ask", "--base-url", demo.base_url, "-m", "demo", env=env, input="/echo bare pipe"
    )
    assert result.stdout == "bare pipe"
    tokentide(
        "ask", "--base-url", demo.base_url, "-m", "demo", "summarise:", env=env, input="the file"
    )
    assert demo.requests[-1].body["messages"][-1]["content"] == "summarise:\n\nthe file"


def test_json_output_fields(tmp_path):
    """At 200 tok/s the tokens of this answer come in separate reads even on a
    loaded machine, so inter-token latency is measured (one read has no gap)."""
    env = clean_env(tmp_path)
    with DemoServer(tokens_per_second=200, ttft=0.01) as demo:
        demo.script(
            "The answer, in a few more words than one read holds.", reasoning="Think first."
        )
        result = tokentide(
            "ask", "--base-url", demo.base_url, "--model", "demo", "--json", "q", env=env
        )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {
        "text", "reasoning", "tool_calls", "finish_reason", "usage", "metrics",
        "cancelled", "tokens_saved", "error",
    }  # fmt: skip
    assert data["text"] == "The answer, in a few more words than one read holds."
    assert data["reasoning"] == "Think first."
    assert data["finish_reason"] == "stop" and data["cancelled"] is False
    assert data["tokens_saved"] is None and data["error"] is None
    assert data["usage"]["output_tokens"] == demo.requests[-1].tokens_sent
    assert data["usage"]["input_tokens"] > 0
    metrics = data["metrics"]
    assert set(metrics) == {
        "ttft_ms", "tokens_per_s", "total_ms", "tokens_received", "estimated", "itl_ms",
        "longest_stall_ms",
    }  # fmt: skip
    assert set(metrics["itl_ms"]) == {"p50", "p99"}
    assert 0 < metrics["itl_ms"]["p50"] <= metrics["itl_ms"]["p99"] <= metrics["longest_stall_ms"]
    assert (
        metrics["estimated"] is False
        and metrics["tokens_received"] == data["usage"]["output_tokens"]
    )
    assert 0 < metrics["ttft_ms"] < metrics["total_ms"]


def test_json_tool_calls_against_any_openai_server(tmp_path, replay):
    replay.reply(Canned(fixture("openai_chat_tool_calls.sse")))
    env = clean_env(tmp_path)
    result = tokentide(
        "ask", "--provider", "openai", "--base-url", replay.base_url, "--model", "M", "--json", "w?",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tool_calls"] == [
        {
            "id": "call_7kQmZr0V3nXcT1bL9aPyW2sE",
            "name": "get_weather",
            "arguments": {"city": "Paris", "unit": "celsius"},
            "arguments_raw": '{"city": "Paris", "unit": "celsius"}',
            "arguments_error": None,
        },
        {
            "id": "call_Hh2Ww9nLq4Zs8Xc1Vb6Mk3Rt",
            "name": "get_time",
            "arguments": {"tz": "Europe/Paris"},
            "arguments_raw": '{"tz": "Europe/Paris"}',
            "arguments_error": None,
        },
    ]
    assert data["finish_reason"] == "tool_calls" and data["text"] == ""
    assert data["metrics"]["estimated"] is True


def test_json_error_midstream_keeps_partial(tmp_path, replay):
    replay.reply(Canned(fixture("openai_chat_error_midstream.sse")))
    result = tokentide(
        "ask", "--base-url", replay.base_url, "--model", "M", "--json", "q", env=clean_env(tmp_path)
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["text"] == "Once upon a time"
    assert "server_error" in data["error"]
    assert len(result.stderr.strip().splitlines()) == 1


def test_errors_exit_1_with_one_line(tmp_path, demo):
    env = clean_env(tmp_path)
    result = tokentide("ask", "--base-url", demo.base_url, "--model", "nope", "q", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "HTTP 404" in lines[0] and "nope" in lines[0] and "tokentide models" in lines[0]
    assert "Traceback" not in result.stderr


def test_connection_refused(tmp_path):
    result = tokentide("ask", "--base-url", "http://127.0.0.1:9/v1", "q", env=clean_env(tmp_path))
    assert result.returncode == 1
    assert "connection refused" in result.stderr and "base URL is right" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_traceback(tmp_path):
    result = tokentide(
        "ask", "--debug", "--base-url", "http://127.0.0.1:9/v1", "q", env=clean_env(tmp_path)
    )
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    env = clean_env(tmp_path)
    assert tokentide("ask", "--no-such-option", "q", env=env).returncode == 2
    result = tokentide("ask", "--provider", "nope", "q", env=env)
    assert result.returncode == 2 and "unknown provider 'nope'" in result.stderr
    assert tokentide("ask", env=env).returncode == 2  # no prompt, stdin is /dev/null


def test_no_stream(tmp_path, demo):
    demo.script("whole answer")
    result = tokentide(
        "ask",
        "--base-url",
        demo.base_url,
        "-m",
        "demo",
        "--no-stream",
        "q",
        env=clean_env(tmp_path),
    )
    assert result.returncode == 0 and result.stdout == "whole answer"
    assert demo.requests[-1].body["stream"] is False


def test_stats_on_stderr(tmp_path, demo):
    demo.tokens_per_second = 100  # tokens 10 ms apart: each its own read, so there are gaps
    demo.script("one two three four")
    result = tokentide(
        "ask", "--base-url", demo.base_url, "-m", "demo", "--stats", "q", env=clean_env(tmp_path)
    )
    assert result.stdout == "one two three four"
    assert "TTFT" in result.stderr and "tok/s" in result.stderr and "server usage" in result.stderr
    assert "ITL p50 " in result.stderr and "longest stall " in result.stderr


def test_ctrl_c_closes_the_connection_and_exits_130(tmp_path):
    with DemoServer(tokens_per_second=100, ttft=0.05) as server:
        proc = subprocess.Popen(
            [
                *CMD,
                "ask",
                "--base-url",
                server.base_url,
                "-m",
                "demo",
                "--max-tokens",
                "4000",
                "tell me about rust",
            ],
            env=clean_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        record = server.wait_for(lambda r: r.tokens_sent >= 20, timeout=15)
        sent_at = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        record = server.wait_for(lambda r: r.disconnected_at is not None, timeout=5)
    assert proc.returncode == 130, err
    assert record.disconnected_at - sent_at < 0.2
    assert not record.completed
    assert len(out) > 0
    line = [x for x in err.splitlines() if "cancelled after" in x]
    assert len(line) == 1
    received = int(line[0].split("cancelled after ")[1].split()[0])
    saved = int(line[0].split("~")[1].split()[0])
    # The count is what was received and printed: exactly the server's first
    # `received` tokens. (Not the server's own count: under load the client
    # may be a few tokens behind the socket when the signal comes.)
    tokens = split_tokens(choose_answer("tell me about rust"))
    assert out.rstrip("\n") == "".join(tokens[:received]).rstrip("\n")
    assert 0 < received <= record.tokens_sent
    assert saved == 4000 - received
    assert "Traceback" not in err


def test_help_does_not_import_textual():
    code = (
        "import sys\n"
        "from tokentide.tui import cli\n"
        "for args in (['ask', '--help'], ['--help']):\n"
        "    try:\n"
        "        cli.app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('TEXTUAL' if 'textual' in sys.modules else 'CLEAN')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip().endswith("CLEAN"), result.stdout
    assert "--max-tokens" in result.stdout and "--json" in result.stdout


def test_client_imports_no_textual_or_rich():
    code = (
        "import sys, pkgutil, importlib\n"
        "import tokentide.client as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'tokentide.client.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich', 'typer')"
        " or n.startswith('tokentide.tui')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def in_a_terminal(*args: str, env: dict[str, str], columns: int = 80, lines: int = 24) -> bytes:
    """What `tokentide ARGS` writes to a terminal (a pty of `columns`x`lines`)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    proc = subprocess.Popen(
        [*CMD, *args], env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    return output


def test_terminal_output_is_sanitised_but_pipes_get_exact_bytes(tmp_path, demo):
    """On a terminal, escape sequences from the model are shown as escapes; a pipe gets the text as is."""
    evil = "A\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\x9bd"
    env = clean_env(tmp_path)
    demo.script(evil)
    piped = tokentide("ask", "--base-url", demo.base_url, "-m", "demo", "q", env=env)
    assert piped.stdout == evil

    demo.script(evil)
    raw = in_a_terminal("ask", "--raw", "--base-url", demo.base_url, "-m", "demo", "q", env=env)
    shown = r"A\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\x9bd"
    assert raw.decode().replace("\r\n", "\n") == shown + "\n"

    demo.script(evil)
    drawn = in_a_terminal("ask", "--base-url", demo.base_url, "-m", "demo", "q", env=env)
    # Only our own sequences (colour, cursor up, erase to end of line) reach the terminal.
    assert b"\x1b]" not in drawn and b"\x1b[2J" not in drawn and b"\x07" not in drawn
    assert "\x9b" not in drawn.decode() and shown.encode() in drawn


def test_ask_draws_markdown_on_a_terminal_and_leaves_the_final_text(tmp_path, demo):
    import re

    demo.script("# Title\n\nSome **bold** and `code`.\n\n- one\n- two\n\n```python\nx = 1\n```\n")
    drawn = in_a_terminal(
        "ask", "--base-url", demo.base_url, "-m", "demo", "q", env=clean_env(tmp_path)
    )
    screen = replay(drawn.decode(), columns=80)
    assert [row for row in screen if row] == [
        "Title".center(79).rstrip(),
        "Some bold and code.",
        "• one",
        "• two",
        " x = 1",
    ]
    assert not re.search(r"\*\*|```", "\n".join(screen))


def test_ask_on_a_terminal_of_no_size_draws_80_columns_and_heeds_COLUMNS(tmp_path, demo):
    """Some containers' terminals report 0x0: that is not a 20-column terminal."""
    text = " ".join(f"word{i:02}" for i in range(40))  # 279 characters, one paragraph
    widths = {}
    for columns in ("", "100"):
        demo.script(text)
        env = clean_env(tmp_path, **({"COLUMNS": columns} if columns else {}))
        args = ("ask", "--base-url", demo.base_url, "-m", "demo", "q")
        drawn = in_a_terminal(*args, env=env, columns=0, lines=0).decode()
        rows = [row for row in replay(drawn, columns=200) if row]
        assert " ".join(rows) == text
        widths[columns] = max(len(row) for row in rows)
    assert 70 <= widths[""] <= 79
    assert 90 <= widths["100"] <= 99


def replay(output: str, columns: int) -> list[str]:
    """The rows a terminal shows after `output` (enough of VT100 for our own sequences)."""
    import re

    rows: list[str] = [""]
    row, start = 0, True  # start: the cursor is at column 0, so text replaces the row
    for token in re.split(r"(\x1b\[[0-9;]*[A-Za-z]|\r|\n)", output):
        if token == "\n":
            row, start = row + 1, True
            rows.extend([""] * (row + 1 - len(rows)))
        elif token == "\r":
            start = True
        elif token.startswith("\x1b[") and token.endswith("A"):
            row = max(0, row - int(token[2:-1] or 1))
        elif token.startswith("\x1b[") and token.endswith("K"):
            if start:
                rows[row] = ""
        elif token and not token.startswith("\x1b["):
            rows[row] = token if start else rows[row] + token
            start = False
    return [line.rstrip() for line in rows]


def test_closed_pipe_stops_the_stream(tmp_path):
    with DemoServer(tokens_per_second=200, ttft=0.01) as server:
        proc = subprocess.Popen(
            [*CMD, "ask", "--base-url", server.base_url, "-m", "demo", "tell me about rust"],
            env=clean_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout.read(20)
        proc.stdout.close()  # like `| head -c 20`
        _, err = proc.communicate(timeout=15)
        record = server.wait_for(lambda r: r.disconnected_at is not None, timeout=5)
    assert proc.returncode == 141 and err == b""
    assert not record.completed


def test_undecodable_stdin_is_not_a_traceback(tmp_path, demo):
    result = subprocess.run(
        [*CMD, "ask", "--base-url", demo.base_url, "-m", "demo", "-"],
        env=clean_env(tmp_path),
        input=b"/echo caf\xe9",
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "caf\ufffd"


def test_tool_call_note_is_sanitised(tmp_path, replay):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function",'
        b'"function":{"name":"f\\u001b[31mX","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    result = tokentide(
        "ask", "--base-url", replay.base_url, "-m", "m", "q", env=clean_env(tmp_path)
    )
    assert result.returncode == 0
    assert r"tool call: f\x1b[31mX({})" in result.stderr and "\x1b" not in result.stderr


def test_models_lists_and_explains_failures(tmp_path):
    env = clean_env(tmp_path)
    result = tokentide("models", "--demo", env=env)
    assert result.returncode == 0 and result.stdout.split() == ["demo", "demo-think", "demo-tools"]
    with DemoServer(api_key="sk-right") as server:
        result = tokentide(
            "models", "--base-url", server.base_url, env={**env, "OPENAI_API_KEY": "sk-wrong"}
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "HTTP 401" in lines[0] and "$OPENAI_API_KEY" in lines[0]
    assert "sk-wrong" not in result.stderr


def test_models_json_for_every_wire(tmp_path, demo):
    env = clean_env(tmp_path, ANTHROPIC_API_KEY="k" * 12, GEMINI_API_KEY="g" * 12)
    root = demo.base_url.removesuffix("/v1")
    for wire, url in [
        ("openai", demo.base_url), ("responses", demo.base_url),
        ("anthropic", root), ("ollama", root), ("gemini", root),
    ]:  # fmt: skip
        result = tokentide("models", "--provider", wire, "--base-url", url, "--json", env=env)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        document = json.loads(result.stdout)
        assert document["provider"] == document["wire"] == wire and document["base_url"] == url
        assert {m.removesuffix(":latest") for m in document["models"]} == {
            "demo", "demo-think", "demo-tools"
        }  # fmt: skip


def test_a_base_url_without_a_model_uses_the_servers_only_one(tmp_path, replay):
    replay.reply(Canned(b'{"data": [{"id": "qwen2.5-7b"}]}', content_type="application/json"))
    replay.reply(Canned(fixture("openai_chat_text.sse")))
    result = tokentide("ask", "--base-url", replay.base_url, "q", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello")
    assert result.stderr == "tokentide: model: qwen2.5-7b (the only one the server lists)\n"
    assert [s.path for s in replay.seen] == ["/v1/models", "/v1/chat/completions"]
    assert replay.seen[1].body["model"] == "qwen2.5-7b"


def test_a_base_url_with_several_models_wants_one_named(tmp_path, demo):
    result = tokentide("ask", "--base-url", demo.base_url, "q", env=clean_env(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "demo, demo-think, demo-tools" in line and "--model NAME" in line
    assert [r.path for r in demo.requests] == ["/v1/models"]  # no chat with a guessed model


def test_a_provider_of_your_own_from_the_config_file(tmp_path, demo):
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[providers.lab]\nwire = "openai"\nbase_url = "{demo.base_url}"\nmodel = "demo"\n'
        'api_key_env = "LAB_KEY"\n'
    )
    env = clean_env(tmp_path, TOKENTIDE_CONFIG=str(config), LAB_KEY="lab-key-0123456789")
    result = tokentide("ask", "--provider", "lab", "/echo from the lab", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from the lab" and result.stderr == ""
    assert demo.requests[-1].headers["authorization"] == "Bearer lab-key-0123456789"

    config.write_text(config.read_text().replace('wire = "openai"', 'wire = "smoke"'))
    result = tokentide("ask", "--provider", "lab", "hi", env=env)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "wire" in line and "smoke" in line and str(config) in line, line


@pytest.mark.parametrize("args", [(), ("hello there",)])
def test_the_app_without_a_terminal_is_one_line_pointing_to_ask(tmp_path, args):
    """Not a full screen of escape codes in a pipe, nor a wait for keys nobody sends."""
    import pty

    leader, follower = pty.openpty()
    try:
        piped = subprocess.run(
            [*CMD, *args], env=clean_env(tmp_path), stdin=follower, capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    no_keys = tokentide(*args, env=clean_env(tmp_path))  # stdin: /dev/null
    for result, name in ((piped, "stdout"), (no_keys, "stdin")):
        assert result.returncode == 2 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert f"needs a terminal, and {name} is not one" in line
        assert "tokentide ask" in line


def test_a_full_disk_is_one_line_and_stops_the_answer(tmp_path, demo):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*CMD, "ask", "--base-url", demo.base_url, "-m", "demo", "tell me about rust"],
            env=clean_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "tokentide: error: cannot write the answer: No space left on device"
    ]
    record = demo.wait_for(lambda r: r.disconnected_at is not None or r.completed, timeout=5)
    assert not record.completed  # nobody could read the rest: it was not generated


FIRST_FRAME = """
import asyncio, sys, threading
from tokentide.client.config import DEMO
from tokentide.tui.app import TokentideApp
from tokentide.tui.prelude import settings
from tokentide.tui.screens import chat

late = sys.argv[1:]
seen = []
after = chat.ChatScreen.after_first_frame

async def first_frame(screen):
    seen.extend(m for m in late if m in sys.modules)
    await after(screen)

chat.ChatScreen.after_first_frame = first_frame

async def main():
    app = TokentideApp(settings(None, None, None, None, demo=True, debug=False))
    async with app.run_test() as pilot:
        await pilot.app.screen.started.wait()
        for thread in threading.enumerate():
            if thread.name == "tokentide-warm-up":
                thread.join(timeout=30)
        print(seen, [m for m in late if m in sys.modules])

asyncio.run(main())
"""


def test_the_first_frame_imports_no_history_no_answer_view_and_no_race(tmp_path):
    """What the chat screen's first frame has no use for is imported after it
    (the history's store and writer, the answer's Markdown view and parser,
    the race runner, the price table, the stream's events, meter and request
    and the turn: their 27 dataclasses took 18 ms to make): fewer imports, a
    sooner first frame; and the first answer's view is loaded right after,
    before a prompt comes."""
    late = (
        "sqlite3", "tokentide.tui.store", "tokentide.tui.recorder", "tokentide.tui.race",
        "tokentide.tui.prices", "tokentide.tui.widgets.markdown_view", "markdown_it", "jiter",
        "tokentide.tui.widgets.history_panel", "tokentide.tui.screens.model_picker",
        "tokentide.client.events", "tokentide.client.meter", "tokentide.client.request",
        "tokentide.client.providers.base", "tokentide.client.discovery", "tokentide.tui.turn",
        "tokentide.tui.branches", "tokentide.tui.clipboard", "json",
        "tokentide.tui.widgets.assistant_message", "tokentide.tui.widgets.user_message",
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME, *late],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.split("\n")[0].split("] [")
    assert before == "["  # nothing of `late` when the first frame was drawn
    # Right after it: the history (opened), the answer's view and the history's
    # writer (loaded in the warm-up thread).
    for module in ("sqlite3", "tokentide.tui.recorder", "tokentide.tui.widgets.markdown_view"):
        assert f"'{module}'" in after, after


COLLECTIONS_AT_START = """
import asyncio, gc, sys
from tokentide.tui import app as appmod, prelude, start

prelude.need_terminal = lambda: None  # the app runs headless here

def run_app(settings):
    app = appmod.TokentideApp(settings)
    async def run():
        async with app.run_test() as pilot:
            held = not gc.isenabled()
            await app.screen.started.wait()
            await pilot.pause()
            print(held, gc.isenabled(), gc.get_freeze_count() > 0)
    asyncio.run(run())
    return 0

appmod.run_app = run_app
sys.argv = ["tokentide"]
start.main()
"""


def test_the_app_starts_without_collections_and_turns_them_back_on(tmp_path):
    """`tokentide` alone runs no garbage collection until its first frame
    (20-30 ms of them before it, measured), and then collections are on again
    and what start-up made is frozen."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_AT_START],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]


def test_the_app_alone_starts_without_the_command_line(tmp_path):
    """`tokentide` with no arguments opens the app without importing typer
    (the start people type all day), nor what only an answer needs (httpx,
    the Markdown parser, Pygments, the price table); its settings are the
    same as ever."""
    code = (
        "import sys\n"
        "import tokentide.tui.app as app\n"
        "late = ('typer', 'click', 'httpx', 'markdown_it', 'pygments', 'genai_prices')\n"
        "import tokentide.tui.prelude as prelude\n"
        "prelude.need_terminal = lambda: None\n"
        "app.run_app = lambda settings, *a, **k: print([m for m in late if m in sys.modules], "
        "settings.endpoint.name, settings.endpoint.model) or 7\n"
        "sys.argv = ['tokentide']\n"
        "from tokentide.tui import start\n"
        "start.main()\n"
    )
    env = {**clean_env(tmp_path), "TOKENTIDE_PROVIDER": "demo"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "[] demo demo"
