"""The demo server's OpenAI Responses API over real loopback sockets, driven by httpx.

Responses streams a grammar of its own: numbered, typed events that open,
fill and close output items, and one terminal event with the whole response.
These tests pin down what the demo sends on /v1/responses from the client's
side of a real connection: order, sequence numbers, item ids and indexes,
reassembled text and arguments, usage that matches what was sent, the
incomplete and failed endings, faults, refusals and disconnects.
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
TEXT = "Héllo, wörld! A café ☕ and 😀.\n\n- one\n- two\n\n```python\nprint('hi')\n```\n"
FORECAST_TOOL = {
    "type": "function",
    "name": "lookup_forecast",
    "description": "Forecast for a place",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
    },
}


def body(prompt: Any = "hello there friend", *, model: str = "demo", **kw: Any) -> dict[str, Any]:
    return {"model": model, "stream": True, "input": prompt, **kw}


def responses_url(server: DemoServer) -> str:
    return server.base_url + "/responses"


async def stream(
    client: httpx.AsyncClient, server: DemoServer, payload: dict[str, Any]
) -> Streamed:
    return await post_stream(client, responses_url(server), payload, {})


def pieces(result: Streamed, type_: str) -> list[str]:
    return [e["delta"] for e in result.of(type_)]


def assert_numbered(result: Streamed) -> None:
    """Every event names its type twice, the same way, and sequence numbers count from 0."""
    for event in result.events:
        assert event.json()["type"] == event.event
    assert [d["sequence_number"] for d in result.data] == list(range(len(result.events)))


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
    n = len(split_tokens(TEXT))
    assert result.types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * n,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert_numbered(result)
    assert all(compact(e.data) for e in result.events)
    assert b"[DONE]" not in result.raw

    created = result.of("response.created")[0]["response"]
    assert created["id"].startswith("resp_") and created["status"] == "in_progress"
    assert created["model"] == "demo" and created["output"] == [] and created["usage"] is None
    item = result.of("response.output_item.added")[0]
    assert item["output_index"] == 0
    assert item["item"] == {
        "id": item["item"]["id"],
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    assert item["item"]["id"].startswith("msg_")
    deltas = result.of("response.output_text.delta")
    assert {(d["item_id"], d["output_index"], d["content_index"]) for d in deltas} == {
        (item["item"]["id"], 0, 0)
    }
    assert all(d["logprobs"] == [] for d in deltas)
    assert "".join(d["delta"] for d in deltas) == TEXT
    assert result.of("response.output_text.done")[0]["text"] == TEXT
    assert result.of("response.content_part.done")[0]["part"]["text"] == TEXT
    done = result.of("response.output_item.done")[0]["item"]
    assert done["status"] == "completed" and done["content"][0]["text"] == TEXT

    completed = result.of("response.completed")[0]["response"]
    assert completed["id"] == created["id"] and completed["status"] == "completed"
    assert completed["output"] == [done]
    assert completed["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 10 + n,
    }
    record = server.requests[-1]
    assert record.stream and record.completed and record.tokens_sent == n
    await logs.wait(len(server.requests))
    assert logs[-1].startswith("POST /v1/responses model=demo stream → 200, ")


async def test_reasoning_summary_comes_first(server: DemoServer, client: httpx.AsyncClient) -> None:
    prompt = "how does borrowing work in rust?"
    result = await stream(client, server, body(prompt, model="demo-think"))

    summary = pieces(result, "response.reasoning_summary_text.delta")
    text = pieces(result, "response.output_text.delta")
    assert "".join(summary) == reasoning_for(prompt)
    assert "".join(text) == ANSWERS["rust"]
    assert collapsed(result.types) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert_numbered(result)
    reasoning, message = (e["item"] for e in result.of("response.output_item.added"))
    assert reasoning == {"id": reasoning["id"], "type": "reasoning", "summary": []}
    assert reasoning["id"].startswith("rs_") and message["type"] == "message"
    assert [e["output_index"] for e in result.of("response.output_item.added")] == [0, 1]
    assert {e["summary_index"] for e in result.of("response.reasoning_summary_text.delta")} == {0}
    assert result.of("response.reasoning_summary_text.done")[0]["text"] == reasoning_for(prompt)
    assert {e["output_index"] for e in result.of("response.output_text.delta")} == {1}

    completed = result.of("response.completed")[0]["response"]
    assert [item["type"] for item in completed["output"]] == ["reasoning", "message"]
    assert completed["output"][0]["summary"] == [
        {"type": "summary_text", "text": reasoning_for(prompt)}
    ]
    usage = completed["usage"]
    assert usage["output_tokens"] == len(summary) + len(text) == server.requests[-1].tokens_sent
    assert usage["output_tokens_details"]["reasoning_tokens"] == len(summary)


async def test_function_call_streams_its_arguments(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    payload = body("what's the weather in Lisbon?", model="demo-tools", tools=[FORECAST_TOOL])
    result = await stream(client, server, payload)

    assert collapsed(result.types) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert_numbered(result)
    item = result.of("response.output_item.added")[0]["item"]
    assert item["type"] == "function_call" and item["status"] == "in_progress"
    assert item["id"].startswith("fc_") and item["call_id"].startswith("call_")
    assert item["name"] == "lookup_forecast" and item["arguments"] == ""
    deltas = result.of("response.function_call_arguments.delta")
    assert {(d["item_id"], d["output_index"]) for d in deltas} == {(item["id"], 0)}
    arguments = "".join(d["delta"] for d in deltas)
    assert json.loads(arguments) == {"location": "Lisbon", "days": 3}
    assert result.of("response.function_call_arguments.done")[0]["arguments"] == arguments
    completed = result.of("response.completed")[0]["response"]
    assert completed["output"] == [{**item, "status": "completed", "arguments": arguments}]
    assert completed["usage"]["output_tokens"] == len(deltas) == server.requests[-1].tokens_sent


async def test_function_call_output_is_answered(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    url = responses_url(server)
    first = await client.post(url, json=body("weather in Oslo", model="demo-tools", stream=False))
    call = first.json()["output"][0]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Oslo", "unit": "celsius"}

    history = [
        {"role": "user", "content": [{"type": "input_text", "text": "weather in Oslo"}]},
        {"type": "reasoning", "id": "rs_x", "summary": []},
        {k: call[k] for k in ("type", "call_id", "name", "arguments")},
        {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c": 4}'},
    ]
    answered = await stream(client, server, body(history, model="demo-tools"))
    assert '{"temp_c": 4}' in "".join(pieces(answered, "response.output_text.delta"))
    assert answered.types[-1] == "response.completed"

    orphan = [history[0], {**history[3], "call_id": "call_unknown"}]
    refused = await client.post(url, json=body(orphan, model="demo-tools"))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "No tool call found for function call output with call_id call_unknown."
    )


async def test_max_output_tokens_is_incomplete(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    result = await stream(client, server, body("tell me about rust", max_output_tokens=16))
    text = pieces(result, "response.output_text.delta")
    assert text == split_tokens(ANSWERS["rust"])[:16]
    assert result.types[-2:] == ["response.output_item.done", "response.incomplete"]
    assert "response.completed" not in result.types
    assert_numbered(result)
    assert result.of("response.output_item.done")[0]["item"]["status"] == "incomplete"
    incomplete = result.of("response.incomplete")[0]["response"]
    assert incomplete["status"] == "incomplete"
    assert incomplete["incomplete_details"] == {"reason": "max_output_tokens"}
    assert incomplete["usage"]["output_tokens"] == 16
    assert incomplete["output"][0]["content"][0]["text"] == "".join(text)

    unstreamed = await client.post(
        responses_url(server), json=body("tell me about rust", stream=False, max_output_tokens=16)
    )
    assert unstreamed.json()["status"] == "incomplete"
    assert unstreamed.json()["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_instructions_and_input_parts_are_read(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    items = [
        {"role": "developer", "content": "Be terse."},  # 9 characters
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "/echo "}]},
    ]
    items[1]["content"].append({"type": "input_text", "text": "exact ✓ " + "x" * 20})
    result = await stream(client, server, body(items, instructions="Be brief."))
    assert "".join(pieces(result, "response.output_text.delta")) == "exact ✓ " + "x" * 20
    usage = result.of("response.completed")[0]["response"]["usage"]
    assert usage["input_tokens"] == 13  # 9 + 9 + 6 + 28 characters


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "param", "message"),
    [
        ({"model": None}, "model", "Missing required parameter: 'model'."),
        ({"input": None}, "input", "Missing required parameter: 'input'."),
        (
            {"max_output_tokens": 5},
            "max_output_tokens",
            "Invalid 'max_output_tokens': integer below minimum value. "
            "Expected a value >= 16, but got 5 instead.",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "tools[0].name",
            "Missing required parameter: 'tools[0].name'.",
        ),
        (
            {"previous_response_id": "resp_123"},
            "previous_response_id",
            "Previous response with id 'resp_123' not found.",
        ),
        (
            {"input": [{"role": "narrator", "content": "hi"}]},
            "input[0].role",
            "Invalid value: 'narrator'. Supported values are: "
            "'user', 'assistant', 'system', 'developer'.",
        ),
    ],
)
async def test_bad_requests_are_400(
    server: DemoServer,
    client: httpx.AsyncClient,
    change: dict[str, Any],
    param: str,
    message: str,
) -> None:
    payload = body()
    for key, value in change.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    response = await client.post(responses_url(server), json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["message"]) == (param, message)
    assert set(error) == {"message", "type", "param", "code"}


async def test_auth_and_unknown_model(client: httpx.AsyncClient) -> None:
    with DemoServer(ttft=0, tokens_per_second=10_000, api_key="sk-right-key-1234") as server:
        url = responses_url(server)
        wrong = await client.post(url, json=body(), headers={"Authorization": "Bearer sk-nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        right = {"Authorization": "Bearer sk-right-key-1234"}
        unknown = await client.post(url, json=body(model="gpt-9"), headers=right)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "model_not_found"
        answered = await client.post(url, json=body(stream=False), headers=right)
        assert answered.status_code == 200


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [429, 503])
async def test_http_faults(server: DemoServer, client: httpx.AsyncClient, status: int) -> None:
    server.inject(f"http:{status}")
    response = await client.post(responses_url(server), json=body())
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
    again = await stream(client, server, body())
    assert again.types[-1] == "response.completed"


async def test_midstream_error_is_response_failed(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("midstream_error")
    result = await stream(client, server, body())
    assert result.status == 200
    assert len(pieces(result, "response.output_text.delta")) == 5
    assert result.types[-1] == "response.failed"
    assert_numbered(result)
    failed = result.of("response.failed")[0]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "server_error",
        "message": "The server had an error while processing your request. Sorry about that!",
    }
    assert failed["usage"] is None and failed["output"] == []
    assert failed["id"] == result.of("response.created")[0]["response"]["id"]
    assert not server.requests[-1].completed


@pytest.mark.parametrize("fault", ["truncate", "done_no_finish"])
async def test_cut_streams_end_without_a_terminal_event(
    server: DemoServer, client: httpx.AsyncClient, fault: str
) -> None:
    """With no end marker in this API, done_no_finish is the same cut as truncate."""
    server.inject(fault)
    result = await stream(client, server, body())
    assert len(pieces(result, "response.output_text.delta")) == 5
    assert result.types[-1] == "response.output_text.delta"
    assert_numbered(result)
    record = server.requests[-1]
    assert not record.completed and record.tokens_sent == 5


async def test_keepalive_comments_take_no_number(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("keepalive")
    text = "one two three four five six seven eight nine ten eleven twelve"
    server.script(text)
    result = await stream(client, server, body())
    assert result.raw.startswith(b": keep-alive\n\n: keep-alive\n\nevent: response.created\n")
    assert result.raw.count(b": keep-alive\n\n") >= 3
    assert "".join(pieces(result, "response.output_text.delta")) == text
    assert_numbered(result)


async def test_crlf_framing(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("crlf")
    server.script("line one\nline two")
    result = await stream(client, server, body())
    assert b"\r\n\r\n" in result.raw
    assert b"\n" not in result.raw.replace(b"\r\n", b"")
    assert "".join(pieces(result, "response.output_text.delta")) == "line one\nline two"
    assert result.types[-1] == "response.completed"


async def test_no_usage(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("no_usage")
    result = await stream(client, server, body())
    assert result.of("response.completed")[0]["response"]["usage"] is None


# --------------------------------------------------------------------------- whole answers


async def test_unstreamed_response(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.script(TEXT, reasoning="Short thought.")
    response = await client.post(responses_url(server), json=body(stream=False))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["object"] == "response" and payload["status"] == "completed"
    assert payload["id"].startswith("resp_")
    assert [item["type"] for item in payload["output"]] == ["reasoning", "message"]
    assert payload["output"][0]["summary"][0]["text"] == "Short thought."
    assert payload["output"][1]["content"][0]["text"] == TEXT
    assert payload["output"][1]["status"] == "completed"
    tokens = len(split_tokens("Short thought.")) + len(split_tokens(TEXT))
    assert payload["usage"]["output_tokens"] == tokens
    assert payload["usage"]["output_tokens_details"]["reasoning_tokens"] == len(
        split_tokens("Short thought.")
    )
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
        client, "POST", responses_url(server), json=body("sql please")
    ) as source:
        async for event in source.aiter_sse():
            if event.event == "response.output_text.delta":
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
    """A stream written in the documented shape (reasoning summary, then a message) and the
    demo's agree: the same events in the same order, and every event with the same fields."""
    reference = decode((FIXTURES / "openai_responses_reasoning.sse").read_bytes())
    server.script("17 × 23 = **391**.", reasoning="**Multiplying**\n\n17 × 23 is 340 + 51.")
    result = await stream(client, server, body())

    assert collapsed(result.types) == collapsed([e.event for e in reference])
    ours = {e.event: shape(e.json()) for e in reversed(result.events)}
    theirs = {e.event: shape(e.json()) for e in reversed(reference)}
    # Item events differ by item type; compare each event's first occurrence per item type.
    assert {k: v for k, v in ours.items() if "output_item" not in k} == {
        k: v for k, v in theirs.items() if "output_item" not in k
    }
    for type_ in ("response.output_item.added", "response.output_item.done"):
        assert [shape(d) for d in result.of(type_)] == [
            shape(e.json()) for e in reference if e.event == type_
        ]
