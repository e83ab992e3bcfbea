"""The model picker and the system prompt under Pilot: two demo servers stand
in for two providers of a real config file; what reaches each server, what
the header says, and what a reopened conversation goes on with."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from tests.pilot import send, wait_idle
from tokentide.client.config import resolve
from tokentide.client.demo import MODELS, DemoServer
from tokentide.tui.app import TokentideApp
from tokentide.tui.screens.model_picker import LOADING, ModelPicker
from tokentide.tui.screens.system_prompt import SystemPromptEditor, SystemPromptPicker
from tokentide.tui.widgets.history_panel import HistoryPanel

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("history_file")


def configure(isolated_env, text: str) -> None:
    """The config file where the app looks for it (XDG_CONFIG_HOME, set by conftest)."""
    path = isolated_env / "xdg-config" / "tokentide" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def two_providers(a: DemoServer, b: DemoServer, extra: str = "") -> str:
    return (
        'provider = "a"\nsystem = "Be kind."\n'
        '[prompts]\nconcise = "Answer briefly."\n'
        f'[providers.a]\nwire = "openai"\nbase_url = "{a.base_url}"\nmodel = "demo"\n'
        f'[providers.b]\nwire = "openai"\nbase_url = "{b.base_url}"\n' + extra
    )


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def started(pilot) -> None:
    await pilot.app.screen.started.wait()
    assert pilot.app.screen.history.store is not None


async def open_picker(pilot) -> ModelPicker:
    """Ctrl+O, then until every provider's list has arrived (the workers end)."""
    await pilot.press("ctrl+o")
    picker = pilot.app.screen
    assert isinstance(picker, ModelPicker)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert LOADING not in picker.found.values()
    return picker


def listed(picker: ModelPicker) -> set[tuple[str, str]]:
    return {(c.provider, c.model) for c in picker._choices.values()}


def chats(server: DemoServer) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


async def reopen_last(pilot) -> None:
    """Ctrl+B and Enter: the newest conversation, as a user reopens it."""
    await pilot.press("ctrl+b")
    assert pilot.app.screen.query_one(HistoryPanel).is_open
    await pilot.press("enter")
    await pilot.pause()


async def test_the_picker_lists_every_provider_filters_and_switches(
    servers, isolated_env, monkeypatch
):
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat = app.screen
        assert "a · demo" in chat.sub_title
        a.script("Ok.")
        await send(pilot, "warm up")  # the client of provider a exists now
        await wait_idle(pilot)
        old_client = chat._client

        picker = await open_picker(pilot)
        everything = {(p, m) for p in ("a", "b", "demo") for m in MODELS}
        assert listed(picker) == everything
        rows = "\n".join(screen_rows(app))
        assert "demo-think  b" in rows  # the provider beside the model
        assert re.search(r"● demo +a ", rows)  # the model in use is marked

        await pilot.press(*"b think")
        assert listed(picker) == {("b", "demo-think")}
        await pilot.press(*["backspace"] * 6)
        assert listed(picker) == {(p, m) for p, m in everything if p == "b"}
        await pilot.press("backspace")
        assert listed(picker) == everything
        await pilot.press(*"think b")
        assert listed(picker) == {("b", "demo-think")}
        await pilot.press("enter")
        await pilot.pause()

        assert app.screen is chat
        assert "b · demo-think" in chat.sub_title
        assert old_client._http.is_closed  # the old provider's client is closed
        b.script("From b.")
        await send(pilot, "hello b")
        await wait_idle(pilot)
    assert len(chats(a)) == 1  # only the warm-up
    (request,) = chats(b)
    assert request.body["model"] == "demo-think"
    assert request.body["messages"][-1] == {"role": "user", "content": "hello b"}

    # Reopened after a restart, on provider a: the conversation goes on with b.
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "a · demo" in app.screen.sub_title
        await reopen_last(pilot)
        assert "b · demo-think" in app.screen.sub_title
        b.script("Ok.")
        await send(pilot, "still b?")
        await wait_idle(pilot)
    assert len(chats(a)) == 1
    assert [r.body["model"] for r in chats(b)] == ["demo-think", "demo-think"]


async def test_the_current_model_is_highlighted_whichever_list_comes_first(
    servers, isolated_env, monkeypatch
):
    # Provider b answers first: its first model is highlighted for the while,
    # and gives way to the model in use (a's demo) when a's list comes.
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    from tokentide.tui import models

    listed_b = asyncio.Event()
    fetch = models.model_ids

    async def b_first(endpoint, timeouts):
        if endpoint.base_url.startswith(a.base_url):
            await listed_b.wait()
        ids = await fetch(endpoint, timeouts)
        if endpoint.base_url.startswith(b.base_url):
            listed_b.set()
        return ids

    monkeypatch.setattr(models, "model_ids", b_first)
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        picker = await open_picker(pilot)
        assert listed_b.is_set()
        highlighted = picker._choices[picker.options.highlighted_option.id]
        assert (highlighted.provider, highlighted.model) == ("a", "demo")

        await pilot.press("down")  # the user's choice stays theirs as lists change
        moved = picker.options.highlighted_option.id
        assert moved != picker._id_of(highlighted)
        picker._show()
        assert picker.options.highlighted_option.id == moved


async def test_a_failing_provider_is_one_line_and_the_others_still_list(servers, isolated_env):
    a, b = servers
    extra = (
        f'[providers.down]\nwire = "openai"\nbase_url = "http://127.0.0.1:{closed_port()}/v1"\n'
        '[providers.typo]\nwire = "telepathy"\n'
    )
    configure(isolated_env, two_providers(a, b, extra))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        picker = await open_picker(pilot)
        assert {p for p, _ in listed(picker)} == {"a", "b", "demo"}
        assert "connect" in picker.found["down"].lower()
        assert "telepathy" in picker.found["typo"]
        notes = [o for o in picker.options.options if o.disabled]
        assert [str(o.prompt).split(":")[0] for o in notes] == ["down", "typo"]
        assert all("\n" not in str(o.prompt) for o in notes)
        # One row each on screen, and no pop-up.
        rows = [row for row in screen_rows(app) if "down:" in row or "typo:" in row]
        assert len(rows) == 2
        assert not app._notifications
        await pilot.press("escape")
        assert not isinstance(app.screen, ModelPicker)


def screen_rows(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_a_provider_no_longer_configured_is_said_and_the_current_kept(servers, isolated_env):
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await open_picker(pilot)
        await pilot.press(*"think b", "enter")
        b.script("Ok.")
        await send(pilot, "on b")
        await wait_idle(pilot)

    configure(isolated_env, two_providers(a, b).split("[providers.b]")[0])
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await reopen_last(pilot)
        (notice,) = [n.message for n in app._notifications]
        assert notice == (
            "this conversation used b · demo-think, which is not configured now: keeping a · demo"
        )
        assert "a · demo" in app.screen.sub_title
        a.script("Ok.")
        await send(pilot, "on a now")
        await wait_idle(pilot)
    assert chats(a)[-1].body["model"] == "demo"
    assert chats(a)[-1].body["messages"][-1]["content"] == "on a now"


async def test_a_system_prompt_preset_then_an_edit_are_sent_and_remembered(servers, isolated_env):
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat = app.screen
        assert "system: default" in chat.sub_title
        a.script("Ok.")
        await send(pilot, "first")
        await wait_idle(pilot)
        assert chats(a)[-1].body["messages"][0] == {"role": "system", "content": "Be kind."}

        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SystemPromptPicker)
        await pilot.press("down", "enter")  # default, then concise
        assert app.screen is chat and "system: concise" in chat.sub_title
        a.script("Ok.")
        await send(pilot, "second")
        await wait_idle(pilot)
        assert chats(a)[-1].body["messages"][0] == {
            "role": "system",
            "content": "Answer briefly.",
        }

        await pilot.press("ctrl+s", "e")
        editor = app.screen
        assert isinstance(editor, SystemPromptEditor)
        assert editor.query_one("TextArea").text == "Answer briefly."
        editor.query_one("TextArea").load_text("Only haiku.")
        await pilot.press("ctrl+s")
        assert app.screen is chat and "system: edited (Only haiku.)" in chat.sub_title
        a.script("Ok.")
        await send(pilot, "third")
        await wait_idle(pilot)
        assert chats(a)[-1].body["messages"][0] == {"role": "system", "content": "Only haiku."}

        # A new chat keeps the prompt in use; reopening the first one restores its own.
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+s", "up", "enter")  # "none" is the last preset
        assert "system: none" in chat.sub_title
        a.script("Ok.")
        await send(pilot, "no system here")
        await wait_idle(pilot)
        assert chats(a)[-1].body["messages"][0]["role"] == "user"

    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+b", "down", "enter")  # the older conversation
        await pilot.pause()
        assert "system: edited (Only haiku.)" in app.screen.sub_title
        a.script("Ok.")
        await send(pilot, "fourth")
        await wait_idle(pilot)
    sent = chats(a)[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Only haiku."}
    assert sent[-1] == {"role": "user", "content": "fourth"}


async def test_the_palette_finds_the_model_and_prompt_commands(servers, isolated_env):
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p", *"switch model")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"system prompt")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SystemPromptPicker)


async def test_the_demo_is_always_offered_and_answers_when_picked(servers, isolated_env):
    """Picked from a real provider, the demo gets a loopback server of the app's
    own, stopped when the app ends."""
    a, b = servers
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        picker = await open_picker(pilot)
        assert {m for p, m in listed(picker) if p == "demo"} == set(MODELS)
        await pilot.press(*"demo demo-tools", "enter")
        await pilot.pause()
        chat = app.screen
        assert "demo · demo-tools · built-in demo server" in chat.sub_title
        demo = chat.choices._demo
        demo.script("From the demo.")
        await send(pilot, "hello demo")
        await wait_idle(pilot)
        (request,) = [r for r in demo.requests if r.path.endswith("/chat/completions")]
        assert request.body["model"] == "demo-tools"
    assert chats(a) == [] and chats(b) == []
    assert chat.choices._demo is None  # stopped with the app


async def test_a_switch_mid_answer_closes_the_old_client_once_the_answer_is_recorded(
    servers, isolated_env
):
    a, b = servers
    a.tokens_per_second = 50
    a.script("word " * 1500)  # 30 s: still streaming however slowly the picker opens
    configure(isolated_env, two_providers(a, b))
    app = TokentideApp(resolve())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        chat = app.screen
        await send(pilot, "a long one")
        await a.await_for(lambda r: r.tokens_sent >= 3)
        old_client = chat._client
        await open_picker(pilot)
        await pilot.press(*"think b", "enter")
        await pilot.pause()
        assert chat.streaming and "b · demo-think" in chat.sub_title
        assert not old_client._http.is_closed  # the answer still streams through it
        await pilot.press("escape")
        await wait_idle(pilot)
        assert old_client._http.is_closed
        b.script("Ok.")
        await send(pilot, "now b")
        await wait_idle(pilot)
    assert [r.body["model"] for r in chats(b)] == ["demo-think"]
    assert len(chats(a)) == 1
