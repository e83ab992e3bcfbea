"""Keys, copying, focus and notices in the chat app, under Textual's Pilot
against the real demo server over loopback."""

from __future__ import annotations

import base64
import re

import pytest

from tests.pilot import answers, make_app, screen_text, send, wait_idle
from tests.scenes import until
from tokentide.client.demo import DemoServer
from tokentide.client.meter import Expectation, Metrics, TokensSaved
from tokentide.tui import format as fmt
from tokentide.tui.widgets.key_bar import KeyBar

SIZE = (100, 40)


def test_a_stopped_answers_estimated_count_is_marked():
    saved = TokensSaved(40, Expectation(100, "max_tokens"))
    counted = Metrics(10.0, 5.0, 100.0, 60, estimated=False, tokens_saved=saved)
    guessed = Metrics(10.0, 5.0, 100.0, 60, estimated=True, tokens_saved=saved)
    assert fmt.stopped(counted) == "stopped · 60 tokens received · ~40 saved"
    assert fmt.stopped(guessed) == "stopped · ~60 tokens received · ~40 saved"


# -- the rest drive the app ------------------------------------------------------


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


async def test_keys_on_a_focused_message_copy_it_or_its_code_block_n(server, over_ssh, monkeypatch):
    server.script(CODE_ANSWER)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        screen = app.screen
        await send(pilot, "some code")
        await wait_idle(pilot)
        (answer,) = answers(app)
        await pilot.press("alt+up")
        assert screen.focused is answer
        await pilot.press("c")
        await pilot.press("2")
        await pilot.press("3")
        await pilot.press("1")
        assert terminal.copies == [
            CODE_ANSWER,
            "pip install tokentide",
            "indented code",
            "def f():\n    return 1",
        ]
        assert "Code block 1 “def f():” (21 characters, 2 lines)" in notes(app)[-1]
        await pilot.press("up")  # Up on a message: the one above, the prompt
        assert screen.focused is screen.query_one("UserMessage")
        await pilot.press("c")
        assert terminal.copies[-1] == "some code"
        await pilot.press("alt+down", "down")  # past the last message: back to the prompt
        assert screen.focused is screen.composer


async def test_c_on_an_answer_of_tool_calls_copies_the_calls(server, over_ssh, monkeypatch):
    """It copied "" (0 characters): the answer has no text, only a call."""
    import json

    app = make_app(server.base_url, "demo-tools")
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await send(pilot, "weather in Paris?")
        await wait_idle(pilot)
        (answer,) = answers(app)
        (call,) = answer.message.tool_calls
        await pilot.press("alt+up", "c")
        (copied,) = terminal.copies
        assert json.loads(copied) == {"name": call.name, "arguments": call.arguments}
        assert call.name and call.arguments


async def test_a_key_a_message_does_not_take_is_typed_into_the_prompt(server):
    server.script(CODE_ANSWER)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send(pilot, "code")
        await wait_idle(pilot)
        await pilot.press("ctrl+up")
        assert screen.focused is answers(app)[0]
        await pilot.press("4", "x")  # three code blocks: 4 is not a key of this answer
        assert screen.focused is screen.composer and screen.composer.text == "4x"
        await pilot.press("alt+up", "escape")  # Esc on a message: back to the prompt
        assert screen.focused is screen.composer and screen.composer.text == "4x"


async def test_the_focused_message_is_highlighted(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_idle(pilot)
        prompt = app.screen.query_one("UserMessage")
        before = prompt.styles.border_left
        await pilot.press("alt+up", "alt+up")
        assert app.screen.focused is prompt
        assert prompt.styles.border_left != before
        answer = answers(app)[0].markdown
        assert not answer.styles.border_left[0]
        width = answer.content_region.width
        await pilot.press("down")
        assert answer.styles.border_left[0]  # a bar at the answer's left edge...
        assert answer.content_region.width == width  # ...in place of its padding


async def test_the_palette_copies_the_last_answer_and_its_code_blocks(
    server, over_ssh, monkeypatch
):
    from tokentide.tui.screens.copy_commands import CopyCommands

    server.script(CODE_ANSWER)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        terminal = Osc52(app, monkeypatch)
        await send(pilot, "code")
        await wait_idle(pilot)
        provider = CopyCommands(app.screen)
        shown = [hit.text async for hit in provider.discover()]
        assert shown == [
            "Copy answer",
            "Copy code block 1",
            "Copy code block 2",
            "Copy code block 3",
        ]
        (hit,) = [hit async for hit in provider.search("copy code block 2")][:1]
        hit.command()
        assert terminal.copies == ["pip install tokentide"]
        assert "bash · pip install tokentide" in hit.help


async def test_typing_after_a_click_in_the_conversation_lands_in_the_prompt(server):
    server.script("An answer.")
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send(pilot, "question")
        await wait_idle(pilot)
        await pilot.click(answers(app)[0].markdown, offset=(3, 0))
        await pilot.press("h", "i")
        await pilot.click(screen.query_one("UserMessage"))
        await pilot.press("space", "t")
        await pilot.click(screen.conversation, offset=(2, 1))  # empty space above the messages
        await pilot.press("o", "o")
        assert screen.composer.text == "hi too"
        assert screen.focused is screen.composer


LONG = "\n\n".join(f"Paragraph {i} of a long answer." for i in range(60))


async def test_page_keys_scroll_the_conversation_from_the_prompt(server):
    server.script(LONG)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        conversation = screen.conversation
        await send(pilot, "long")
        await wait_idle(pilot)
        bottom = conversation.scroll_y
        assert bottom == conversation.max_scroll_y > 0
        await pilot.press("pageup")
        await pilot.pause()
        assert conversation.scroll_y < bottom
        assert screen.focused is screen.composer
        await pilot.press("pagedown")
        await pilot.pause()
        assert conversation.scroll_y == bottom
        await pilot.press("home")  # from an empty prompt: the top
        await pilot.pause()
        assert conversation.scroll_y == 0
        await pilot.press("end")
        await pilot.pause()
        assert conversation.following
        await pilot.press("d", "r", "a", "f", "t", "home")  # in a prompt being written: its own
        await pilot.pause()
        assert conversation.scroll_y == bottom and screen.composer.cursor_location == (0, 0)
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert conversation.scroll_y == 0
        await pilot.press("end")
        await pilot.pause()
        assert conversation.scroll_y == 0 and screen.composer.cursor_location == (0, 5)
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert conversation.following and screen.composer.text == "draft"


def footer_keys(app) -> dict[str, str]:
    from textual.widgets._footer import FooterKey

    return {key.key: key.description for key in app.screen.query(FooterKey)}


async def test_the_footer_shows_esc_while_streaming_and_end_when_scrolled_up(server):
    server.tokens_per_second = 150
    server.script(LONG + "\n\n" + LONG)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause()
        assert "escape" not in footer_keys(app) and "end" not in footer_keys(app)
        await send(pilot, "long")
        await server.await_for(lambda r: r.tokens_sent >= 150, timeout=10)
        await pilot.pause()
        assert footer_keys(app)["escape"] == "Stop"
        assert "end" not in footer_keys(app)  # following already
        await pilot.press("pageup")
        await pilot.pause()
        assert footer_keys(app)["end"] == "Follow"
        hint = screen.query_one("NewOutputHint")
        sent = server.requests[-1].tokens_sent
        await server.await_for(lambda r: r.tokens_sent >= sent + 60, timeout=10)
        await pilot.pause()
        assert hint.has_class("-shown")
        first = int(re.search(r"↓ (\d+) new lines?", str(hint.render()))[1])
        assert first > 0
        sent = server.requests[-1].tokens_sent
        await server.await_for(lambda r: r.tokens_sent >= sent + 60, timeout=10)
        await pilot.pause(
            0.2
        )  # let the view grow: it grows on its own clock, at most 8 times a second
        later = int(re.search(r"↓ (\d+) new lines?", str(hint.render()))[1])
        assert later > first
        await pilot.press("end")
        await pilot.pause()
        assert "end" not in footer_keys(app) and not hint.has_class("-shown")
        await pilot.press("escape")
        await wait_idle(pilot)
        assert "escape" not in footer_keys(app)


async def test_f1_lists_every_key_grouped_by_where_it_works(server):
    from tokentide.tui.screens.keys import KeysScreen

    app = make_app(server.base_url)
    async with app.run_test(size=(100, 70)) as pilot:
        chat = app.screen
        await pilot.press("f1")
        assert isinstance(app.screen, KeysScreen)
        text = "\n".join(screen_rows(app))
        areas = ("Anywhere", "Chat", "Prompt", "A focused message", "Conversation list", "A race")
        for area in areas:
            assert area in text
        described = [b.description for _, b in chat._bindings if b.description and not b.system]
        also = ["Copy code block", "Quit", "Keys", "Send", "Rename", "Keep lane", "Keep this lane"]
        for description in [*described, *also]:
            assert description in text, description
        await pilot.press("escape")
        assert app.screen is chat


def screen_rows(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_the_key_bar_shows_its_keys_once_the_app_is_up(server):
    """The key bar is mounted after the first frame; it shows the keys then,
    not only after the first key changes the bindings."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.screen.started.wait()
        await until(pilot, lambda: "Send" in screen_text(app)[-1], "the keys in the key bar")
        assert app.screen.query_one(KeyBar).region.y == 39
