"""Racing models in the app under Pilot: two providers of a real config file,
one speaking OpenAI's wire and one Anthropic's, each on its own demo server
(so each lane's answer is scripted on its own server, whichever request
arrives first), raced from the palette's "Race models…"."""

from __future__ import annotations

import time

import pytest

from tests.pilot import AT_ONCE, answers, screen_text, send, wait_idle
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.tui.app import TokentideApp
from tokentide.tui.screens.race_picker import RacePicker
from tokentide.tui.store import Store
from tokentide.tui.turn import Outcome
from tokentide.tui.widgets.alternatives import Alternatives
from tokentide.tui.widgets.race_bar import RaceBar
from tokentide.tui.widgets.race_view import RaceView

SIZE = (120, 40)
ALPHA = "**Alpha** answers first: the sky scatters blue light the most."
BETA = "*Beta* answers second: Rayleigh scattering, strongest at short wavelengths."
THOUGHT = "Think about scattering."


pytestmark = pytest.mark.usefixtures("history_file")


def configure(isolated_env, a: DemoServer, b: DemoServer) -> None:
    """Provider a on OpenAI's wire, b on Anthropic's (the app starts on a)."""
    path = isolated_env / "xdg-config" / "tokentide" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'provider = "a"\n'
        f'[providers.a]\nwire = "openai"\nbase_url = "{a.base_url}"\nmodel = "demo"\n'
        f'[providers.b]\nwire = "anthropic"\nbase_url = "{b.base_url.removesuffix("/v1")}"\n'
        'model = "demo-think"\napi_key = "sk-ant-test"\n'
    )


def chats(server: DemoServer) -> list:
    return [r for r in server.requests if r.path.endswith(("/chat/completions", "/messages"))]


async def race_mode(pilot, *searches: str) -> RacePicker:
    """Ctrl+P, "Race models…", then each search's first model ticked, Ctrl+S."""
    await pilot.app.screen.started.wait()
    assert pilot.app.screen.history.store is not None
    await pilot.press("ctrl+p")
    await pilot.press(*"race models")
    await pilot.pause(0.2)
    await pilot.press("enter")
    await pilot.pause()
    picker = pilot.app.screen
    assert isinstance(picker, RacePicker)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for search in searches:
        await pilot.press(*search)
        await pilot.press("enter")
        await pilot.press(*["backspace"] * len(search))
    assert "☑" in "\n".join(screen_text(pilot.app))
    await pilot.press("ctrl+s")
    await pilot.pause()
    return picker


def race_view(app) -> RaceView:
    return app.screen.query_one(RaceView)


async def test_a_race_streams_each_lane_then_keeping_lane_2_forks_the_conversation(
    servers, isolated_env
):
    a, b = servers
    configure(isolated_env, a, b)
    a.script(ALPHA)
    b.script(BETA, reasoning=THOUGHT)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        picker = await race_mode(pilot, "demo a", "think b")
        assert [(c.provider, c.model) for c in picker.ticked] == [
            ("a", "demo"),
            ("b", "demo-think"),
        ]
        chat = app.screen
        bar = chat.query_one(RaceBar)
        assert str(bar.render()) == "racing: a:demo · b:demo-think — Esc to cancel race mode"

        await send(pilot, "why is the sky blue?")
        await wait_idle(pilot)
        view = race_view(app)
        assert view.has_class("-columns")  # 120 columns: 60 a lane
        one, two = view.lanes
        # Every lane's text exact, each from its own wire.
        assert one.answer.markdown.source == ALPHA and one.answer.message.text == ALPHA
        assert two.answer.markdown.source == BETA and two.answer.message.text == BETA
        assert two.answer.message.reasoning == THOUGHT
        assert chats(a)[-1].path.endswith("/chat/completions") and chats(a)[-1].completed
        assert chats(b)[-1].path.endswith("/v1/messages") and chats(b)[-1].completed
        # Each lane's live numbers in its header, and its outcome.
        for lane, label in ((one, "a:demo"), (two, "b:demo-think")):
            header = str(lane.header.render())
            assert header.startswith(f"{lane.number}  {label} · TTFT "), header
            assert "tok/s" in header and "tokens" in header and "✔ finished" in header
            assert f"{lane.number} keeps" in header
            assert lane.outcome is Outcome.FINISHED
        assert chat.focused is chat.composer  # typing after a race still lands in the prompt
        assert "race over — Alt+Up, then 1–2, keeps a lane's answer" in str(bar.render())
        await pilot.press("alt+up")
        assert chat.focused is view
        await pilot.pause()
        assert "12 Keep lane" in screen_text(app)[-1]  # the key bar: 1, 2

        await pilot.press("2")
        await pilot.pause()
        assert not chat.query(RaceView)
        (kept,) = answers(app)
        assert kept.message.text == BETA and kept.markdown.source == BETA
        assert str(kept.query_one(Alternatives).render()).startswith("‹ 2/2 ›")
        assert "b · demo-think" in chat.sub_title  # the kept lane's model goes on
        assert not bar.has_class("-shown")
        assert chat.focused is chat.composer

        b.script("And at sunset?")
        await send(pilot, "and at sunset?")
        await wait_idle(pilot)
        body = chats(b)[-1].body
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert BETA in str(body["messages"][1]["content"])
        assert len(chats(a)) == 1

        # ← on the kept answer shows lane 1's, as a regenerated answer would be.
        kept = answers(app)[0]
        kept.focus()
        await pilot.press("left")
        await pilot.pause()
        assert answers(app)[0].message.text == ALPHA


async def test_the_history_has_every_lane_and_the_kept_one_chosen(servers, isolated_env, tmp_path):
    a, b = servers
    configure(isolated_env, a, b)
    a.script(ALPHA)
    b.script(BETA)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await race_mode(pilot, "demo a", "think b")
        await send(pilot, "why is the sky blue?")
        await wait_idle(pilot)
        await pilot.press("alt+up", "2")
        await pilot.pause()
        b.script("Red.")
        await send(pilot, "and at sunset?")
        await wait_idle(pilot)
        conversation = app.screen.history.conversation_id
    with Store.open(tmp_path / "history.db") as store:
        rows = store.messages(conversation)
    prompt, *rest = rows
    # Each lane's row is made at its first token: in whichever order they came.
    lanes = sorted((r for r in rest if r.parent_id == prompt.id), key=lambda r: r.provider)
    assert [(r.provider, r.wire, r.model, r.text, r.chosen) for r in lanes] == [
        ("a", "openai", "demo", ALPHA, False),
        ("b", "anthropic", "demo-think", BETA, True),
    ]
    (follow,) = [r for r in rows if r.role == "user" and r.parent_id == lanes[1].id]
    assert follow.text == "and at sunset?"


async def test_esc_mid_race_closes_every_connection(servers, isolated_env, tmp_path):
    a, b = servers
    for server in servers:
        server.tokens_per_second = 100
    configure(isolated_env, a, b)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await race_mode(pilot, "demo a", "think b")
        await send(pilot, "tell me about rust")
        for server in servers:
            await server.await_for(lambda r: r.tokens_sent >= 20)
        pressed = time.perf_counter()
        await pilot.press("escape")
        for server in servers:
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
            assert record.disconnected_at - pressed < AT_ONCE
            assert not record.completed
        await wait_idle(pilot)
        view = race_view(app)
        for lane in view.lanes:
            assert lane.outcome is Outcome.STOPPED
            assert "■ stopped" in str(lane.header.render())
            assert "stopped · " in str(lane.answer.footer.render())
            assert "saved" in str(lane.answer.footer.render())
        assert not app.screen.streaming
        conversation = app.screen.history.conversation_id
    with Store.open(tmp_path / "history.db") as store:
        rows = [r for r in store.messages(conversation) if r.role == "assistant"]
    assert [r.outcome for r in rows] == ["stopped", "stopped"]
    assert all(r.tokens_saved is not None and r.tokens_saved > 0 for r in rows)


async def test_esc_leaves_race_mode_and_a_prompt_goes_to_one_model(servers, isolated_env):
    a, b = servers
    configure(isolated_env, a, b)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await race_mode(pilot, "demo a", "think b")
        bar = app.screen.query_one(RaceBar)
        assert bar.has_class("-shown")
        await pilot.press("escape")
        assert not bar.has_class("-shown")
        a.script("Just one.")
        await send(pilot, "hello")
        await wait_idle(pilot)
        assert not app.screen.query(RaceView)
        assert [v.message.text for v in answers(app)] == ["Just one."]
        assert chats(b) == []


async def test_a_new_prompt_keeps_the_first_finished_lane(servers, isolated_env):
    a, b = servers
    configure(isolated_env, a, b)
    a.inject("http:400")  # lane 1 fails (not retried): lane 2 is the first to finish
    b.script(BETA)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await race_mode(pilot, "demo a", "think b")
        await send(pilot, "why is the sky blue?")
        await wait_idle(pilot)
        one, two = race_view(app).lanes
        assert one.outcome is Outcome.FAILED and two.outcome is Outcome.FINISHED
        assert "lane 2, the first to finish" in str(app.screen.query_one(RaceBar).render())
        b.script("Red.")
        await send(pilot, "and at sunset?")
        await wait_idle(pilot)
        assert [v.message.text for v in answers(app)] == [BETA, "Red."]
        body = chats(b)[-1].body
        assert BETA in str(body["messages"][1]["content"])
        assert any("Kept lane 2" in n.message for n in app._notifications)


async def test_lanes_stack_when_the_terminal_is_narrow(servers, isolated_env):
    a, b = servers
    configure(isolated_env, a, b)
    app = TokentideApp(resolve())
    async with app.run_test(size=(70, 40)) as pilot:
        await race_mode(pilot, "demo a", "think b")
        await send(pilot, "hi")
        await wait_idle(pilot)
        view = race_view(app)
        assert view.has_class("-stacked")
        one, two = view.lanes
        assert two.region.y > one.region.y and two.region.x == one.region.x
