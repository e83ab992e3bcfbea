"""The demo server's hostile faults, read by the real client on every wire.

What a user reproduces with `/fault NAME` in a prompt: a line that never
ends and an answer that never ends stop at their limits with the start
kept; garbage token counts are estimated; arguments that are not JSON are
reported as such; a fragment never named is dropped with a warning.
"""

from __future__ import annotations

import pytest

from tokentide.client.config import MB, Endpoint, Limits, Timeouts
from tokentide.client.demo import DemoServer
from tokentide.client.errors import ApiError
from tokentide.client.events import Message
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State

WIRES = ["openai", "anthropic", "responses", "ollama", "gemini"]
LIMITS = Limits(event_bytes=MB, answer_bytes=MB)


@pytest.fixture(scope="module")
def demo():
    with DemoServer(tokens_per_second=4000, ttft=0.0) as server:
        yield server


async def ask(demo: DemoServer, wire: str, prompt: str):
    base = demo.base_url if wire in ("openai", "responses") else demo.base_url[: -len("/v1")]
    target = Endpoint(wire, wire, base, "demo")
    error = None
    client = ChatClient(target, timeouts=Timeouts(connect=2, read=5), retries=0, limits=LIMITS)
    async with client:
        answer = client.stream(ChatRequest("demo", [Message("user", prompt)]))
        try:
            async with answer:
                async for _ in answer:
                    pass
        except ApiError as exc:
            error = exc
    return answer, error


@pytest.mark.parametrize("wire", WIRES)
async def test_a_line_that_never_ends_stops_at_the_event_limit(demo, wire):
    answer, error = await ask(demo, wire, "/fault huge_event hi")
    assert error is not None and error.kind == "limit" and "raise event_mb" in str(error)
    assert answer.state is State.FAILED and answer.message.text  # the 5 tokens before it


@pytest.mark.parametrize("wire", WIRES)
async def test_an_answer_that_never_ends_stops_at_the_answer_limit(demo, wire):
    answer, error = await ask(demo, wire, "/fault endless hi")
    assert error is not None and error.kind == "limit" and "raise answer_mb" in str(error)
    assert MB - 65536 < len(answer.message.text.encode()) <= MB


@pytest.mark.parametrize("wire", WIRES)
async def test_garbage_token_counts_are_estimated(demo, wire):
    answer, error = await ask(demo, wire, "/fault bad_usage hi")
    assert error is None and answer.state is State.FINISHED and answer.message.text
    assert answer.metrics().estimated


@pytest.mark.parametrize("wire", WIRES)
async def test_arguments_that_are_not_json_are_reported_raw(demo, wire):
    answer, error = await ask(demo, wire, "/fault bad_tool_args weather?")
    assert error is None
    [call] = answer.message.tool_calls
    assert call.name and call.arguments is None and call.arguments_raw
    assert call.parse_error and call.parse_error.startswith("arguments are not valid JSON")


@pytest.mark.parametrize("wire", WIRES)
async def test_a_nameless_fragment_is_dropped_with_a_warning(demo, wire):
    answer, error = await ask(demo, wire, "/fault nameless_tool weather?")
    assert error is None and all(call.name for call in answer.message.tool_calls)
    [warning] = answer.message.warnings
    assert warning.startswith("dropped a tool-call fragment the server never named")
