"""Server text never drives the terminal, and pipes still get it exactly.

A loopback server streams hostile text - a clear-screen sequence, an OSC 52
clipboard write, a C1 CSI (U+009B), backspace, a carriage return that would
overwrite, bidi overrides and isolates, Rich markup - in every part of an
answer: the model's name, reasoning, text (split inside a CRLF), a tool
call's name and arguments, and an error. Each output path is then read the
way a person or a script would: the app's composited screen, `ask` in a
pseudo-terminal (plain, Markdown, `--json`, stderr), `ask` to a pipe, and
`history show` / `export` in a terminal and to a pipe.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path
from typing import Any

import pytest

from tests.cli import CMD, clean_env, tokentide
from tests.pilot import answers, make_app, screen_text, send, wait_idle
from tests.replay import Canned, ReplayServer
from tokentide.client.request import OutputSchema
from tokentide.tui.app import TokentideApp
from tokentide.tui.safe_text import SafeStream, terminal_json, terminal_safe
from tokentide.tui.turn import Params
from tokentide.tui.widgets.error_block import ErrorBlock
from tokentide.tui.widgets.tool_call_view import ToolCallView

SIZE = (120, 50)

EVIL = (
    "A\x1b[2J B\x1b]52;c;ZXZpbA==\x07 C\x9b31m D\u202eevil\u202c E\u2066iso\u2069 "
    "F\x08G H\rI [red]x[/red] [link=https://e.example]y[/link]\r\nJ"
)
"""The answer's text: every kind of trouble, and a CRLF the stream splits in two."""

SHOWN = [
    r"A\x1b[2J",
    r"B\x1b]52;c;ZXZpbA==\x07",
    r"C\x9b31m",
    r"D\u202eevil\u202c",
    r"E\u2066iso\u2069",
    r"F\x08G",
    r"H\x0dI",
]
"""How the hostile parts read on a terminal: visible escapes."""

MODEL = "gpt\x1b]0;owned\x07\u202e-x"
"""Sent in every chunk; the answer keeps the model it asked for, so it is never shown."""
REASONING = "think \x1b[2J\u202e hard\x07"
TOOL = "look\x1b[31m\u202eup"
ARGUMENTS = {"q": "\x9b2J\u202e\x1b]52;c;eA==\x07"}

RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never reach a terminal from the server (ESC is checked apart:
our own colour and cursor sequences use it)."""

OWN_CSI = re.compile(r"\x1b\[[0-9;?]*[A-HJKSTfhlmsu]")


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def hostile_answer() -> bytes:
    """Reasoning, the text split inside its CRLF, one tool call, a finish, [DONE]."""
    cut = EVIL.index("\r\n") + 1
    call = {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": TOOL, "arguments": json.dumps(ARGUMENTS)},
    }
    return b"".join(
        [
            chunk({"role": "assistant", "reasoning_content": REASONING}),
            chunk({"content": EVIL[:cut]}),
            chunk({"content": EVIL[cut:]}),
            chunk({"tool_calls": [call]}),
            chunk({}, finish="stop"),
            b"data: [DONE]\n\n",
        ]
    )


def hostile_error() -> bytes:
    error = {"error": {"message": "upstream \x1b[2J\u202eboom\x9b1m [bold]x[/bold]"}}
    return chunk({"content": "partial"}) + f"data: {json.dumps(error)}\n\n".encode()


def assert_terminal_clean(text: str) -> None:
    """No control from the server: every ESC left starts one of our own CSIs."""
    assert not RAW.search(text), repr(RAW.search(text))
    assert "\x1b" not in OWN_CSI.sub("", text), repr(text)
    assert "\x1b[2J" not in text


def in_a_pty(*args: str, env: dict[str, str], code: int = 0) -> str:
    """What `tokentide ARGS` writes with stdout and stderr both on a terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(
        [*CMD, *args], env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not piece:
            break
        output += piece
    os.close(leader)
    assert proc.wait(timeout=30) == code, output
    # The terminal's own line discipline turns each "\n" into "\r\n".
    return output.decode().replace("\r\n", "\n")


# -- the one module ----------------------------------------------------------------


def test_unsafe_characters_are_shown_and_safe_ones_kept():
    assert terminal_safe("a\x1bb\x9bc\u202ed\u2069e") == r"a\x1bb\x9bc\u202ed\u2069e"
    # Layout and right-to-left marks stay; a CRLF is a newline, a lone CR is shown.
    assert terminal_safe("x\ty\nz\u200f\u200e\u061c") == "x\ty\nz\u200f\u200e\u061c"
    assert terminal_safe("a\r\nb\rc") == "a\nb\\x0dc"


def test_every_split_of_a_stream_reads_as_the_whole():
    text = "a\r\nb\r\r\nc\x1b[0m\r"
    whole = terminal_safe(text)
    assert whole == "a\nb\\x0d\nc\\x1b[0m\\x0d"
    for cut in range(len(text) + 1):
        safe = SafeStream()
        assert safe.feed(text[:cut]) + safe.feed(text[cut:]) + safe.flush() == whole, cut


def test_json_for_a_terminal_is_the_same_value():
    value = {"t": EVIL, "n": "\x7f\x85\u2068"}
    dumped = terminal_json(json.dumps(value, ensure_ascii=False))
    assert not RAW.search(dumped) and "\x1b" not in dumped
    assert json.loads(dumped) == value


# -- the app ---------------------------------------------------------------------------


def screen_is_clean(app) -> str:
    """The whole composited screen as text, checked segment by segment."""
    segments = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
    for text in segments:
        assert not RAW.search(text) and "\x1b" not in text and "\r" not in text, repr(text)
    return "\n".join(screen_text(app))


async def test_app_shows_hostile_answer_parts_as_escapes(replay):
    replay.reply(Canned(hostile_answer()))
    app = make_app(replay.base_url, model="m")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        await wait_idle(pilot)
        (view,) = answers(app)
        view.query_one("#thinking").collapsed = False
        await pilot.pause()
        screen = screen_is_clean(app)
        for part in SHOWN:
            assert part in screen, part
        # Rich markup in server text is text, not styles or links.
        assert "[red]x[/red]" in screen and "[link=https://e.example]y[/link]" in screen
        assert r"think \x1b[2J\u202e hard\x07" in screen  # the reasoning
        tool = "\n".join(screen_text(app, app.screen.query_one(ToolCallView)))
        assert r"look\x1b[31m\u202eup" in tool
        assert r"\u009b2J\u202e\u001b]52;c;eA==\u0007" in tool  # JSON escapes, still JSON
        # What is kept and recorded is the server's text, exactly.
        assert app.screen.turns[-1].message.text == EVIL


async def test_app_error_block_and_partial_answer_stay_inert(replay):
    replay.reply(Canned(hostile_error()))
    app = make_app(replay.base_url, model="m", retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        await wait_idle(pilot)
        block = app.screen.query_one(ErrorBlock)
        shown = "\n".join(screen_text(app, block))
        screen_is_clean(app)
        assert "boom" in shown and "[bold]x[/bold]" in shown


async def test_app_structured_answer_is_json_with_visible_escapes(replay):
    value = {"city": "\x9bOslo\u202e\x1b[2J"}
    replay.reply(
        Canned(chunk({"content": json.dumps(value)}) + chunk({}, "stop") + b"data: [DONE]\n\n")
    )
    settings = make_app(replay.base_url, model="m").settings
    schema = OutputSchema({"type": "object", "properties": {"city": {"type": "string"}}}, "p")
    app = TokentideApp(settings, Params(output_schema=schema))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        await wait_idle(pilot)
        (view,) = answers(app)
        assert view.json_view is not None
        screen_is_clean(app)
        drawn = "\n".join(screen_text(app, view.json_view))
        assert r"\u009bOslo\u202e\u001b[2J" in drawn
        assert json.loads(str(view.json_view.render())) == value


# -- ask -----------------------------------------------------------------------------


@pytest.fixture
def hostile(replay) -> ReplayServer:
    for _ in range(3):
        replay.reply(Canned(hostile_answer()))
    return replay


def piped(*args: str, env: dict[str, str]) -> tuple[str, str]:
    """stdout and stderr of `tokentide ARGS` into pipes, decoded without
    newline translation (a CR must arrive as a CR)."""
    result = subprocess.run(
        [*CMD, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode(), result.stderr.decode()


def test_ask_to_a_pipe_gets_the_exact_text(tmp_path, hostile):
    out, err = piped("ask", "--base-url", hostile.base_url, "-m", "m", "q", env=clean_env(tmp_path))
    assert out == EVIL
    # stderr is for people, whatever it is connected to.
    assert not RAW.search(err) and "\x1b" not in err
    assert r"tool call: look\x1b[31m\u202eup(" in err


def test_ask_raw_to_a_terminal_shows_escapes(tmp_path, hostile):
    out = in_a_pty(
        "ask", "--raw", "--base-url", hostile.base_url, "-m", "m", "q", env=clean_env(tmp_path)
    )
    assert_terminal_clean(out)
    assert terminal_safe(EVIL) in out
    assert r"think \x1b[2J\u202e hard\x07" in out  # reasoning, dimmed on stderr
    assert r"tool call: look\x1b[31m\u202eup(" in out


def test_ask_markdown_to_a_terminal_shows_escapes(tmp_path, hostile):
    out = in_a_pty("ask", "--base-url", hostile.base_url, "-m", "m", "q", env=clean_env(tmp_path))
    assert_terminal_clean(out)
    for part in SHOWN:
        assert part in out, part
    assert "[red]x[/red]" in out


def test_ask_json_to_a_terminal_escapes_c1_and_bidi_and_is_the_same_json(tmp_path, hostile):
    out = in_a_pty(
        "ask", "--json", "--base-url", hostile.base_url, "-m", "m", "q", env=clean_env(tmp_path)
    )
    assert_terminal_clean(out)
    body = json.loads(out)
    assert body["text"] == EVIL and body["reasoning"] == REASONING
    assert r"\u009b31m" in out and r"\u202eevil\u202c" in out


def test_ask_json_to_a_pipe_is_plain_json(tmp_path, hostile):
    result = tokentide(
        "ask", "--json", "--base-url", hostile.base_url, "-m", "m", "q", env=clean_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "\u202e" in result.stdout  # not re-escaped for a reader that is not a terminal
    assert json.loads(result.stdout)["text"] == EVIL


def test_ask_structured_answer_on_a_terminal_is_json_with_escapes(tmp_path, replay):
    value = {"city": "\x9bOslo\u202e\x1b[2J"}
    body = chunk({"content": json.dumps(value)}) + chunk({}, "stop") + b"data: [DONE]\n\n"
    replay.reply(Canned(body))
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}))
    out = in_a_pty(
        "ask", "--no-log", "--json-schema", str(schema), "--base-url", replay.base_url,
        "-m", "m", "q", env=clean_env(tmp_path),
    )  # fmt: skip
    assert_terminal_clean(out)
    assert r'"\u009bOslo\u202e\u001b[2J"' in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)


def test_ask_error_line_is_inert_on_a_terminal(tmp_path, replay):
    replay.reply(Canned(hostile_error()))
    env = clean_env(tmp_path)
    out = in_a_pty("ask", "--raw", "--base-url", replay.base_url, "-m", "m", "q", env=env, code=1)
    assert_terminal_clean(out)
    assert "boom" in out and "[bold]x[/bold]" in out


# -- history ---------------------------------------------------------------------------


def strings(value: Any) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_history_show_and_export_on_a_terminal_and_to_a_pipe(tmp_path, hostile):
    env = clean_env(tmp_path)
    asked = tokentide("ask", "--base-url", hostile.base_url, "-m", "m", "q", env=env)
    assert asked.returncode == 0, asked.stderr

    shown = in_a_pty("history", "show", "1", env=env)
    assert_terminal_clean(shown)
    for part in SHOWN:
        assert part in shown, part

    as_json = in_a_pty("history", "show", "1", "--json", env=env)
    assert_terminal_clean(as_json)
    assert EVIL in strings(json.loads(as_json))

    exported = in_a_pty("history", "export", "1", "--format", "json", env=env)
    assert_terminal_clean(exported)
    assert EVIL in strings(json.loads(exported))

    listed = in_a_pty("history", "list", env=env)
    assert_terminal_clean(listed)

    exported, _ = piped("history", "export", "1", env=env)
    assert EVIL in exported  # a pipe: the exact text
    written = tmp_path / "out.md"
    tokentide("history", "export", "1", "-o", str(written), env=env)
    assert EVIL in Path(written).read_bytes().decode()
