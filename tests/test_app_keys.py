"""Keys, copying, focus and notices in the chat app, under Textual's Pilot
against the real demo server over loopback."""

from __future__ import annotations

from tokentide.client.meter import Expectation, Metrics, TokensSaved
from tokentide.tui import format as fmt


def test_a_stopped_answers_estimated_count_is_marked():
    saved = TokensSaved(40, Expectation(100, "max_tokens"))
    counted = Metrics(10.0, 5.0, 100.0, 60, estimated=False, tokens_saved=saved)
    guessed = Metrics(10.0, 5.0, 100.0, 60, estimated=True, tokens_saved=saved)
    assert fmt.stopped(counted) == "stopped · 60 tokens received · ~40 saved"
    assert fmt.stopped(guessed) == "stopped · ~60 tokens received · ~40 saved"


# -- the rest drive the app ------------------------------------------------------

import base64
import re

import pytest

from tests.pilot import answers, make_app, send, wait_idle
from tokentide.client.demo import DemoServer

SIZE = (100, 40)


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


class Osc52:
    """What the app writes to the terminal's clipboard (OSC 52), decoded: the
    bytes Textual's driver sends, read where they leave the app."""

    def __init__(self, app, monkeypatch: pytest.MonkeyPatch) -> None:
        self.copies: list[str] = []
        write = app._driver.write

        def spy(data: str) -> None:
            for match in re.finditer(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", data):
                self.copies.append(base64.b64decode(match[1]).decode("utf-8"))
            write(data)

        monkeypatch.setattr(app._driver, "write", spy)


@pytest.fixture
def over_ssh(monkeypatch):
    """A remote session: copies go through OSC 52 (no tool here can reach the user)."""
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_ctrl_c_with_a_selection_copies_exactly_the_selection(server, over_ssh, monkeypatch):
    server.script("Alpha beta gamma delta.\n\nSecond paragraph here.")
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await send(pilot, "words")
        await wait_idle(pilot)
        (view,) = answers(app)
        # Drag over "beta gamma" on the answer's first line (after one cell of padding).
        await pilot.mouse_down(view.markdown, offset=(7, 0))
        await pilot.hover(view.markdown, offset=(16, 0))
        await pilot.mouse_up(view.markdown, offset=(16, 0))
        # The selection is drawn as selected.
        look = app.screen.get_component_rich_style("screen--selection")
        selected = [
            s.text
            for s in view.markdown.render_line(0)
            if s.style and look.bgcolor == s.style.bgcolor
        ]
        assert selected == ["beta gamma"]
        await pilot.press("ctrl+c")
        assert terminal.copies == ["beta gamma"]
        assert app.clipboard == "beta gamma"
        assert app.is_running
        (note,) = [n for n in notes(app) if n.startswith("Copied")]
        assert "“beta gamma” (10 characters)" in note and "OSC 52, over SSH" in note


async def test_ctrl_c_idle_with_nothing_selected_says_how_to_copy_and_never_quits(
    server, over_ssh, monkeypatch
):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running and not terminal.copies
        assert notes(app) == [
            "Nothing selected: Drag across text to select it, or press Alt+Up and c to "
            "copy a whole message. Ctrl+Q quits."
        ]
        assert not any("quit?" in note for note in notes(app))


async def test_ctrl_c_while_streaming_stops_even_with_a_selection(server, over_ssh, monkeypatch):
    server.tokens_per_second = 20  # slow: the prompt stays on screen to be selected
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await send(pilot, "tell me about rust")
        await server.await_for(lambda r: r.tokens_sent >= 2)
        prompt = app.screen.query_one("UserMessage")
        await pilot.mouse_down(prompt, offset=(2, 0))
        await pilot.hover(prompt, offset=(5, 0))
        await pilot.mouse_up(prompt, offset=(5, 0))
        assert app.screen.get_selected_text()
        await pilot.press("ctrl+c")
        await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        await wait_idle(pilot)
        assert answers(app)[0].footer.has_class("-stopped")
        assert not terminal.copies


def fake_tool(tmp_path, name: str, script: str) -> str:
    """A clipboard tool on PATH that does `script` (a shell line; stdin is the text)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


@pytest.fixture
def local_x11(monkeypatch):
    for name in ("SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")


async def test_a_local_copy_goes_through_the_clipboard_tool(
    server, local_x11, tmp_path, monkeypatch
):
    got = tmp_path / "clipboard.txt"
    monkeypatch.setenv("PATH", fake_tool(tmp_path, "xclip", f'cat > "{got}"'))
    server.script("Alpha beta gamma delta.")
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await send(pilot, "words")
        await wait_idle(pilot)
        view = answers(app)[0].markdown
        await pilot.mouse_down(view, offset=(1, 0))
        await pilot.hover(view, offset=(5, 0))
        await pilot.mouse_up(view, offset=(5, 0))
        await pilot.press("ctrl+c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert got.read_text() == "Alpha"
        assert not terminal.copies  # the terminal is not asked as well
        assert app.clipboard == "Alpha"  # Ctrl+V in the prompt pastes it
        assert notes(app)[-1] == (
            "Copied: Selection “Alpha” (5 characters) to the system clipboard "
            f"({tmp_path / 'bin' / 'xclip'})"
        )


async def test_a_failing_clipboard_tool_falls_back_to_the_terminal(
    server, local_x11, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", fake_tool(tmp_path, "xclip", "exit 1"))
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        app.copy_to_clipboard("two\nlines")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert terminal.copies == ["two\nlines"]
        (note,) = app._notifications
        assert note.severity == "warning"
        assert note.message == (
            "Selection “two” (9 characters, 2 lines) to the terminal's clipboard "
            "(OSC 52, xclip exited with 1)"
        )


async def test_notices_cover_neither_the_prompt_nor_the_status_line(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.notify("a notice with\nthree\nlines", timeout=30)
        await pilot.pause()
        (toast,) = app.screen.query("Toast")
        screen = app.screen
        header = screen.query_one("Header").region
        assert toast.region.y == header.bottom  # right under the title bar
        assert toast.region.right >= SIZE[0] - 2  # at the right
        for widget in (screen.composer, screen.status):
            assert not toast.region.overlaps(widget.region), widget


CODE_ANSWER = (
    "Intro.\n\n```python\ndef f():\n    return 1\n```\n\n"
    "1. Install it:\n\n   ```bash\n   pip install tokentide\n   ```\n\n"
    "> quoted\n>\n>     indented code\n\n"
    "The end.\n"
)
"""Three code blocks: a fence, a fence in a list item, indented code in a quote."""


def test_code_blocks_are_found_in_the_order_they_are_drawn():
    from tokentide.tui.markdown.fences import CodeBlock, code_blocks

    assert code_blocks(CODE_ANSWER) == [
        CodeBlock("python", "def f():\n    return 1"),
        CodeBlock("bash", "pip install tokentide"),
        CodeBlock("", "indented code"),
    ]
    assert code_blocks("```js\nunclosed(") == [CodeBlock("js", "unclosed(")]


async def test_each_code_block_is_labelled_with_its_number(server):
    server.script(CODE_ANSWER)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "code")
        await wait_idle(pilot)
        view = answers(app)[0].markdown
        rows = [strip.text for strip in view._strips]
        labelled = [
            (y, row.split()[-1]) for y, row in enumerate(rows) if row.rstrip().endswith("]")
        ]
        assert [label for _, label in labelled] == ["[1]", "[2]", "[3]"]
        # Each label sits on the line above its block's code.
        firsts = ["def f():", "pip install tokentide", "indented code"]
        for (y, _), first in zip(labelled, firsts, strict=True):
            assert first in rows[y + 1]
