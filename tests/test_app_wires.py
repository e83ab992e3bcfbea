"""The app on every wire format: live thinking, tool calls and Esc, against
the demo server speaking each format over loopback."""

from __future__ import annotations

import json
import time

import pytest

from tests.pilot import AT_ONCE, answers, send, wait_idle
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.client.request import OutputSchema
from tokentide.tui.app import TokentideApp
from tokentide.tui.turn import Outcome, Params
from tokentide.tui.widgets.tool_call_view import ToolCallView

WIRES = ["anthropic", "responses", "ollama", "gemini"]
SIZE = (120, 40)


@pytest.fixture(scope="module")
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


def app_on(server: DemoServer, wire: str, model: str) -> TokentideApp:
    url = server.base_url if wire == "responses" else server.base_url.removesuffix("/v1")
    return TokentideApp(resolve(provider=wire, base_url=url, model=model, env={}))


@pytest.mark.parametrize("wire", WIRES)
async def test_thinking_and_answer_stream_live(server, wire):
    app = app_on(server, wire, "demo-think")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "why is the sky blue")
        await wait_idle(pilot)
        (view,) = answers(app)
        (turn,) = app.screen.turns
        assert turn.outcome is Outcome.FINISHED, turn.message.error
        assert turn.message.reasoning and view.thinking_text.render()
        assert view.query_one("#thinking").has_class("-shown")
        assert view.markdown.source == turn.message.text and turn.message.text
        assert "finished (stop)" in str(view.footer.render())
        assert (
            server.requests[-1]
            .path.split("?")[0]
            .endswith(
                {
                    "anthropic": "/v1/messages",
                    "responses": "/v1/responses",
                    "ollama": "/api/chat",
                    "gemini": ":streamGenerateContent",
                }[wire]
            )
        )


@pytest.mark.parametrize("wire", WIRES)
async def test_a_tool_call_is_drawn_with_its_arguments(server, wire):
    app = app_on(server, wire, "demo-tools")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "weather in Lisbon?")
        await wait_idle(pilot)
        (turn,) = app.screen.turns
        [call] = turn.message.tool_calls
        assert call.name == "get_weather" and call.arguments["city"] == "Lisbon"
        assert turn.message.finish_reason == "tool_calls"
        view = app.screen.query_one(ToolCallView)
        assert "get_weather" in str(view.render()) and "Lisbon" in str(view.render())


@pytest.mark.parametrize("wire", WIRES)
async def test_esc_closes_the_stream_on_every_wire(wire):
    with DemoServer(tokens_per_second=150, ttft=0.02) as server:  # its own records
        app = app_on(server, wire, "demo")
        async with app.run_test(size=SIZE) as pilot:
            await send(pilot, "tell me about rust")
            await server.await_for(lambda r: r.tokens_sent >= 20)
            pressed = time.perf_counter()
            await pilot.press("escape")
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
            assert record.disconnected_at - pressed < AT_ONCE
            assert not record.completed
            await wait_idle(pilot)
            (turn,) = app.screen.turns
            assert turn.outcome is Outcome.STOPPED and turn.message.text
            assert "stopped" in str(answers(app)[0].footer.render())


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
async def test_structured_output_is_drawn_as_json_not_markdown(server, wire):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
    }
    url = server.base_url if wire == "openai" else server.base_url.removesuffix("/v1")
    settings = resolve(provider=wire, base_url=url, model="demo", env={})
    app = TokentideApp(settings, Params(output_schema=OutputSchema(schema, "place")))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "a place in Oslo")
        await wait_idle(pilot)
        (view,) = answers(app)
        (turn,) = app.screen.turns
        assert json.loads(turn.message.text) == {"city": "Oslo", "n": 3}
        assert view.json_view is not None and not view.json_view.has_class("-invalid")
        assert json.loads(str(view.json_view.render())) == {"city": "Oslo", "n": 3}
        assert view.markdown.source == ""  # not drawn twice
