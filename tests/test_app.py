"""The chat app under Textual's Pilot, against the real demo server over loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import threading
import time
from types import SimpleNamespace

import pytest

from tests.pilot import AT_ONCE, answers, screen_text, send, wait_idle
from tests.pilot import make_app as pilot_app
from tests.scenes import until
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.tui import garbage
from tokentide.tui.app import TokentideApp
from tokentide.tui.turn import Outcome, context
from tokentide.tui.widgets.composer import Composer
from tokentide.tui.widgets.error_block import ErrorBlock
from tokentide.tui.widgets.markdown_view import MarkdownView
from tokentide.tui.widgets.new_output_hint import NewOutputHint
from tokentide.tui.widgets.tool_call_view import ToolCallView
from tokentide.tui.widgets.user_message import UserMessage

SIZE = (120, 40)


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


def make_app(server: DemoServer, model: str = "demo", **kw) -> TokentideApp:
    return pilot_app(server.base_url, model, **kw)


async def start_long_answer(pilot, server: DemoServer, tokens: int) -> None:
    """Ask for a long answer and return once the server has sent `tokens` of it."""
    await send(pilot, "tell me about rust")
    await server.await_for(lambda r: r.tokens_sent >= tokens)


async def test_prompt_streams_markdown_equal_to_the_server_text(server):
    text = (
        "# Heading\n\nA paragraph with `code` and **bold**.\n\n- one\n- two\n\n"
        "```python\ndef f():\n    return 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    server.script(text)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "show me")
        await wait_idle(pilot)
        (view,) = answers(app)
        assert view.markdown.source == text
        assert app.screen.query_one(UserMessage).text == "show me"
        footer = str(view.footer.render())
        assert "finished (stop)" in footer and "TTFT" in footer and "tok/s" in footer
        assert f"{server.requests[-1].tokens_sent} tokens" in footer  # server usage: no "~"
        assert app.screen.query_one(Composer).text == ""


FILLER = " ".join(["words that wrap the paragraph over several lines"] * 6)


async def streamed_and_one_shot(
    pilot, server: DemoServer, text: str
) -> tuple[MarkdownView, MarkdownView]:
    """`text` streamed as an answer, and under it the same text rendered at once."""
    server.script(text)
    await send(pilot, "q")
    await wait_idle(pilot)
    (view,) = answers(pilot.app)
    oneshot = MarkdownView()
    oneshot.update(text)
    await view.mount(oneshot, before=view.footer)
    await pilot.pause()
    assert oneshot.size == view.markdown.size
    return view.markdown, oneshot


@pytest.mark.parametrize(
    "text",
    [
        'Intro line.\n\n```rust\nfn main() {\n    println!("hi");\n}\n```\n\nAfter the fence.\n',
        # Lines that change after they were drawn: emphasis closed lines later,
        # a setext underline turning the line above into a heading.
        f"Start **in bold {FILLER} still bold** and plain.\n\nA title after all\n===\n\nEnd.",
    ],
    ids=["fence", "late-changes"],
)
async def test_final_screen_equals_a_one_shot_render(server, text):
    """Streaming must leave the same screen as rendering the final text at once
    (the view paints again only lines that changed: none may be left stale)."""
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        streamed, oneshot = await streamed_and_one_shot(pilot, server, text)
        assert screen_text(app, streamed) == screen_text(app, oneshot)
        assert any(("println" in line or "title" in line) for line in screen_text(app, streamed))


async def test_a_resized_answer_is_wrapped_as_a_fresh_render_at_each_width(server):
    """Textual lays a container out from its cache for a size it has seen, without
    asking the answer's height: narrow, wide, narrow again kept the wide lines.
    And the lines wrapped again showed as "new lines" below a reader at the end."""
    from tokentide.tui.markdown.document import LiveDocument

    text = (
        f"# Title\n\n{FILLER}\n\n| a | b |\n|---|---|\n| {FILLER[:90]} | 2 |\n\n"
        f"```python\nx = 1\n```\n\n- {FILLER}\n- two\n\n"
        + "\n\n".join(f"Paragraph {i}, taller than the screen." for i in range(40))
    )
    server.script(text)
    app = make_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "q")
        await server.await_for(lambda r: r.tokens_sent >= 20)
        for size in ((80, 24), (120, 40)):  # while it streams
            await pilot.resize_terminal(*size)
            await pilot.pause()
        await wait_idle(pilot)
        (view,) = answers(app)
        shown = view.markdown
        for size in ((80, 24), (120, 40), (80, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            fresh = LiveDocument(shown._renderer(), shown.size.width)
            fresh.feed(text)
            fresh.finish()
            drawn = [[seg.text for seg in line] for line in shown._lines]
            assert drawn == [[seg.text for seg in fresh.line(y)] for y in range(fresh.height)]
            assert shown.size.height == fresh.height, size
            # Lines wrapped again are not new output below the reader.
            assert app.screen.conversation.following, size
            assert not app.screen.query_one(NewOutputHint).has_class("-shown"), size


BIG_FENCE = (
    "Code:\n\n```python\n"
    + "\n".join(
        f'def f{n}(x):\n    """Add {n}.\n\n    if x is None: 0\n    """\n    return x + {n}'
        for n in range(160)
    )
    + "\n```\n\nAfter the fence.\n"
)


async def test_a_big_streamed_fence_ends_coloured_as_a_one_shot_render(server):
    """A fence over `BIG_BLOCK` characters streams in drafts and is drawn
    whole after the answer (off the frame path): its final colours, not only
    its text, are those of rendering the final text at once."""
    server.tokens_per_second = 5000
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        streamed, oneshot = await streamed_and_one_shot(pilot, server, BIG_FENCE)
        rows = range(min(streamed.size.height, 30))
        assert [streamed.render_line(y) for y in rows] == [oneshot.render_line(y) for y in rows]


async def test_full_collections_are_held_while_an_answer_streams_and_run_after_it(server):
    """A full collection holds the GIL for 50-75 ms: none runs while an answer
    streams; the one that frees what the answer left runs after it."""
    server.tokens_per_second = 150
    server.script(" ".join(f"word{n}" for n in range(80)))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, 20)
        assert gc.get_threshold()[2] == garbage.NEVER
        await wait_idle(pilot)
        deadline = time.monotonic() + 5
        while gc.get_threshold()[2] == garbage.NEVER:
            assert time.monotonic() < deadline, "full collections still held"
            await pilot.pause(0.05)


async def test_esc_mid_stream_closes_the_connection_and_keeps_the_partial(server):
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=30)
        pressed = time.perf_counter()
        await pilot.press("escape")
        record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        assert record.disconnected_at - pressed < AT_ONCE
        assert not record.completed
        await wait_idle(pilot)
        (view,) = answers(app)
        footer = str(view.footer.render())
        # The demo server counts tokens only at the end: the count is an estimate.
        match = re.search(r"stopped · ~(\d+) tokens? received · ~(\d+) saved", footer)
        assert match, footer
        received, saved = int(match[1]), int(match[2])
        # What the app counted; a few more may have been in the socket buffer
        # when it closed, while the UI was busy rendering.
        assert received <= record.tokens_sent <= received + 20
        assert saved == max(0, 600 - received)
        assert "saved" in view.footer.tooltip and "estimate" in view.footer.tooltip
        assert view.markdown.source and len(view.markdown.source) < 3000
        assert view.footer.has_class("-stopped")
        notes = [n.message for n in app._notifications]
        assert not any("stopped" in note for note in notes), notes  # the footer says it
        # The partial answer stays in the conversation's context.
        (turn,) = app.screen.turns
        assert turn.outcome is Outcome.STOPPED and turn.message.cancelled
        assert [m.text for m in context([turn])] == ["tell me about rust", turn.message.text]


async def test_esc_stops_whatever_has_focus(server):
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "tell me about sql")
        await server.await_for(lambda r: r.tokens_sent >= 10)
        app.screen.conversation.focus()
        await pilot.press("escape")
        await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        await wait_idle(pilot)
        assert answers(app)[0].footer.has_class("-stopped")


async def test_esc_when_idle_is_harmless(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        composer.load_text("draft")
        await pilot.press("escape")
        assert composer.text == "draft" and not server.requests


async def test_multi_turn_sends_prior_messages(server):
    app = make_app(server, system="be brief")
    async with app.run_test(size=SIZE) as pilot:
        server.script("First answer.")
        await send(pilot, "first")
        await wait_idle(pilot)
        server.script("Second answer.")
        await send(pilot, "second")
        await wait_idle(pilot)
    messages = server.requests[-1].body["messages"]
    assert messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "second"},
    ]


async def test_error_shows_inline_and_the_app_keeps_working(server):
    app = make_app(server, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        server.inject("http:500")
        await send(pilot, "will fail")
        await wait_idle(pilot)
        block = app.screen.query_one(ErrorBlock)
        assert block.message.startswith("HTTP 500") and "retry" in block.message
        assert "\n" not in block.message
        composer = app.screen.query_one(Composer)
        assert composer.text == "will fail"  # the prompt is not eaten
        (failed,) = app.screen.turns  # it stays, marked failed, and is not sent as context
        assert failed.outcome is Outcome.FAILED and context([failed]) == []
        assert str(app.screen.status.render()) == "session: 0 answers · 0 tokens · 1 failed"
        # Ctrl+R retries the same prompt
        server.script("Recovered.")
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        assert answers(app)[-1].markdown.source == "Recovered."
        assert composer.text == ""
        assert [m.text for m in context(app.screen.turns)] == ["will fail", "Recovered."]
        assert server.requests[-1].body["messages"] == [{"role": "user", "content": "will fail"}]
        assert str(app.screen.status.render()).startswith("session: 1 answer · ")


async def test_a_prompt_typed_after_an_error_replaces_the_one_put_back(server):
    """The failed prompt comes back selected: Enter or Ctrl+R sends it again,
    and typing at once starts a new prompt instead of extending the old one
    (which sent "will failnew" before)."""
    app = make_app(server, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        server.inject("http:500")
        await send(pilot, "will fail")
        await wait_idle(pilot)
        composer = app.screen.query_one(Composer)
        assert composer.text == "will fail" and composer.selected_text == "will fail"
        assert app.focused is composer
        await pilot.press("n", "e", "w", "enter")
        await wait_idle(pilot)
        assert server.requests[-1].body["messages"][-1] == {"role": "user", "content": "new"}


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("midstream_error", "mid-stream"),
        ("empty_200", "no events at all"),
    ],
)
async def test_broken_streams_keep_the_partial_answer(server, fault, words):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.inject(fault)
        await send(pilot, "tell me about rust")
        await wait_idle(pilot)
        block = app.screen.query_one(ErrorBlock)
        assert words in block.message
        (view,) = answers(app)
        if fault == "empty_200":
            assert not view.display  # nothing arrived: only the error block shows
        else:
            assert view.markdown.source  # what arrived is still on screen
            assert view.footer.has_class("-failed")


@pytest.mark.parametrize(
    ("fault", "how"), [("truncate", "with no finish reason"), ("done_no_finish", "with [DONE]")]
)
async def test_a_cut_off_answer_is_kept_said_so_and_sent_back(server, fault, how):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.inject(fault)
        await send(pilot, "tell me about rust")
        await wait_idle(pilot)
        assert not app.screen.query(ErrorBlock)  # the answer is there, only short
        (turn,) = app.screen.turns
        assert turn.outcome is Outcome.INTERRUPTED and turn.message.interrupted
        assert how in turn.message.error
        (view,) = answers(app)
        partial = view.markdown.source
        assert partial and partial == turn.message.text
        assert "cut off" in str(view.footer.render()) and "saved" not in str(view.footer.render())
        assert "1 cut off" in str(app.screen.status.render())
        await send(pilot, "go on")
        await wait_idle(pilot)
        sent = server.requests[-1].body["messages"]
        assert sent[:2] == [
            {"role": "user", "content": "tell me about rust"},
            {"role": "assistant", "content": partial},
        ]


async def test_connection_refused_error_block():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings = resolve(base_url=f"http://127.0.0.1:{port}/v1", model="m", env={})
    app = TokentideApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello?")
        await wait_idle(pilot)
        message = app.screen.query_one(ErrorBlock).message
        assert "connection refused" in message and "base URL is right" in message


async def test_model_output_cannot_inject_markup_or_escapes(server):
    evil = "Look: [bold red]x[/] and \x1b]52;c;ZXZpbA==\x07 and \x1b[2J done [link=x]y[/link]"
    server.script(evil)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        await wait_idle(pilot)
        (view,) = answers(app)
        assert "\x1b" not in view.markdown.source and "\x07" not in view.markdown.source
        rendered = "\n".join(screen_text(app, view.markdown))
        assert "[bold red]x[/]" in rendered
        assert "[link=x]y[/link]" in rendered
        assert "\x1b" not in rendered and "\x07" not in rendered
        segments = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
        assert not any("\x1b" in text or "\x07" in text for text in segments)


async def test_thinking_block_and_tool_calls(server):
    app = make_app(server, model="demo-think")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "why is the sky blue")
        await wait_idle(pilot)
        (view,) = answers(app)
        thinking = view.query_one("#thinking")
        assert thinking.has_class("-shown") and thinking.collapsed
        assert str(view.thinking_text.render()) == app.screen.turns[-1].message.reasoning
        title = thinking.query_one("CollapsibleTitle")
        title.focus()
        await pilot.press("enter")
        assert not thinking.collapsed

    app = make_app(server, model="demo-tools")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "weather in Paris?")
        await wait_idle(pilot)
        view = answers(app)[0]
        tool_view = view.query_one(ToolCallView)
        rendered = str(tool_view.render())
        call = app.screen.turns[-1].message.tool_calls[0]
        assert call.name in rendered and "{" in rendered
        assert "tool_calls" in str(view.footer.render())


async def test_follows_at_the_bottom_and_stays_put_after_scrolling_up(server):
    server.tokens_per_second = 150
    server.script("\n\n".join(f"Paragraph {i} of a long answer." for i in range(400)))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        conversation = app.screen.conversation
        await send(pilot, "a long one")
        await server.await_for(lambda r: r.tokens_sent >= 250, timeout=10)
        await pilot.pause()
        assert conversation.max_scroll_y > 0
        assert conversation.following
        # The reader scrolls up: the view must stay where they put it.
        conversation.focus()
        await pilot.press("home")
        await pilot.pause()
        held = conversation.scroll_y
        grown_from = conversation.max_scroll_y
        sent = server.requests[-1].tokens_sent
        await server.await_for(lambda r: r.tokens_sent >= sent + 150, timeout=10)
        await pilot.pause(0.1)
        assert conversation.max_scroll_y > grown_from
        assert conversation.scroll_y == held == 0
        assert app.screen.query_one(NewOutputHint).has_class("-shown")
        # End resumes following, even from the composer (which has its own End).
        app.screen.query_one(Composer).focus()
        await pilot.press("end")
        await pilot.pause()
        assert conversation.following
        assert not app.screen.query_one(NewOutputHint).has_class("-shown")
        await pilot.press("escape")
        await wait_idle(pilot)


async def test_page_down_a_resize_or_the_history_panel_leave_a_follower_following(server):
    """PageDown at the end released Textual's anchor (a scroll that went nowhere,
    so nothing engaged it again); a resize or the history panel re-wraps the
    answer, which showed as "new lines" below a reader who was at the end."""
    server.tokens_per_second = 150
    server.script("\n\n".join(f"Paragraph {i} of a long answer." for i in range(400)))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        conversation = app.screen.conversation
        hint = app.screen.query_one(NewOutputHint)
        await send(pilot, "a long one")
        await server.await_for(lambda r: r.tokens_sent >= 250, timeout=10)
        await pilot.pause()
        assert conversation.max_scroll_y > 0 and conversation.following
        for step in ("pagedown", (80, 24), "ctrl+b", SIZE):
            if isinstance(step, str):
                await pilot.press(step)
            else:
                await pilot.resize_terminal(*step)
            sent = server.requests[-1].tokens_sent
            await server.await_for(lambda r, sent=sent: r.tokens_sent >= sent + 30, timeout=10)
            await pilot.pause()
            await pilot.pause()
            assert conversation.following, step
            assert not hint.has_class("-shown"), step
        await pilot.press("escape")
        await wait_idle(pilot)


async def test_composer_keys(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        composer.focus()
        await pilot.press("a", "ctrl+j", "b")
        assert composer.text == "a\nb"
        server.script("ok")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert server.requests[-1].body["messages"][-1]["content"] == "a\nb"
        assert composer.text == ""
        await pilot.press("up")
        assert composer.text == "a\nb"  # Up in an empty composer recalls the last prompt
        await pilot.press("down")
        assert composer.text == ""


async def test_quit_mid_stream_cancels_first(server):
    server.tokens_per_second = 100
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=10)
        await pilot.press("ctrl+q")
        record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
    assert not record.completed
    assert app.return_value == 0


async def test_new_chat_clears_view_and_context(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.script("one")
        await send(pilot, "first")
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not answers(app) and app.screen.turns == []
        server.script("two")
        await send(pilot, "again")
        await wait_idle(pilot)
    assert server.requests[-1].body["messages"] == [{"role": "user", "content": "again"}]


async def test_demo_notice_is_shown(tmp_path):
    settings = resolve(env={}, path=tmp_path / "none.toml")
    with DemoServer(tokens_per_second=1000, ttft=0) as demo:
        endpoint = dataclasses.replace(settings.endpoint, base_url=demo.base_url)
        app = TokentideApp(dataclasses.replace(settings, endpoint=endpoint))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            notes = [n.message for n in app._notifications]
            assert any("demo provider" in note for note in notes)


async def test_stop_key_from_the_input_thread_stops_the_provider_at_once(server):
    """What the terminal driver does on Esc, before the key reaches the event loop."""
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=20)
        thread = threading.Thread(target=app.stop_key_pressed)
        pressed = time.perf_counter()
        thread.start()
        thread.join()
        record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        assert record.disconnected_at - pressed < AT_ONCE
        await wait_idle(pilot)  # no Esc reached the app: the stream ended on its own
        (view,) = answers(app)
        assert "stopped · " in str(view.footer.render())
        assert not app.query(ErrorBlock)
        assert app.screen.turns[-1].outcome is Outcome.STOPPED


async def test_ctrl_c_mid_stream_stops_like_esc(server):
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=10)
        pressed = time.perf_counter()
        await pilot.press("ctrl+c")
        record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        assert record.disconnected_at - pressed < AT_ONCE
        await wait_idle(pilot)
        assert answers(app)[0].footer.has_class("-stopped")
        assert app.is_running  # Ctrl+C never kills the app


async def test_new_chat_mid_stream_cancels_first(server):
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=10)
        await pilot.press("ctrl+n")
        record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
        await pilot.pause()
        assert not record.completed
        assert not answers(app) and app.screen.turns == [] and not app.screen.streaming


async def test_thinking_and_tool_calls_show_while_streaming(server):
    server.tokens_per_second = 60
    app = make_app(server, model="demo-think")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "why is the sky blue")
        await server.await_for(lambda r: r.tokens_sent >= 8)
        (view,) = answers(app)
        thinking = view.query_one("#thinking")
        await pilot.pause(0.25)  # side views are redrawn at most 10×/s
        assert app.screen.streaming
        assert thinking.has_class("-shown")
        assert str(view.thinking_text.render())
        await pilot.press("escape")
        await wait_idle(pilot)

    server.tokens_per_second = 8
    app = make_app(server, model="demo-tools")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "weather in Paris?")
        await server.await_for(lambda r: r.tokens_sent >= 3)
        await pilot.pause(0.15)
        assert app.screen.streaming
        (view,) = answers(app)
        assert view.query(ToolCallView)  # shown before the call is complete
        await pilot.press("escape")
        await wait_idle(pilot)


async def test_a_tool_call_answer_does_not_break_the_next_turn(server):
    """Tools are not run, so the tool call must not be sent back unanswered
    (the demo server rejects that history with a 400, as OpenAI does)."""
    app = make_app(server, model="demo-tools")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "weather in Paris?")
        await wait_idle(pilot)
        assert app.screen.turns[-1].message.tool_calls
        server.script("Fine, without tools.")
        await send(pilot, "never mind")
        await wait_idle(pilot)
        assert not app.query(ErrorBlock)
        assert answers(app)[-1].markdown.source == "Fine, without tools."
    assert [m["role"] for m in server.requests[-1].body["messages"]] == ["user", "user"]


async def test_enter_during_cleanup_waits_for_the_answer_to_be_recorded(server):
    server.tokens_per_second = 150
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_answer(pilot, server, tokens=10)
        await pilot.press("escape")
        await send(pilot, "next")  # may land while the first is being finished
        await wait_idle(pilot)
        await pilot.pause()
        await wait_idle(pilot)
        first = answers(app)[0]
        assert "stopped · " in str(first.footer.render())
        first_turn = app.screen.turns[0]
        assert first_turn.outcome is Outcome.STOPPED and first_turn.message.text


async def test_only_web_links_open(server):
    app = make_app(server)
    opened: list[str] = []
    app.open_url = lambda url, **kw: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        server.script(
            "[web](https://example.com)\n\n[file](file:///etc/passwd)\n\n[js](javascript:x)"
        )
        await send(pilot, "q")
        await wait_idle(pilot)
        markdown = answers(app)[0].markdown
        rows = [strip.text for strip in markdown._strips]
        for word in ("web", "file", "js"):
            y = next(y for y, row in enumerate(rows) if row.lstrip("[").startswith(word))
            await pilot.click(markdown, offset=(markdown.styles.padding.left + 1, y))
    assert opened == ["https://example.com"]


async def test_esc_before_the_worker_runs_does_not_wedge_the_app(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await screen.send("tell me about rust")
        screen.action_stop()  # same tick: the worker has not started yet
        await wait_idle(pilot)
        await pilot.pause()
        assert not screen.streaming and screen.current is None
        (view,) = answers(app)
        assert "stopped · 0 tokens received" in str(view.footer.render())
        server.script("still works")
        await send(pilot, "next")
        await wait_idle(pilot)
        assert answers(app)[-1].markdown.source == "still works"


async def test_quit_right_as_an_answer_finishes_still_quits(server, monkeypatch):
    """A quit that lands right as an answer is recorded must still quit."""
    from tokentide.tui.screens.chat import ChatScreen

    quits: list[asyncio.Task] = []
    close = ChatScreen._close

    async def close_then_quit(self, in_flight) -> None:
        await close(self, in_flight)  # recorded and drawn: streaming is over
        quits.append(asyncio.get_running_loop().create_task(self.app.action_quit()))

    monkeypatch.setattr(ChatScreen, "_close", close_then_quit)
    server.script("short")
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "q")
        await wait_idle(pilot)
        await asyncio.wait_for(quits[0], 5)
        await pilot.pause()
    assert app.return_value == 0 and not app.is_running


async def test_enter_then_esc_at_once_sends_nothing(server):
    """Both keys queued before the prompt reaches the screen (a fast typist, a paste)."""
    from textual import events

    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one(Composer).load_text("never mind")
        app.post_message(events.Key("enter", "\r"))
        app.post_message(events.Key("escape", "\x1b"))
        await pilot.pause()
        await wait_idle(pilot)
        (turn,) = app.screen.turns
        assert turn.outcome is Outcome.STOPPED and not server.requests
        assert not app.screen.streaming
        server.script("next one")
        await send(pilot, "next")
        await wait_idle(pilot)
        assert answers(app)[-1].markdown.source == "next one"


async def test_a_stop_from_the_input_thread_while_the_prompt_mounts(server):
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        sending = asyncio.create_task(screen.send("tell me about rust"))
        await asyncio.sleep(0)  # send() has created the turn and is mounting its views
        assert screen.current is not None
        app.stop_key_pressed()  # what the driver does the moment Esc is parsed
        screen.action_stop()  # ... and then the key reaches the screen
        await sending
        await wait_idle(pilot)
        (turn,) = screen.turns
        assert turn.outcome is Outcome.STOPPED and not server.requests
        assert not screen.streaming and screen.current is None


async def test_a_stopped_answer_is_expected_to_be_as_long_as_the_models_answers(server):
    """The median of the model's last finished answers in the history (5 at least)."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()  # the history opens after the first frame
        for words in (40, 80, 20, 60, 100):
            server.script(" ".join(["word"] * words))
            await send(pilot, "q")
            await wait_idle(pilot)
        finished = sorted(turn.metrics().tokens_received for turn in app.screen.turns)
        # Not through the composer: Pilot's press would wait for the Markdown
        # blocks that streaming replaces, that is until the answer ends.
        await app.screen.send("tell me about rust")
        await server.await_for(lambda r: r.id == 6 and r.tokens_sent >= 10)
        await pilot.press("escape")
        await wait_idle(pilot)
        stopped = app.screen.turns[-1]
        assert stopped.expected.basis == "history"
        assert stopped.expected.tokens == finished[2]
        assert "past answers" in answers(app)[-1].footer.tooltip


async def test_an_answer_past_what_the_app_draws_is_kept_whole(server, monkeypatch):
    """A server that never stops must not take the app's memory and screen:
    the view draws the first DRAWN_CHARS and says so; the answer is kept whole."""
    from tokentide.tui.widgets import assistant_message

    monkeypatch.setattr(assistant_message, "DRAWN_CHARS", 300)
    text = "".join(f"Line {n} of a long answer.\n\n" for n in range(60))
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.script(text)
        await send(pilot, "go")
        await wait_idle(pilot)
        (view,) = answers(app)
        (turn,) = app.screen.turns
        assert turn.message.text == text and turn.outcome is Outcome.FINISHED
        assert view.markdown.source == text[:300]
        notes = [str(w.render()) for w in view.query(".warning")]
        assert notes == [
            "the answer goes on past 300 characters: the app draws no more of it "
            "(all of it is kept in the history)"
        ]


@pytest.mark.parametrize("attempt", range(3))
async def test_a_closing_fence_leaves_no_line_blank(server, attempt):
    """At the end the view shrinks from the rows kept free while streaming to
    its exact height; the lines redrawn then must be drawn (the last line of
    a fence was left blank about one time in ten)."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.tokens_per_second = 40
        server.script("Here:\n\n```python\ndef answer():\n    return 42\n```")
        await send(pilot, "go")
        await wait_idle(pilot)
        await pilot.pause()
        rows = "\n".join(screen_text(app))
        assert "def answer():" in rows and "return 42" in rows, rows


async def test_a_frame_that_draws_below_the_rows_grows_at_once_even_with_a_growth_timed(
    monkeypatch,
):
    """A frame whose new lines are all below the rows laid out shows nothing
    until the view grows. A growth timed by an earlier frame (half a frame
    after it) is not waited for: at 5,000 tok/s that left the screen without
    output for 100-110 ms."""
    from textual.app import App
    from textual.containers import VerticalScroll

    from tokentide.tui.widgets import markdown_view

    now = [100.0]
    monkeypatch.setattr(markdown_view, "time", SimpleNamespace(monotonic=lambda: now[0]))

    class One(App):
        def compose(self):
            with VerticalScroll():
                yield MarkdownView()

    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(MarkdownView)
        view.write("First paragraph.\n\n")
        await until(pilot, lambda: view._document is not None and view._shown, "the view laid out")
        rows = view._shown
        # A frame with lines in the rows laid out and lines past them: the
        # growth is timed, half a frame on.
        now[0] += 1.0
        view.write("".join(f"Paragraph {n}.\n\n" for n in range(rows)))
        view._frame()
        assert view._growth_due is not None and view._shown == rows
        # The next frame's lines are all below the rows: it grows now.
        now[0] += 0.5 / markdown_view.FPS / 2
        view.write("Far below.\n\n")
        view._frame()
        assert view._growth_due is None
        assert view._shown > rows


async def test_the_status_line_is_redrawn_with_the_answers_frames(server, monkeypatch):
    """While the answer's frames come, the status line is redrawn in them, not
    on its own clock: each redraw of its own was a screen update of its own
    (37 in a 20 s answer). It still shows the answer going on."""
    from tokentide.tui.widgets.status_line import StatusLine

    in_frame = [False]
    draws: list[bool] = []
    frame, draw = MarkdownView._frame, StatusLine._draw

    def framed(view: MarkdownView) -> None:
        in_frame[0] = True
        try:
            frame(view)
        finally:
            in_frame[0] = False

    def drawn(line: StatusLine) -> None:
        if line._metrics_of is not None:
            draws.append(in_frame[0])
        draw(line)

    monkeypatch.setattr(MarkdownView, "_frame", framed)
    monkeypatch.setattr(StatusLine, "_draw", drawn)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        server.tokens_per_second = 200
        server.script(" ".join(f"word{n}" for n in range(400)))
        await send(pilot, "go")
        await server.await_for(lambda r: r.tokens_sent >= 300)
        await pilot.pause(0.6)  # a redraw at least after the 300th token
        streaming, shown = list(draws), str(app.screen.status.content)
        assert len(streaming) >= 3, streaming  # 1.5 s of answer: three redraws at least
        # The first is the start's (no frame yet); the rest rode on frames.
        assert all(streaming[1:]), streaming
        counted = re.search(r"~(\d+) tokens", shown)
        assert counted and int(counted.group(1)) >= 250, shown


async def test_the_prompt_boxs_cursor_holds_still_while_an_answer_streams(server):
    """Each blink is a screen update of its own; while an answer streams the
    cursor stays shown, and blinks again once the answer is done."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        assert composer.cursor_blink
        server.tokens_per_second = 100
        server.script(" ".join(f"word{n}" for n in range(100)))
        await send(pilot, "go")
        await until(pilot, lambda: app.screen.streaming, "the answer to start")
        assert not composer.cursor_blink
        await wait_idle(pilot)
        assert composer.cursor_blink
