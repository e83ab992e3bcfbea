"""The installed app in a real terminal (tmux) for what only a terminal shows:
`tokentide "prompt"` sending at start, Ctrl+E handing the terminal to $EDITOR
and taking it back (Textual's headless driver cannot suspend), and NO_COLOR
turning every colour on the screen into a grey."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import Tmux
from tokentide.client.demo import DemoServer, RequestRecord

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

TOKENTIDE = Path(sys.executable).parent / "tokentide"
COMPOSER_PLACEHOLDER = "Ask anything"
CODE_ANSWER = "Look:\n\n```python\ndef answer():\n    return 42\n```\n"

EDITOR = """\
#!{python}
import sys
from pathlib import Path

path = Path(sys.argv[1])
Path({seen!r}).write_text(path.read_text())  # what the app handed over
path.write_text("rewritten in the editor:\\n" + path.read_text().upper() + "\\n")
"""


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    term = Tmux(tmp_path, width=100, height=30)
    try:
        yield term
    finally:
        term.kill()


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        **extra,
    }


def prompts(server: DemoServer) -> list[str]:
    """The last user message of every chat request the server received."""
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    return [r.body["messages"][-1]["content"] for r in chats]


def chat_request(server: DemoServer, tmux: Tmux) -> RequestRecord:
    try:
        return server.wait_for(lambda r: r.path.endswith("/chat/completions"), 20)
    except TimeoutError:
        pytest.fail(f"no chat request reached the server:\n{tmux.screen()}")


def test_a_prompt_argument_opens_the_app_and_sends_it(tmux, tmp_path, server):
    server.script("Hello from the demo.")
    argv = [str(TOKENTIDE), "what is a tide?", "--base-url", server.base_url, "--model", "demo"]
    tmux.start(argv, environment(tmp_path))
    chat_request(server, tmux)
    screen = tmux.wait_for_text("Hello from the demo.", timeout=15)
    assert "what is a tide?" in screen
    assert prompts(server) == ["what is a tide?"]
    tmux.send_keys("C-q")
    assert tmux.wait_for_exit() == 0


def test_after_a_double_dash_a_command_name_is_the_prompt(tmux, tmp_path, server):
    argv = [str(TOKENTIDE), "--base-url", server.base_url, "--model", "demo", "--", "history"]
    tmux.start(argv, environment(tmp_path))
    chat_request(server, tmux)
    tmux.wait_for_text(COMPOSER_PLACEHOLDER, timeout=15)
    assert prompts(server) == ["history"]
    tmux.send_keys("C-q")
    assert tmux.wait_for_exit() == 0


def test_ctrl_e_edits_the_prompt_in_the_editor_and_sends_what_was_saved(tmux, tmp_path, server):
    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR.format(python=sys.executable, seen=str(seen)))
    editor.chmod(0o755)
    argv = [str(TOKENTIDE), "--base-url", server.base_url, "--model", "demo"]
    tmux.start(argv, environment(tmp_path, EDITOR=str(editor)))
    tmux.wait_for_text(COMPOSER_PLACEHOLDER, timeout=15)
    tmux.send_text("a draft")
    tmux.wait_for_text("a draft")
    tmux.send_keys("C-e")
    tmux.wait_for_text("A DRAFT")  # the app is back, with the editor's text
    assert seen.read_text() == "a draft"
    tmux.send_text(" and more")  # typing goes on at the end of it
    tmux.wait_for_text("A DRAFT and more")
    tmux.send_keys("Enter")
    chat_request(server, tmux)
    assert prompts(server) == ["rewritten in the editor:\nA DRAFT and more"]
    tmux.send_keys("C-q")
    assert tmux.wait_for_exit() == 0


def colours(tmux: Tmux) -> set[tuple[int, int, int]]:
    """Every 24-bit colour on the screen, from tmux's copy of the cells."""
    screen = tmux.run("capture-pane", "-p", "-e", "-t", tmux.target).stdout
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", screen):
        for r, g, b in re.findall(r"(?:^|;)[34]8;2;(\d+);(\d+);(\d+)", params):
            found.add((int(r), int(g), int(b)))
        assert not re.search(r"(?:^|;)[34]8;5;", params), params  # all 24-bit here
    return found


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "colour"])
def test_no_color_draws_the_app_and_a_highlighted_answer_in_greys(tmux, tmp_path, server, no_color):
    server.script(CODE_ANSWER)
    env = environment(tmp_path, COLORTERM="truecolor")
    if no_color:
        env["NO_COLOR"] = "1"
    tmux.start([str(TOKENTIDE), "--base-url", server.base_url, "--model", "demo"], env)
    tmux.wait_for_text(COMPOSER_PLACEHOLDER, timeout=15)
    tmux.send_text("code")
    tmux.send_keys("Enter")
    tmux.wait_for_text("finished (stop)")
    tmux.wait_for_text("def answer")
    found = colours(tmux)
    assert len(found) > 3  # the screen was drawn with colours to look at
    tinted = {rgb for rgb in found if len(set(rgb)) > 1}
    if no_color:
        assert not tinted
    else:
        assert tinted  # the check can see colour when there is some
    tmux.send_keys("C-q")
    assert tmux.wait_for_exit() == 0
