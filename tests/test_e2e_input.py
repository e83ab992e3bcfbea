"""Every prompt typed right after an answer reaches the server, in a real terminal.

Reported: in tmux, 13 of ~157 prompts typed right after an answer with a
thinking block or hostile escapes never arrived (no text, no request). What
can lose keys there, and what these tests hold down:

- Focus moving off the composer to a widget mounted with the answer (the
  thinking block's title is focusable, so is a scroll container): typed
  characters would go nowhere and Enter would toggle the block.
- Server text reaching the terminal as escape sequences. A query such as
  `ESC [ c` (device attributes) or `ESC [ > q` (version) makes the terminal
  *answer on the app's input*; Textual's parser does not know the answer, so
  it keeps reading, and the keys typed next are glued to it until the escape
  delay passes, then come out as `alt+[` and the answer's characters: the
  prompt that arrives is `?1;2c/echo ...`, or it never does.
- A failed answer puts its prompt back in the composer; a prompt typed right
  after it must replace it, not be appended to it.
- A prompt submitted in the moment between the answer's end on screen and the
  app accepting the next prompt.

Each test types (`tmux send-keys`, as fast as tmux takes them) the moment the
answer's end is on screen - the status line switching to the session's
totals - and counts the prompts the demo server received, word for word.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux import Tmux
from tokentide.client.demo import DemoServer, RequestRecord
from tokentide.client.demo.answers import HOSTILE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

TOKENTIDE = Path(sys.executable).parent / "tokentide"
WIDTH, HEIGHT = 120, 40
COMPOSER_PLACEHOLDER = "Ask anything"

QUERIES = (
    "device attributes \x1b[c and \x1b[>c, status \x1b[5n, cursor \x1b[6n, "
    "version \x1b[>q, background colour \x1b]11;?\x07, DECRQSS \x1bP$qm\x1b\\ "
)
"""Escape sequences a terminal answers on its input (tmux answers every one)."""

ANSWERED = (b"\x1b[c", b"\x1b[>c", b"\x1b[5n", b"\x1b[6n", b"\x1b[>q", b"\x1b]11;?", b"\x1bP$q")
"""The queries as raw bytes: none may reach the terminal."""

KINDS = ("thinking", "tools", "error", "hostile")

PANE_LOG = "pane.out"
"""Everything the app wrote to the terminal, in the test's tmp_path."""


@pytest.fixture
def server() -> Iterator[DemoServer]:
    # Fast answers, so that the typing lands right after a frame full of them.
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


@pytest.fixture
def term(tmp_path: Path, server: DemoServer) -> Iterator[Tmux]:
    """The app (model demo-tools: a prompt without /echo gets a tool call) in
    tmux, all it writes logged to `PANE_LOG` from the first prompt on."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    tmux = Tmux(tmp_path, width=WIDTH, height=HEIGHT)
    try:
        tmux.start([str(TOKENTIDE), "--base-url", server.base_url, "--model", "demo-tools"], env)
        tmux.wait_for_text(COMPOSER_PLACEHOLDER, timeout=15)
        tmux.run("pipe-pane", "-o", "-t", tmux.target, f"cat >> {tmp_path / PANE_LOG}")
        yield tmux
    finally:
        tmux.kill()


def status_line(screen: str) -> str | None:
    """The status line when idle (the session's totals), else None."""
    for line in screen.splitlines():
        if line.strip().startswith(("session:", "ready")):
            return line.strip()
    return None


def prepare(server: DemoServer, kind: str, n: int) -> str:
    """Set the server up for an answer of `kind`; the prompt that asks for it."""
    tag = f"p{n:03d}"
    if kind == "thinking":
        # What demo-think streams (reasoning_content, then the text), scripted
        # so that this one app can also be asked for tool calls.
        server.script(f"the answer to {tag}", reasoning=f"Thinking about {tag}. " * 12)
        return f"think about {tag}"
    if kind == "tools":
        return f"what is the weather in Oslo for {tag}"
    if kind == "error":
        return f"/fault midstream_error /echo {tag} " + "word " * 12
    if kind == "hostile":
        server.script(QUERIES + HOSTILE + tag, reasoning=QUERIES * 2)
        return f"be hostile {tag}"
    raise ValueError(kind)


def last_prompt(record: RequestRecord) -> str | None:
    messages = record.body.get("messages") if isinstance(record.body, dict) else None
    if not messages or messages[-1].get("role") != "user":
        return None
    return messages[-1].get("content")


def type_prompts(term: Tmux, server: DemoServer, kinds: list[str]) -> tuple[list[str], list[str]]:
    """Answer after answer of the given kinds, each prompt typed the moment the
    previous answer's end is on screen. (prompts typed, prompts received)."""
    typed: list[str] = []
    idle, _ = term.wait_until(status_line, timeout=10, what="the idle status line")
    for n, kind in enumerate(kinds):
        prompt = prepare(server, kind, n)
        typed.append(prompt)
        term.send_text(prompt)
        term.send_keys("Enter")
        # The answer's end, as a person sees it: the status line has the new totals.
        idle, _ = term.wait_until(
            lambda screen, before=idle: (now := status_line(screen)) != before and now,
            timeout=10,
            what=f"the end of answer {n} ({kind})",
        )
    received = [p for r in server.requests if (p := last_prompt(r)) is not None]
    return typed, received


def check_delivered(term: Tmux, log: Path, typed: list[str], received: list[str]) -> None:
    lost = [p for p in typed if p not in received]
    print(f"\nprompts delivered: {len(typed) - len(lost)} of {len(typed)}")
    assert received == typed, f"lost {len(lost)}: {lost}\n{term.screen()}"
    written = log.read_bytes()
    assert b"\\x1b" in written, "the hostile answers were never drawn"
    leaked = [query for query in ANSWERED if query in written]
    assert not leaked, f"escape queries reached the terminal: {leaked}"


def test_prompts_typed_right_after_each_kind_of_answer_all_arrive(
    term: Tmux, server: DemoServer, tmp_path: Path
) -> None:
    kinds = [*KINDS * 5]  # each kind followed by each other kind
    typed, received = type_prompts(term, server, kinds)
    check_delivered(term, tmp_path / PANE_LOG, typed, received)
    # Nothing left over in the composer either (typed keys all went into prompts).
    assert COMPOSER_PLACEHOLDER in term.screen(), term.screen()


@pytest.mark.slow
@pytest.mark.timeout(600)  # 160 answers, about 2 minutes
def test_prompts_typed_right_after_answers_many_times(
    term: Tmux, server: DemoServer, tmp_path: Path
) -> None:
    kinds = [*KINDS * 40]
    typed, received = type_prompts(term, server, kinds)
    check_delivered(term, tmp_path / PANE_LOG, typed, received)
