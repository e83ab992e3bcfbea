"""The history in the app, under Pilot: reopen, continue, search, rename, delete,
recall prompts across restarts; against the demo server and a real SQLite file."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from tests.pilot import answers, make_app, send, wait_idle
from tokentide.client.demo import DemoServer
from tokentide.tui.screens.ask_screens import Confirm, Rename
from tokentide.tui.store import AnswerRecord, Store
from tokentide.tui.widgets.composer import Composer
from tokentide.tui.widgets.earlier_hint import EarlierHint
from tokentide.tui.widgets.history_panel import HistoryPanel

SIZE = (120, 40)


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


pytestmark = pytest.mark.usefixtures("history_file")


async def history_ready(pilot) -> None:
    """The history opens right after the first frame."""
    await pilot.app.screen.started.wait()
    assert pilot.app.screen.history.store is not None


async def test_a_conversation_reopens_and_continues(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        server.script("Paris is the capital.")
        await send(pilot, "capital of France?")
        await wait_idle(pilot)

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        await pilot.press("ctrl+b")
        panel = app.screen.query_one(HistoryPanel)
        assert panel.is_open
        await pilot.press("enter")
        await pilot.pause()
        assert not panel.is_open
        (view,) = answers(app)
        assert view.markdown.source == "Paris is the capital."
        assert "finished (stop)" in str(view.footer.render())
        server.script("About 2 million people.")
        await send(pilot, "and its population?")
        await wait_idle(pilot)
    assert server.requests[-1].body["messages"] == [
        {"role": "user", "content": "capital of France?"},
        {"role": "assistant", "content": "Paris is the capital."},
        {"role": "user", "content": "and its population?"},
    ]
    with Store.open() as store:
        (row,) = store.conversations()
        assert row.message_count == 4  # continued in the same conversation


async def test_the_prompt_given_on_the_command_line_is_recorded(server):
    """`tokentide "prompt"` sends it as soon as the chat screen is up, which
    can be before the history opens (after the first frame): it is recorded
    all the same."""
    server.script("Paris is the capital.")
    app = make_app(server.base_url)
    app.first_prompt = "capital of France?"
    async with app.run_test(size=SIZE) as pilot:
        await server.await_for(lambda record: record.ended_at is not None)
        await wait_idle(pilot)
        await history_ready(pilot)
    with Store.open() as store:
        (row,) = store.conversations()
        assert row.message_count == 2
        assert [m.text for m in store.messages(row.id)] == [
            "capital of France?",
            "Paris is the capital.",
        ]


async def test_a_stopped_answer_shows_its_saved_tokens_after_a_restart(server):
    server.tokens_per_second = 150
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        await app.screen.send("tell me about rust")
        await server.await_for(lambda r: r.tokens_sent >= 20)
        await pilot.press("escape")
        await wait_idle(pilot)
        stopped = str(answers(app)[0].footer.render())
    assert "~" in stopped and "saved" in stopped

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        await pilot.press("ctrl+b", "enter")
        await pilot.pause()
        reopened = str(answers(app)[0].footer.render())
        assert "stopped ·" in reopened and "saved" in reopened
        assert reopened.split("stopped")[1] == stopped.split("stopped")[1]


async def two_chats_listed(pilot, server) -> HistoryPanel:
    """Two chats, about cats then about dogs, and the list open."""
    for prompt, text in (("about cats", "Cats purr."), ("about dogs", "Dogs bark.")):
        server.script(text)
        await send(pilot, prompt)
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
    await pilot.press("ctrl+b")
    return pilot.app.screen.query_one(HistoryPanel)


async def test_search_rename_and_delete(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        panel = await two_chats_listed(pilot, server)
        assert len(panel._rows) == 2
        panel.query_one("#history-search").value = "purr"
        await pilot.pause()
        assert [row.title for row in panel._rows.values()] == ["about cats"]

        panel.query_one("#history-list").focus()
        await pilot.press("f2")
        assert isinstance(app.screen, Rename)
        app.screen.query_one("#title").value = "Felines"
        await pilot.press("enter")
        await pilot.pause()
        assert [row.title for row in panel._rows.values()] == ["Felines"]

        await pilot.press("delete")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        assert panel._rows == {}
    with Store.open() as store:
        assert [row.title for row in store.conversations()] == ["about dogs"]


async def test_typing_in_the_list_searches_and_never_renames_or_deletes(server):
    """`d` then `y` typed on the list once deleted the highlighted conversation."""
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        panel = await two_chats_listed(pilot, server)
        search = panel.query_one("#history-search", Input)
        assert panel.query_one("#history-list").has_focus
        await pilot.press("d", "y", "r")
        await pilot.pause()
        assert app.screen is not None and not isinstance(app.screen, (Confirm, Rename))
        assert search.has_focus and search.value == "dyr"
        assert panel._rows == {}  # nothing holds "dyr"
        await pilot.press("backspace", "backspace", "backspace", *"about")
        await pilot.pause()
        assert [row.title for row in panel._rows.values()] == ["about dogs", "about cats"]
        await pilot.press("down")  # moves the highlight; the search keeps the keys
        assert search.has_focus
        await pilot.press("enter")
        await pilot.pause()
        assert not panel.is_open
        (view,) = answers(app)
        assert view.markdown.source == "Cats purr."
    with Store.open() as store:
        assert len(store.conversations()) == 2


async def test_the_list_keeps_the_keys_after_the_open_conversation_is_deleted(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        server.script("Cats purr.")
        await send(pilot, "about cats")
        await wait_idle(pilot)
        await pilot.press("ctrl+b", "delete")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        panel = app.screen.query_one(HistoryPanel)
        assert panel.is_open and panel._rows == {}
        await pilot.press("escape")
        await pilot.pause()
        assert not panel.is_open


async def test_prompts_are_recalled_after_a_restart(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        server.script("ok")
        await send(pilot, "remember this prompt")
        await wait_idle(pilot)

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        composer = app.screen.query_one(Composer)
        composer.focus()
        await pilot.press("up")
        assert composer.text == "remember this prompt"


async def test_a_500_message_conversation_opens_with_its_end_first(server, history_file):
    with Store.open(history_file) as store:
        conversation = store.new_conversation("long")
        for n in range(250):
            store.add_user(conversation, f"question {n}")
            answer = store.start_answer(
                conversation,
                provider="demo",
                wire="openai",
                model="demo",
                host="h",
                params={},
                expected_tokens=None,
                expected_method=None,
            )
            text = f"## Answer {n}\n\n" + "Some **markdown** text. " * 130 + "\n\n- a\n- b\n"
            store.finish_answer(
                answer,
                AnswerRecord(
                    text=text,
                    outcome="finished",
                    finish_reason="stop",
                    tokens_received=300,
                    counted=True,
                ),
            )
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await history_ready(pilot)
        started = time.perf_counter()
        await app.screen.open_conversation(conversation)
        await pilot.pause()
        took = time.perf_counter() - started
        shown = answers(app)
        assert len(shown) == 10 and shown[-1].markdown.source.startswith("## Answer 249")
        (hint,) = app.screen.query(EarlierHint)
        assert hint.hidden == 480
        print(f"\n500-message conversation: its end on screen in {took * 1000:.0f} ms")
        await pilot.press("ctrl+u")
        await pilot.pause()
        assert len(answers(app)) == 20 and hint.hidden == 460
        assert answers(app)[0].markdown.source.startswith("## Answer 230")
        server.script("noted")
        await send(pilot, "one more")
        await wait_idle(pilot)
    sent = server.requests[-1].body["messages"]
    assert len(sent) == 501 and sent[0]["content"] == "question 0"  # all of it, not what is drawn


async def test_without_a_writable_history_the_app_still_chats(server, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(blocker / "history.db"))
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert any(note.startswith("history off:") and "a-file" in note for note in notes), notes
        assert all("\n" not in note for note in notes)
        server.script("still here")
        await send(pilot, "q")
        await wait_idle(pilot)
        assert answers(app)[-1].markdown.source == "still here"
