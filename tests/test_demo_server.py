"""The demo server over real loopback sockets, driven by plain httpx.

The demo server is the test peer for the whole project, so these tests pin
down its wire format, pacing, disconnect detection and every injected fault
from the client's side of a real TCP connection.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import ServerLog
from tokentide.client.demo import DemoServer, RequestRecord, serve_forever
from tokentide.client.demo.answers import (
    ANSWERS,
    GREETING,
    choose_answer,
    reasoning_for,
    split_tokens,
)

UNICODE_TEXT = (
    "Héllo, wörld! Here’s a café ☕ and 😀 and a family 👨‍👩‍👧 — naïve e\u0301.\n\n"
    "## Heading\n\n- one\n- two\n\n```python\ndef f(x):\n\treturn x  # tab\n```\n"
    "Trailing spaces   \r\nand a CRLF, 中文字符, Ελληνικά.  "
)


# --------------------------------------------------------------------------- helpers


@dataclass
class Event:
    """One SSE event as the client saw it."""

    at: float
    data: str | None = None
    comment: str | None = None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


@dataclass
class Streamed:
    """Everything a streamed request produced on the client side."""

    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[Event]
    sent_at: float
    chunks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chunks = [e.json() for e in self.data_events if e.data != "[DONE]"]

    @property
    def data_events(self) -> list[Event]:
        return [e for e in self.events if e.data is not None]

    def deltas(self, key: str = "content") -> list[str]:
        """The `key` pieces of every delta after the role chunk."""
        out = []
        for chunk in self.chunks:
            for choice in chunk.get("choices", []):
                delta = choice["delta"]
                if "role" not in delta and isinstance(delta.get(key), str):
                    out.append(delta[key])
        return out

    def delta_times(self) -> list[float]:
        return [
            e.at
            for e in self.data_events
            if e.data != "[DONE]"
            and any(
                "content" in c["delta"] and "role" not in c["delta"]
                for c in e.json().get("choices", [])
            )
        ]

    def finish_reasons(self) -> list[str]:
        return [
            c["finish_reason"]
            for chunk in self.chunks
            for c in chunk.get("choices", [])
            if c["finish_reason"] is not None
        ]


def parse_blocks(buf: bytearray, now: float) -> Iterator[Event]:
    """Cut complete SSE events (LF or CRLF framed) off the front of buf."""
    while match := re.search(rb"\r\n\r\n|\n\n", buf):
        block = bytes(buf[: match.start()]).decode("utf-8")
        del buf[: match.end()]
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith(":"):
                yield Event(now, comment=line[1:].strip())
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            yield Event(now, data="\n".join(data))


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    """Events as they arrive, stamped with the client's perf_counter."""
    buf = bytearray()
    async for raw in response.aiter_raw():
        buf += raw
        for event in parse_blocks(buf, time.perf_counter()):
            yield event


def chat(prompt: str = "hello there friend", *, model: str = "demo", stream: bool = True, **kw):
    return {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
        **kw,
    }


async def stream_chat(client: httpx.AsyncClient, server: DemoServer, body: dict) -> Streamed:
    raw = bytearray()
    events: list[Event] = []
    sent_at = time.perf_counter()
    async with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as r:
        buf = bytearray()
        async for piece in r.aiter_raw():
            raw += piece
            buf += piece
            events.extend(parse_blocks(buf, time.perf_counter()))
    return Streamed(r.status_code, r.headers, bytes(raw), events, sent_at)


@pytest.fixture
def server(logs: ServerLog) -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=5000, ttft=0.0, log=logs.append) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


# --------------------------------------------------------------------------- streaming


async def test_stream_concatenates_exactly(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.script(UNICODE_TEXT)
    result = await stream_chat(client, server, chat())

    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.headers["transfer-encoding"] == "chunked"
    assert result.headers["cache-control"] == "no-cache"
    assert result.headers["x-request-id"].startswith("req_")
    deltas = result.deltas()
    assert "".join(deltas) == UNICODE_TEXT
    assert all(1 <= len(d) <= 6 for d in deltas)

    first = result.chunks[0]
    assert first["object"] == "chat.completion.chunk"
    assert first["model"] == "demo"
    assert set(first) == {"id", "object", "created", "model", "system_fingerprint", "choices"}
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert len({c["id"] for c in result.chunks}) == 1
    assert len({c["created"] for c in result.chunks}) == 1
    assert result.chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert result.data_events[-1].data == "[DONE]"
    assert b'"content":"' in result.raw and b" " not in result.raw.split(b"\n")[0][6:], (
        "compact JSON"
    )

    record = server.requests[-1]
    assert record.stream and record.completed and record.status == 200
    assert record.tokens_sent == len(deltas)
    assert record.first_token_at is not None and record.ended_at is not None
    assert record.received_at <= record.first_token_at <= record.ended_at
    assert record.disconnected_at is None
    assert record.body["messages"][0]["content"] == "hello there friend"


async def test_usage_chunk_counts_deltas(server: DemoServer, client: httpx.AsyncClient) -> None:
    body = chat("x" * 40, stream_options={"include_usage": True})
    result = await stream_chat(client, server, body)

    usage_chunk = result.chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    n = len(result.deltas())
    assert usage["completion_tokens"] == n == server.requests[-1].tokens_sent
    assert usage["prompt_tokens"] == 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + n
    assert all(c["usage"] is None for c in result.chunks[:-1])
    assert result.finish_reasons() == ["stop"]
    assert result.data_events[-1].data == "[DONE]"


async def test_no_usage_unless_asked(server: DemoServer, client: httpx.AsyncClient) -> None:
    result = await stream_chat(client, server, chat())
    assert all("usage" not in c for c in result.chunks)


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_finishes_with_length(
    server: DemoServer, client: httpx.AsyncClient, param: str
) -> None:
    body = chat("tell me about rust", stream_options={"include_usage": True}, **{param: 7})
    result = await stream_chat(client, server, body)
    assert len(result.deltas()) == 7
    assert result.finish_reasons() == ["length"]
    assert result.chunks[-1]["usage"]["completion_tokens"] == 7
    assert "".join(result.deltas()) == "".join(split_tokens(ANSWERS["rust"])[:7])


async def test_pace_ttft_and_rate(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.ttft = 0.2
    server.tokens_per_second = 200
    server.script("word" + " word" * 79)  # 80 deltas: 0.2 s + 0.4 s
    result = await stream_chat(client, server, chat())

    times = result.delta_times()
    assert len(times) == 80
    ttft = times[0] - result.sent_at
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 0.18 <= ttft <= 0.5, ttft
    assert 150 <= rate <= 260, rate
    # The role chunk goes out with the headers, before the TTFT wait.
    role_at = result.data_events[0].at
    assert role_at - result.sent_at < 0.1


async def test_high_rate_keeps_pace_and_exact_text(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.tokens_per_second = 5000
    result = await stream_chat(client, server, chat("explain python asyncio streaming"))
    deltas = result.deltas()
    assert "".join(deltas) == ANSWERS["python"]
    times = result.delta_times()
    span = times[-1] - times[0]
    expected = (len(deltas) - 1) / 5000
    assert expected * 0.8 <= span <= expected + 0.3, (span, expected)


async def test_pace_is_read_per_request(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.tokens_per_second = 100
    server.script("a b c d e f")
    slow = await stream_chat(client, server, chat())
    server.tokens_per_second = 10_000
    server.script("a b c d e f")
    fast = await stream_chat(client, server, chat())
    slow_span = slow.delta_times()[-1] - slow.delta_times()[0]
    fast_span = fast.delta_times()[-1] - fast.delta_times()[0]
    assert slow_span >= 0.04 > fast_span


# --------------------------------------------------------------------------- disconnects


async def test_disconnect_is_noticed_and_generation_stops(
    server: DemoServer, client: httpx.AsyncClient, logs: ServerLog
) -> None:
    server.tokens_per_second = 100
    total = len(split_tokens(ANSWERS["sql"]))
    seen = 0
    async with client.stream(
        "POST", f"{server.base_url}/chat/completions", json=chat("sql please")
    ) as response:
        async for event in sse_events(response):
            if event.data and '"content":"' in event.data and '"role"' not in event.data:
                seen += 1
            if seen == 5:
                break
        closed_at = time.perf_counter()
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at is not None
    assert 0 <= record.disconnected_at - closed_at < 0.2

    ended = await server.await_for(lambda r: r.id == record.id and r.ended_at is not None)
    assert ended.ended_at is not None and ended.ended_at - record.disconnected_at < 0.05
    assert not ended.completed
    assert 5 <= ended.tokens_sent < total
    await asyncio.sleep(0.05)  # five token intervals: nothing more may be written
    assert server.requests[record.id - 1].tokens_sent == ended.tokens_sent
    await logs.wait(len(server.requests))
    assert re.search(
        r"client disconnected after \d+ tokens; stopped generating in \d+ ms", logs[-1]
    )


async def test_disconnect_during_non_stream_wait(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.ttft = 5.0
    task = asyncio.create_task(client.post(f"{server.base_url}/chat/completions", json=chat()))
    await server.await_for(lambda r: r.path.endswith("/chat/completions"))
    cancelled_at = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at is not None
    assert record.disconnected_at - cancelled_at < 0.2
    assert record.tokens_sent == 0 and not record.completed


# --------------------------------------------------------------------------- other endpoints


async def test_models_endpoint(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{server.base_url}/models")
    assert response.status_code == 200
    payload = response.json()
    assert payload["object"] == "list"
    assert [m["id"] for m in payload["data"]] == ["demo", "demo-think", "demo-tools"]
    assert all(m["object"] == "model" and m["owned_by"] == "tokentide" for m in payload["data"])
    assert all(isinstance(m["created"], int) for m in payload["data"])


async def test_unknown_model_is_404(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.post(f"{server.base_url}/chat/completions", json=chat(model="gpt-9"))
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


async def test_api_key_is_checked(client: httpx.AsyncClient) -> None:
    with DemoServer(ttft=0, tokens_per_second=10_000, api_key="sk-right-key-1234") as server:
        url = f"{server.base_url}/chat/completions"
        wrong = await client.post(
            url, json=chat(), headers={"Authorization": "Bearer sk-wrongabcd"}
        )
        assert wrong.status_code == 401
        error = wrong.json()["error"]
        assert error["code"] == "invalid_api_key"
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith("Incorrect API key provided: sk-...abcd.")
        assert "sk-wrongabcd" not in wrong.text

        missing = await client.post(url, json=chat())
        assert missing.status_code == 401
        assert "didn't provide an API key" in missing.json()["error"]["message"]

        models = await client.get(f"{server.base_url}/models")
        assert models.status_code == 401

        right = await client.post(
            url, json=chat(stream=False), headers={"Authorization": "Bearer sk-right-key-1234"}
        )
        assert right.status_code == 200


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", None),
        (json.dumps({"model": "demo"}).encode(), "missing_required_parameter"),
        (json.dumps({"model": "demo", "messages": []}).encode(), "empty_array"),
    ],
)
async def test_bad_chat_bodies_are_400(
    server: DemoServer, client: httpx.AsyncClient, content: bytes, code: str | None
) -> None:
    response = await client.post(
        f"{server.base_url}/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert set(error) == {"message", "type", "param", "code"}


async def test_unknown_path_and_method(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{server.base_url}/engines")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/engines)"
    response = await client.get(f"{server.base_url}/chat/completions")
    assert response.status_code == 405


async def test_non_streaming_answer(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.ttft = 0.1
    server.tokens_per_second = 1000
    text = "A **non-streamed** answer with ünïcode.\n"
    server.script(text)
    started = time.perf_counter()
    response = await client.post(f"{server.base_url}/chat/completions", json=chat(stream=False))
    took = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["object"] == "chat.completion"
    choice = payload["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == text
    assert choice["finish_reason"] == "stop"
    n = len(split_tokens(text))
    assert payload["usage"]["completion_tokens"] == n
    assert 0.1 + n / 1000 <= took < 0.5
    record = server.requests[-1]
    assert not record.stream and record.completed and record.tokens_sent == n


async def test_keep_alive_reuses_one_connection(server: DemoServer) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
        await stream_chat(client, server, chat())
        await client.post(f"{server.base_url}/chat/completions", json=chat(stream=False))
        await client.get(f"{server.base_url}/models")
        closing = await client.get(f"{server.base_url}/models", headers={"Connection": "close"})
        assert closing.headers["connection"] == "close"
        await client.get(f"{server.base_url}/models")
    assert [r.connection for r in server.requests] == [1, 1, 1, 1, 2]


def test_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        DemoServer("0.0.0.0")
    with pytest.raises(ValueError):
        DemoServer("192.168.1.10")
    assert DemoServer("localhost").host == "127.0.0.1"


def test_wait_for_times_out(server: DemoServer) -> None:
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        server.wait_for(lambda r: False, timeout=0.05)
    assert time.perf_counter() - started < 0.5


def test_stop_closes_open_streams() -> None:
    server = DemoServer(ttft=0, tokens_per_second=1000).start()
    server.inject("stall")
    url = f"{server.base_url}/chat/completions"
    with httpx.Client(timeout=5.0) as client, client.stream("POST", url, json=chat()) as r:
        server.wait_for(lambda rec: rec.tokens_sent >= 5)
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 1.0
        with pytest.raises(httpx.HTTPError):
            r.read()
    record = server.requests[-1]
    assert record.ended_at is not None and not record.completed


# --------------------------------------------------------------------------- models


async def test_demo_think_streams_reasoning_first(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "how does borrowing work in rust?"
    body = chat(prompt, model="demo-think", stream_options={"include_usage": True})
    result = await stream_chat(client, server, body)
    reasoning = result.deltas("reasoning_content")
    content = result.deltas("content")
    assert "".join(reasoning) == reasoning_for(prompt)
    assert "".join(content) == ANSWERS["rust"]
    kinds = [
        "r" if "reasoning_content" in c["choices"][0]["delta"] else "c" for c in result.chunks[1:-2]
    ]
    assert kinds == sorted(kinds, reverse=True), "all reasoning before any content"
    usage = result.chunks[-1]["usage"]
    assert usage["completion_tokens"] == len(reasoning) + len(content)
    assert usage["completion_tokens_details"]["reasoning_tokens"] == len(reasoning)
    record = server.requests[-1]
    assert record.tokens_sent == len(reasoning) + len(content)


async def test_script_with_reasoning(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.script("Answer.", reasoning="Thinking hard.")
    result = await stream_chat(client, server, chat())
    assert "".join(result.deltas("reasoning_content")) == "Thinking hard."
    assert "".join(result.deltas()) == "Answer."


async def test_demo_tools_streams_a_tool_call(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_forecast",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
                },
            },
        }
    ]
    body = chat("what's the weather in Lisbon?", model="demo-tools", tools=tools)
    result = await stream_chat(client, server, body)
    assert result.chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in result.chunks[1:-1]]
    assert all(len(call) == 1 and call[0]["index"] == 0 for call in calls)
    header = calls[0][0]
    assert header["id"].startswith("call_") and header["type"] == "function"
    assert header["function"] == {"name": "lookup_forecast", "arguments": ""}
    pieces = [call[0] for call in calls[1:]]
    assert len(pieces) > 3
    assert all(
        set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in pieces
    )
    arguments = "".join(p["function"]["arguments"] for p in pieces)
    assert json.loads(arguments) == {"location": "Lisbon", "days": 3}
    assert result.finish_reasons() == ["tool_calls"]
    assert server.requests[-1].tokens_sent == len(pieces)


async def test_demo_tools_defaults_and_answers_tool_results(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        f"{server.base_url}/chat/completions",
        json=chat("weather in Oslo", model="demo-tools", stream=False),
    )
    message = response.json()["choices"][0]["message"]
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
    call = message["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo", "unit": "celsius"}

    follow_up = chat("weather in Oslo", model="demo-tools")
    follow_up["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 4}'},
    ]
    result = await stream_chat(client, server, follow_up)
    assert '{"temp_c": 4}' in "".join(result.deltas())
    assert result.finish_reasons() == ["stop"]


# --------------------------------------------------------------------------- answers


async def test_echo_and_greeting(server: DemoServer, client: httpx.AsyncClient) -> None:
    echoed = await stream_chat(client, server, chat("/echo  exact\ntext ✓ "))
    assert "".join(echoed.deltas()) == " exact\ntext ✓ "
    hello = await stream_chat(client, server, chat("hi"))
    assert "".join(hello.deltas()) == GREETING
    assert 40 <= len(hello.deltas()) <= 100


def test_answers_are_chosen_by_keyword_and_stably() -> None:
    assert choose_answer("Can you show me some Rust code?") == ANSWERS["rust"]
    assert choose_answer("a SQL question") == ANSWERS["sql"]
    assert choose_answer("make me a comparison table") == ANSWERS["formats"]
    assert choose_answer("what is the meaning of life") == choose_answer(
        "what is the meaning of life"
    )
    assert choose_answer("Hello!") == GREETING


@pytest.mark.parametrize("name", list(ANSWERS))
def test_canned_answers_are_rich_markdown(name: str) -> None:
    text = ANSWERS[name]
    tokens = split_tokens(text)
    assert 1500 <= len(text) <= 5000
    assert 300 <= len(tokens) <= 1200
    assert "".join(tokens) == text
    assert all(1 <= len(t) <= 6 for t in tokens)
    assert text.startswith("# ") and "\n## " in text
    assert "```" in text and "| " in text and "\n> " in text and "](http" in text
    assert "**" in text and "`" in text


def test_split_tokens_is_deterministic() -> None:
    assert split_tokens(UNICODE_TEXT, 3) == split_tokens(UNICODE_TEXT, 3)
    assert "".join(split_tokens(UNICODE_TEXT, 3)) == UNICODE_TEXT
    assert " world" in split_tokens("hello world")
    all_code = "\n".join(ANSWERS.values())
    fences = {lang for lang in re.findall(r"```(\w+)", all_code)}
    assert {"python", "rust", "bash", "json"} <= fences


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [401, 404, 429, 500, 502, 503])
async def test_http_faults(server: DemoServer, client: httpx.AsyncClient, status: int) -> None:
    server.inject(f"http:{status}")
    response = await client.post(f"{server.base_url}/chat/completions", json=chat())
    assert response.status_code == status
    if status == 502:
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in response.text
    else:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
    record = server.requests[-1]
    assert record.fault == f"http:{status}" and record.status == status
    # The fault is consumed; the next request is answered normally.
    again = await client.post(f"{server.base_url}/chat/completions", json=chat(stream=False))
    assert again.status_code == 200


async def test_faults_apply_in_order_and_script_survives(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("http:503")
    server.inject("http:429")
    server.script("finally")
    url = f"{server.base_url}/chat/completions"
    statuses = [(await client.post(url, json=chat(stream=False))).status_code for _ in range(3)]
    assert statuses == [503, 429, 200]
    assert server.requests[-1].completed
    last = await client.post(url, json=chat("/echo after", stream=False))
    assert last.json()["choices"][0]["message"]["content"] == "after"


def test_inject_rejects_unknown_faults(server: DemoServer) -> None:
    with pytest.raises(ValueError):
        server.inject("explode")
    with pytest.raises(ValueError):
        server.inject("http:200")


async def test_midstream_error(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("midstream_error")
    result = await stream_chat(client, server, chat())
    assert result.status == 200
    assert len(result.deltas()) == 5
    assert result.chunks[-1] == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert all(e.data != "[DONE]" for e in result.data_events)
    assert result.finish_reasons() == []
    assert not server.requests[-1].completed


async def test_truncate(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("truncate")
    result = await stream_chat(client, server, chat())
    assert len(result.deltas()) == 5
    assert result.finish_reasons() == []
    assert all(e.data != "[DONE]" for e in result.data_events)
    record = server.requests[-1]
    assert not record.completed and record.disconnected_at is None and record.tokens_sent == 5


async def test_done_without_finish_reason(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("done_no_finish")
    result = await stream_chat(client, server, chat())
    assert len(result.deltas()) == 5
    assert result.finish_reasons() == []
    assert result.data_events[-1].data == "[DONE]"


async def test_empty_200(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("empty_200")
    result = await stream_chat(client, server, chat())
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.raw == b""


async def test_stall_keeps_connection_open(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("stall")
    seen = 0
    timeout = httpx.Timeout(5.0, read=0.3)
    url = f"{server.base_url}/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        async with client.stream("POST", url, json=chat(), timeout=timeout) as response:
            async for event in sse_events(response):
                if event.data and '"content":"' in event.data and '"role"' not in event.data:
                    seen += 1
    assert seen == 5
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.tokens_sent == 5 and not record.completed


async def test_no_usage(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("no_usage")
    result = await stream_chat(client, server, chat(stream_options={"include_usage": True}))
    assert all("usage" not in c for c in result.chunks)
    assert result.finish_reasons() == ["stop"]


async def test_keepalive_comments(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("keepalive")
    server.script("one two three four five six seven eight nine ten eleven twelve")
    result = await stream_chat(client, server, chat())
    assert result.raw.startswith(b": keep-alive\n\n: keep-alive\n\ndata: ")
    comments = [e for e in result.events if e.comment is not None]
    assert len(comments) >= 3
    assert "".join(result.deltas()) == (
        "one two three four five six seven eight nine ten eleven twelve"
    )
    assert result.data_events[-1].data == "[DONE]"


async def test_crlf_framing(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("crlf")
    server.script("line one\nline two")
    result = await stream_chat(client, server, chat())
    assert b"\r\n\r\n" in result.raw
    assert b"\n" not in result.raw.replace(b"\r\n", b"")
    assert "".join(result.deltas()) == "line one\nline two"
    assert result.data_events[-1].data == "[DONE]"


# --------------------------------------------------------------------------- records, logs, CLI


async def test_records_and_log_lines(
    server: DemoServer, client: httpx.AsyncClient, logs: ServerLog
) -> None:
    await client.get(f"{server.base_url}/models", headers={"X-Trace": "abc"})
    await stream_chat(client, server, chat())
    models, streamed = server.requests
    assert models.method == "GET" and models.path == "/v1/models" and models.status == 200
    assert models.headers["x-trace"] == "abc" and models.body is None
    assert streamed.id == 2 and streamed.model == "demo"
    await logs.wait(len(server.requests))
    assert logs[0] == "GET /v1/models → 200"
    assert re.fullmatch(
        r"POST /v1/chat/completions model=demo stream → 200, \d+ tokens in \d+\.\d s", logs[1]
    )
    snapshot: RequestRecord = server.wait_for(lambda r: r.id == 2)
    snapshot.tokens_sent = -1  # snapshots are copies
    assert server.requests[1].tokens_sent != -1


def test_serve_forever_in_a_subprocess() -> None:
    code = (
        "from tokentide.client.demo import serve_forever\n"
        "serve_forever(ttft=0, tokens_per_second=10000, faults=['http:503'],"
        " ready=lambda url: print('READY', url, flush=True))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.split()[1]
        with httpx.Client(timeout=5.0) as client:
            first = client.post(f"{base_url}/chat/completions", json=chat("/echo ok", stream=False))
            second = client.post(
                f"{base_url}/chat/completions", json=chat("/echo ok", stream=False)
            )
        assert first.status_code == 503
        assert second.json()["choices"][0]["message"]["content"] == "ok"
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "POST /v1/chat/completions model=demo [fault http:503] → 503" in out


def test_serve_forever_validates_faults() -> None:
    with pytest.raises(ValueError):
        serve_forever(faults=["nope"], log=None)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--port", "99999"], ["--port 99999", "0-65535"]),
        (["--port", "-1"], ["--port -1", "0-65535"]),
        (["--port", "0", "--fault", "bogus"], ["'bogus'", "http:<400-599>", "midstream_error"]),
        (["--port", "0", "--fault", "http:abc"], ["'http:abc'", "http:<400-599>"]),
    ],
)
def test_cli_rejects_bad_options_in_one_line(args: list[str], named: list[str]) -> None:
    """A bad --port or --fault is a one-line usage error, not a traceback or a running server."""
    result = subprocess.run(
        [sys.executable, "-m", "tokentide.tui.cli", "demo-server", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokentide: error: "), result.stderr
    assert all(part in lines[0] for part in named), lines[0]


@pytest.mark.slow
def test_stop_never_hangs_soak():
    """A stop that lands as a keep-alive response finishes must not be
    swallowed (it once was: stop() then waited forever). Races are rare:
    run with `pytest -m slow`."""
    for _ in range(500):
        with DemoServer(tokens_per_second=5000, ttft=0) as server, httpx.Client() as client:
            client.post(
                server.base_url + "/chat/completions",
                json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
            )
