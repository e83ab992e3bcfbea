"""Regenerate, edit and resend, continue, and switching alternatives, under
Pilot: the real app against the demo server (which records every request
body, so the context sent is checked exactly) and a real SQLite history in a
temporary directory (reopened, the conversation shows the same branches)."""

from __future__ import annotations

import pytest

from tests.pilot import answers, make_app, send, wait_idle
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.tui.app import TokentideApp
from tokentide.tui.turn import CONTINUE_PROMPT
from tokentide.tui.widgets.alternatives import Alternatives
from tokentide.tui.widgets.composer import Composer
from tokentide.tui.widgets.error_block import ErrorBlock
from tokentide.tui.widgets.user_message import UserMessage

SIZE = (120, 40)
LONG = " ".join(f"word{n}" for n in range(200))


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


pytestmark = pytest.mark.usefixtures("history_file")


def sent(server: DemoServer) -> list[tuple[str, str]]:
    """The conversation of the last chat request, as (role, text), on any wire."""
    body = [r for r in server.requests if r.method == "POST"][-1].body
    out = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(block.get("text", "") for block in content)
        out.append((message["role"], content))
    return out


def prompts(app) -> list[str]:
    return [widget.text for widget in app.screen.query(UserMessage)]


def texts(app) -> list[str]:
    return [view.markdown.source for view in answers(app) if view.display]


def switcher(view) -> str | None:
    found = view.query(Alternatives)
    return f"{found.first().which}/{found.first().count}" if found else None


async def ready(pilot) -> None:
    await pilot.app.screen.started.wait()
    assert pilot.app.screen.history.store is not None


async def reopen(pilot) -> None:
    await pilot.press("ctrl+b", "enter")
    await pilot.pause()


async def focus_answer(pilot) -> None:
    """Alt+Up focuses the last message: the last answer."""
    await pilot.press("alt+up")
    assert pilot.app.screen.focused is answers(pilot.app)[-1]


async def test_regenerate_keeps_the_old_answer_as_an_alternative_that_is_sent_when_chosen(
    server,
):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        server.script("First answer.")
        await send(pilot, "name a colour")
        await wait_idle(pilot)
        server.script("Second answer.")
        await focus_answer(pilot)
        await pilot.press("r")
        await wait_idle(pilot)
        assert sent(server) == [("user", "name a colour")]  # the same prompt and context
        assert prompts(app) == ["name a colour"]
        assert texts(app) == ["Second answer."]
        assert switcher(answers(app)[0]) == "2/2"

        await focus_answer(pilot)
        await pilot.press("left")
        await pilot.pause()
        assert texts(app) == ["First answer."]
        assert switcher(answers(app)[0]) == "1/2"
        assert app.screen.focused is answers(app)[0]

        server.script("Fine.")
        await pilot.press("escape")  # back to the prompt
        await send(pilot, "why?")
        await wait_idle(pilot)
        assert sent(server) == [
            ("user", "name a colour"),
            ("assistant", "First answer."),
            ("user", "why?"),
        ]

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await reopen(pilot)
        assert prompts(app) == ["name a colour", "why?"]
        assert texts(app) == ["First answer.", "Fine."]
        assert switcher(answers(app)[0]) == "1/2"
        assert switcher(answers(app)[1]) is None

        await pilot.press("alt+up", "up", "up")  # the last answer, its prompt, the first answer
        assert app.screen.focused is answers(app)[0]
        await pilot.press("right")
        await pilot.pause()
        # The second answer's branch: "why?" followed the first one, not this one.
        assert prompts(app) == ["name a colour"]
        assert texts(app) == ["Second answer."]
        server.script("Because.")
        await pilot.press("escape")  # back to the prompt
        await send(pilot, "and?")
        await wait_idle(pilot)
        assert sent(server) == [
            ("user", "name a colour"),
            ("assistant", "Second answer."),
            ("user", "and?"),
        ]

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await reopen(pilot)
        assert prompts(app) == ["name a colour", "and?"]
        assert texts(app) == ["Second answer.", "Because."]


async def test_ctrl_r_regenerates_the_last_answer(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        server.script("One.")
        await send(pilot, "count")
        await wait_idle(pilot)
        server.script("Two.")
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        assert texts(app) == ["Two."]
        assert switcher(answers(app)[0]) == "2/2"
        assert sent(server) == [("user", "count")]


async def test_ctrl_r_after_a_failure_replaces_the_error_instead_of_adding_one(server):
    app = make_app(server.base_url, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        server.script("Earlier.")
        await send(pilot, "before")
        await wait_idle(pilot)
        for _ in range(2):
            server.inject("http:400")
            await (send(pilot, "fails") if _ == 0 else pilot.press("ctrl+r"))
            await wait_idle(pilot)
            assert len(app.screen.query(ErrorBlock)) == 1
        server.script("Worked.")
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        assert not app.screen.query(ErrorBlock)
        assert prompts(app) == ["before", "fails"]
        assert texts(app) == ["Earlier.", "Worked."]
        assert switcher(answers(app)[-1]) is None  # a failure is no alternative
        assert app.screen.composer.text == ""
        assert sent(server) == [("user", "before"), ("assistant", "Earlier."), ("user", "fails")]

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await reopen(pilot)
        assert prompts(app) == ["before", "fails"]
        assert texts(app) == ["Earlier.", "Worked."]
        assert switcher(answers(app)[-1]) is None


async def test_edit_and_resend_forks_and_the_old_branch_can_be_switched_back(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for prompt, answer in [("q1", "A1."), ("q2", "A2.")]:
            server.script(answer)
            await send(pilot, prompt)
            await wait_idle(pilot)
        await pilot.press("alt+up", "up", "up", "up")  # A2, q2, A1, q1
        first = app.screen.query(UserMessage).first()
        assert app.screen.focused is first
        await pilot.press("e")
        composer = app.screen.query_one(Composer)
        assert app.screen.focused is composer
        assert composer.text == "q1"
        assert "editing" in str(composer.border_title)
        composer.load_text("q1 again")
        server.script("B1.")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert sent(server) == [("user", "q1 again")]
        assert prompts(app) == ["q1 again"]
        assert texts(app) == ["B1."]
        assert composer.border_title is None

        await pilot.press("alt+up", "up")  # B1, then its prompt
        assert "‹ 2/2 ›" in str(app.screen.query(UserMessage).first().render())
        await pilot.press("left")
        await pilot.pause()
        assert prompts(app) == ["q1", "q2"]
        assert texts(app) == ["A1.", "A2."]
        server.script("A3.")
        await pilot.press("escape")  # back to the prompt
        await send(pilot, "q3")
        await wait_idle(pilot)
        assert sent(server) == [
            ("user", "q1"),
            ("assistant", "A1."),
            ("user", "q2"),
            ("assistant", "A2."),
            ("user", "q3"),
        ]

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await reopen(pilot)
        assert prompts(app) == ["q1", "q2", "q3"]
        assert "‹ 1/2 ›" in str(app.screen.query(UserMessage).first().render())
        await pilot.press("alt+up", "up", "up", "up", "up", "up", "right")
        await pilot.pause()
        assert prompts(app) == ["q1 again"]
        assert texts(app) == ["B1."]


async def test_esc_cancels_an_edit_and_the_next_prompt_follows_on(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        server.script("A1.")
        await send(pilot, "q1")
        await wait_idle(pilot)
        await pilot.press("alt+up", "up", "e", "escape")
        composer = app.screen.query_one(Composer)
        assert composer.text == "" and composer.border_title is None
        server.script("A2.")
        await send(pilot, "q2")
        await wait_idle(pilot)
        assert sent(server)[-1] == ("user", "q2") and len(sent(server)) == 3


async def stop_midway(pilot, server: DemoServer, prompt: str) -> str:
    """Send `prompt`, stop its answer after some tokens: the text kept."""
    server.tokens_per_second = 150
    server.script(LONG)
    await pilot.app.screen.send(prompt)
    await server.await_for(lambda r: r.tokens_sent >= 10)
    await pilot.press("escape")
    await wait_idle(pilot)
    server.tokens_per_second = 400
    (kept,) = texts(pilot.app)
    assert kept and LONG.startswith(kept) and kept != LONG
    return kept


async def test_continue_on_openai_is_a_visible_turn(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        kept = await stop_midway(pilot, server, "list words")
        await focus_answer(pilot)
        server.script("The rest.")
        await pilot.press("n")
        await wait_idle(pilot)
        assert sent(server) == [
            ("user", "list words"),
            ("assistant", kept),
            ("user", CONTINUE_PROMPT),
        ]
        assert prompts(app) == ["list words", CONTINUE_PROMPT]
        assert texts(app) == [kept, "The rest."]
        # A finished answer has nothing to continue: n is typed into the prompt.
        await focus_answer(pilot)
        assert "n" not in app.screen.active_bindings
        await pilot.press("n")
        assert app.screen.composer.text == "n"
        assert len([r for r in server.requests if r.method == "POST"]) == 2


def anthropic_app(server: DemoServer) -> TokentideApp:
    url = server.base_url.removesuffix("/v1")
    return TokentideApp(resolve(provider="anthropic", base_url=url, model="demo", env={}))


async def test_continue_on_anthropic_appends_to_the_same_answer(server):
    app = anthropic_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        kept = await stop_midway(pilot, server, "list words")
        await focus_answer(pilot)
        server.script(" and the rest.")
        await pilot.press("n")
        await wait_idle(pilot)
        so_far = kept.rstrip()
        assert sent(server) == [("user", "list words"), ("assistant", so_far)]
        assert prompts(app) == ["list words"]
        whole = so_far + " and the rest."
        assert texts(app) == [whole]
        assert answers(app)[0].copy_text() == whole

        server.script("Ok.")
        await pilot.press("escape")  # back to the prompt
        await send(pilot, "thanks")
        await wait_idle(pilot)
        assert sent(server) == [
            ("user", "list words"),
            ("assistant", whole),
            ("user", "thanks"),
        ]

    app = anthropic_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await reopen(pilot)
        assert texts(app) == [whole, "Ok."]


async def test_the_palette_regenerates_continues_and_edits_the_last_ones(server):
    from tokentide.tui.screens.branch_commands import BranchCommands

    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        provider = BranchCommands(app.screen)
        assert [hit.text async for hit in provider.discover()] == []  # nothing to act on
        kept = await stop_midway(pilot, server, "list words")
        hits = {hit.text: hit async for hit in provider.discover()}
        assert list(hits) == ["Regenerate", "Continue", "Edit prompt"]
        assert "the last answer" in hits["Regenerate"].help

        server.script("Again.")
        await hits["Regenerate"].command()
        await wait_idle(pilot)
        assert texts(app) == ["Again."]
        assert sent(server) == [("user", "list words")]
        # A finished answer: nothing to continue; the prompt goes to the composer.
        hits = {hit.text: hit async for hit in provider.discover()}
        assert list(hits) == ["Regenerate", "Edit prompt"]
        hits["Edit prompt"].command()
        assert app.screen.composer.text == "list words"
        assert kept not in texts(app)
