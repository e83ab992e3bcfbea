"""The demo server's Anthropic Messages API over real loopback sockets, driven by httpx.

A client written for Anthropic is only as good as the peer it is tested
against, so these tests pin down what the demo sends on /v1/messages: the
typed events and their order, block indexes, thinking with its signature, tool
input as partial JSON, usage that matches what was sent, every fault, the
refusals Anthropic words its own way, and a disconnect the server notices.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.conftest import ServerLog
from tests.demo_sse import Streamed, collapsed, compact, decode, post_stream, shape
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import ANSWERS, reasoning_for, split_tokens

FIXTURES = Path(__file__).parent / "fixtures"
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-demo"}
TEXT = "Héllo, wörld! A café ☕ and 😀.\n\n- one\n- two\n\n```python\nprint('hi')\n```\n"
WEATHER_TOOL = {
    "name": "lookup_forecast",
    "description": "Forecast for a place",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
    },
}


def body(prompt: str = "hello there friend", *, model: str = "demo", **kw: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
        **kw,
    }


def messages_url(server: DemoServer) -> str:
    return server.base_url + "/messages"


async def stream(
    client: httpx.AsyncClient, server: DemoServer, payload: dict[str, Any], **headers: str
) -> Streamed:
    return await post_stream(client, messages_url(server), payload, {**HEADERS, **headers})


def deltas(result: Streamed, kind: str) -> list[str]:
    """The pieces of every content_block_delta of one delta type."""
    field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
    return [
        e["delta"][field[kind]]
        for e in result.of("content_block_delta")
        if e["delta"]["type"] == kind
    ]


def assert_typed(result: Streamed) -> None:
    """Every event names its type twice, the same way, and is one JSON object."""
    for event in result.events:
        assert event.json()["type"] == event.event


@pytest.fixture
def server(logs: ServerLog) -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=5000, ttft=0.0, log=logs.append) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


# --------------------------------------------------------------------------- streams


async def test_text_stream_events_in_order(
    server: DemoServer, client: httpx.AsyncClient, logs: ServerLog
) -> None:
    server.script(TEXT)
    result = await stream(client, server, body("x" * 40))

    assert result.status == 200
    assert result.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert result.headers["request-id"].startswith("req_")
    n = len(split_tokens(TEXT))
    assert result.types == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * n,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert_typed(result)
    assert "".join(deltas(result, "text_delta")) == TEXT
    start = result.of("message_start")[0]["message"]
    assert start["id"].startswith("msg_01") and len(start["id"]) == 28
    assert start["model"] == "demo" and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
        "service_tier": "standard",
    }
    assert result.of("content_block_start") == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    ]
    assert {e["index"] for e in result.of("content_block_delta")} == {0}
    assert result.of("content_block_stop") == [{"type": "content_block_stop", "index": 0}]
    assert result.of("message_delta") == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": n},
        }
    ]
    assert all(compact(e.data) for e in result.events if e.event not in ("ping", "error"))
    assert b'data: {"type": "ping"}\n\n' in result.raw, "ping written as Anthropic writes it"

    record = server.requests[-1]
    assert record.stream and record.completed and record.tokens_sent == n
    await logs.wait(len(server.requests))
    assert logs[-1].startswith("POST /v1/messages model=demo stream → 200, ")


async def test_thinking_block_comes_first_and_is_signed(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "how does borrowing work in rust?"
    result = await stream(client, server, body(prompt, model="demo-think"))

    thinking = deltas(result, "thinking_delta")
    text = deltas(result, "text_delta")
    assert "".join(thinking) == reasoning_for(prompt)
    assert "".join(text) == ANSWERS["rust"]
    assert collapsed(result.types) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    first, second = result.of("content_block_start")
    assert first == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    assert second["index"] == 1 and second["content_block"]["type"] == "text"
    block0 = [e for e in result.of("content_block_delta") if e["index"] == 0]
    assert [d["delta"]["type"] for d in block0[-2:]] == ["thinking_delta", "signature_delta"]
    signature = block0[-1]["delta"]["signature"]
    assert len(signature) > 100
    # The signature arrives right before its block stops, and only once.
    stop0 = result.types.index("content_block_stop")
    assert result.data[stop0 - 1]["delta"]["type"] == "signature_delta"
    assert sum(1 for d in result.of("content_block_delta") if "signature" in d["delta"]) == 1

    usage = result.of("message_delta")[0]["usage"]
    assert usage["output_tokens"] == len(thinking) + len(text) == server.requests[-1].tokens_sent


async def test_thinking_block_round_trips_only_unaltered(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.script("Answer.", reasoning="Thinking hard.")
    first = await client.post(messages_url(server), json=body(stream=False), headers=HEADERS)
    thinking, text = first.json()["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Thinking hard."
    assert text == {"type": "text", "text": "Answer."}

    def follow_up(block: dict[str, Any]) -> dict[str, Any]:
        payload = body("and now?", stream=False)
        payload["messages"] = [
            {"role": "user", "content": "hello there friend"},
            {"role": "assistant", "content": [block, text]},
            {"role": "user", "content": "and now?"},
        ]
        return payload

    url = messages_url(server)
    kept = await client.post(url, json=follow_up(thinking), headers=HEADERS)
    assert kept.status_code == 200
    altered = {**thinking, "thinking": "Thinking harder."}
    refused = await client.post(url, json=follow_up(altered), headers=HEADERS)
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "type": "invalid_request_error",
        "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
    }


async def test_thinking_parameter_is_checked_but_the_model_decides(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    enabled = {"type": "enabled", "budget_tokens": 1024}
    result = await stream(client, server, body(max_tokens=2048, thinking=enabled))
    assert deltas(result, "thinking_delta") == []
    assert deltas(result, "text_delta")

    url = messages_url(server)
    small = await client.post(
        url,
        json=body(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 100}),
        headers=HEADERS,
    )
    assert small.status_code == 400
    assert "greater than or equal to 1024" in small.json()["error"]["message"]
    over = await client.post(url, json=body(max_tokens=1024, thinking=enabled), headers=HEADERS)
    assert over.status_code == 400
    assert over.json()["error"]["message"].startswith(
        "`max_tokens` must be greater than `thinking.budget_tokens`"
    )


async def test_tool_use_streams_partial_json(server: DemoServer, client: httpx.AsyncClient) -> None:
    payload = body("what's the weather in Lisbon?", model="demo-tools", tools=[WEATHER_TOOL])
    result = await stream(client, server, payload)

    assert collapsed(result.types) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = result.of("content_block_start")[0]
    block = start["content_block"]
    assert start["index"] == 0
    assert block["type"] == "tool_use" and block["name"] == "lookup_forecast"
    assert block["input"] == {}
    assert block["id"].startswith("toolu_01") and len(block["id"]) == 30
    pieces = deltas(result, "input_json_delta")
    assert pieces[0] == "" and all(pieces[1:])
    assert json.loads("".join(pieces)) == {"location": "Lisbon", "days": 3}
    message_delta = result.of("message_delta")[0]
    assert message_delta["delta"]["stop_reason"] == "tool_use"
    assert message_delta["usage"]["output_tokens"] == len(pieces) - 1
    assert server.requests[-1].tokens_sent == len(pieces) - 1


async def test_tool_result_is_answered(server: DemoServer, client: httpx.AsyncClient) -> None:
    url = messages_url(server)
    first = await client.post(
        url, json=body("weather in Oslo", model="demo-tools", stream=False), headers=HEADERS
    )
    call = first.json()["content"][0]
    assert first.json()["stop_reason"] == "tool_use"
    assert call["name"] == "get_weather" and call["input"] == {"city": "Oslo", "unit": "celsius"}

    payload = body("weather in Oslo", model="demo-tools", system="Be brief.")
    result_block = {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "content": [{"type": "text", "text": '{"temp_c": 4}'}],
    }
    payload["messages"] += [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result_block]},
    ]
    answered = await stream(client, server, payload)
    assert '{"temp_c": 4}' in "".join(deltas(answered, "text_delta"))
    assert answered.of("message_delta")[0]["delta"]["stop_reason"] == "end_turn"

    payload["messages"][-1] = {"role": "user", "content": "never mind"}
    unanswered = await client.post(url, json=payload, headers=HEADERS)
    assert unanswered.status_code == 400
    message = unanswered.json()["error"]["message"]
    assert message.startswith("messages.2: `tool_use` ids were found without `tool_result`")
    assert call["id"] in message


async def test_max_tokens_stops_with_max_tokens(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    result = await stream(client, server, body("tell me about rust", max_tokens=7))
    text = deltas(result, "text_delta")
    assert text == split_tokens(ANSWERS["rust"])[:7]
    message_delta = result.of("message_delta")[0]
    assert message_delta["delta"]["stop_reason"] == "max_tokens"
    assert message_delta["usage"]["output_tokens"] == 7
    assert result.types[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_system_and_content_blocks_are_read(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    payload = body(system=[{"type": "text", "text": "Be brief."}])  # 9 characters
    payload["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": "/echo exact ✓ " + "x" * 25}]}
    ]
    result = await stream(client, server, payload)
    assert "".join(deltas(result, "text_delta")) == "exact ✓ " + "x" * 25
    assert result.of("message_start")[0]["message"]["usage"]["input_tokens"] == 12  # 48 chars


# --------------------------------------------------------------------------- refusals


async def test_auth_by_x_api_key_or_bearer(client: httpx.AsyncClient) -> None:
    with DemoServer(ttft=0, tokens_per_second=10_000, api_key="sk-ant-right") as server:
        url = messages_url(server)
        payload = body(stream=False)
        version = {"anthropic-version": "2023-06-01"}
        wrong = await client.post(url, json=payload, headers={**version, "x-api-key": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["type"] == "error"
        assert wrong.json()["error"] == {
            "type": "authentication_error",
            "message": "invalid x-api-key",
        }
        assert wrong.json()["request_id"] == wrong.headers["request-id"]
        missing = await client.post(url, json=payload, headers=version)
        assert missing.status_code == 401
        assert missing.json()["error"]["message"] == "x-api-key header is required"

        right = await client.post(
            url, json=payload, headers={**version, "x-api-key": "sk-ant-right"}
        )
        assert right.status_code == 200
        bearer = await client.post(
            url, json=payload, headers={**version, "Authorization": "Bearer sk-ant-right"}
        )
        assert bearer.status_code == 200
        assert server.requests[-1].completed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"model": None}, "model: Field required"),
        (
            {"messages": [{"role": "system", "content": "be nice"}]},
            'messages: Unexpected role "system". The Messages API accepts a top-level '
            '`system` parameter, not "system" as an input message role.',
        ),
        (
            {"messages": [{"role": "user", "content": ""}]},
            "messages.0: all messages must have non-empty content except for the optional "
            "final assistant message",
        ),
    ],
)
async def test_bad_requests_are_400(
    server: DemoServer, client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    payload = body()
    for key, value in change.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    response = await client.post(messages_url(server), json=payload, headers=HEADERS)
    assert response.status_code == 400
    reply = response.json()
    assert reply["error"] == {"type": "invalid_request_error", "message": message}
    assert reply["request_id"] == response.headers["request-id"]
    assert set(reply) == {"type", "error", "request_id"}
    assert server.requests[-1].tokens_sent == 0


async def test_unknown_model_is_not_found(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.post(messages_url(server), json=body(model="claude-9"), headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"] == {"type": "not_found_error", "message": "model: claude-9"}


async def test_models_list_is_anthropic_shaped_for_anthropic_clients(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    anthropic = await client.get(server.base_url + "/models", headers=HEADERS)
    assert anthropic.status_code == 200
    listed = anthropic.json()
    assert [m["id"] for m in listed["data"]] == ["demo", "demo-think", "demo-tools"]
    assert listed["data"][1] == {
        "type": "model",
        "id": "demo-think",
        "display_name": "Demo Think",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert listed["has_more"] is False
    assert (listed["first_id"], listed["last_id"]) == ("demo", "demo-tools")

    openai = await client.get(server.base_url + "/models")
    assert openai.json()["object"] == "list"
    assert all(m["object"] == "model" for m in openai.json()["data"])


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, "authentication_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
        (529, "overloaded_error"),
    ],
)
async def test_http_faults(
    server: DemoServer, client: httpx.AsyncClient, status: int, error_type: str
) -> None:
    server.inject(f"http:{status}")
    response = await client.post(messages_url(server), json=body(), headers=HEADERS)
    assert response.status_code == status
    reply = response.json()
    assert reply["type"] == "error" and reply["error"]["type"] == error_type
    assert reply["request_id"] == response.headers["request-id"]
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    if status == 529:
        assert reply["error"]["message"] == "Overloaded"
    if status == 404:
        assert reply["error"]["message"] == "model: demo"
    again = await stream(client, server, body())
    assert again.status == 200 and again.types[-1] == "message_stop"


async def test_midstream_error_is_an_overloaded_event(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("midstream_error")
    result = await stream(client, server, body())
    assert result.status == 200
    assert len(deltas(result, "text_delta")) == 5
    assert result.types[-1] == "error"
    assert result.events[-1].data == (
        '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    )
    for never in ("content_block_stop", "message_delta", "message_stop"):
        assert never not in result.types
    record = server.requests[-1]
    assert not record.completed and record.tokens_sent == 5


async def test_midstream_error_unstreamed_is_a_500(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("midstream_error")
    response = await client.post(messages_url(server), json=body(stream=False), headers=HEADERS)
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "api_error", "message": "Internal server error"}


async def test_keepalive_pings(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("keepalive")
    text = "one two three four five six seven eight nine ten eleven twelve"
    server.script(text)
    result = await stream(client, server, body())
    assert result.types[:3] == ["ping", "ping", "message_start"]
    assert result.types.count("ping") >= 5  # two before, the opening one, during, after
    assert "".join(deltas(result, "text_delta")) == text
    assert result.types[-1] == "message_stop"
    assert_typed(result)


async def test_crlf_framing(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("crlf")
    server.script("line one\nline two")
    result = await stream(client, server, body())
    assert b"\r\n\r\n" in result.raw
    assert b"\n" not in result.raw.replace(b"\r\n", b"")
    assert "".join(deltas(result, "text_delta")) == "line one\nline two"
    assert result.types[-1] == "message_stop"


async def test_no_usage_leaves_counts_out(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("no_usage")
    result = await stream(client, server, body())
    usage = result.of("message_start")[0]["message"]["usage"]
    assert usage["input_tokens"] == 0 and usage["output_tokens"] == 0
    assert "usage" not in result.of("message_delta")[0]
    assert result.types[-1] == "message_stop"


async def test_done_without_finish_stops_without_a_reason(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("done_no_finish")
    result = await stream(client, server, body())
    assert len(deltas(result, "text_delta")) == 5
    assert result.types[-1] == "message_stop"
    assert "message_delta" not in result.types and "content_block_stop" not in result.types


async def test_truncate_ends_the_body(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("truncate")
    result = await stream(client, server, body())
    assert result.types[-1] == "content_block_delta"
    assert len(deltas(result, "text_delta")) == 5


# --------------------------------------------------------------------------- whole answers


async def test_unstreamed_message(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.script(TEXT, reasoning="Short thought.")
    response = await client.post(messages_url(server), json=body(stream=False), headers=HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    message = response.json()
    assert list(message) == [
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    ]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["id"].startswith("msg_01") and message["model"] == "demo"
    assert [block["type"] for block in message["content"]] == ["thinking", "text"]
    assert message["content"][1]["text"] == TEXT
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None
    tokens = len(split_tokens("Short thought.")) + len(split_tokens(TEXT))
    assert message["usage"]["output_tokens"] == tokens
    assert response.headers["request-id"].startswith("req_")
    record = server.requests[-1]
    assert not record.stream and record.completed and record.tokens_sent == tokens


# --------------------------------------------------------------------------- disconnects


async def test_disconnect_mid_stream_is_noticed(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.tokens_per_second = 100
    total = len(split_tokens(ANSWERS["sql"]))
    seen = 0
    async with aconnect_sse(
        client, "POST", messages_url(server), json=body("sql please"), headers=dict(HEADERS)
    ) as source:
        async for event in source.aiter_sse():
            if event.event == "content_block_delta":
                seen += 1
            if seen == 5:
                break
        closed_at = time.perf_counter()
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at is not None
    assert 0 <= record.disconnected_at - closed_at < 0.2
    ended = await server.await_for(lambda r: r.id == record.id and r.ended_at is not None)
    assert not ended.completed and 5 <= ended.tokens_sent < total
    await asyncio.sleep(0.05)  # five token intervals: nothing more may be written
    assert server.requests[record.id - 1].tokens_sent == ended.tokens_sent


# --------------------------------------------------------------------------- the real shape


async def test_same_grammar_and_fields_as_a_recorded_shape(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    """A stream written in the documented shape (thinking, then text) and the demo's agree:
    the same events in the same order, and every event with the same fields."""
    reference = decode((FIXTURES / "anthropic_thinking_ping.sse").read_bytes())
    server.script("17 × 23 = **391**.", reasoning="17 × 20 = 340, and 17 × 3 = 51, so 391.")
    result = await stream(client, server, body())

    assert collapsed(result.types) == collapsed([e.event for e in reference])

    def shapes(events: list[Any]) -> dict[tuple[str, str], Any]:
        out = {}
        for event in events:
            data = event.json()
            kind = data.get("delta", {}).get("type", "") if event.event != "message_delta" else ""
            block = data.get("content_block", {}).get("type", "")
            out.setdefault((event.event, kind or block), shape(data))
        return out

    assert shapes(result.events) == shapes(reference)
