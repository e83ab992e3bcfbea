"""The demo server's Ollama native API (/api/chat, /api/tags) over real loopback sockets.

The demo server stands in for a local Ollama in tests and demos, so these
tests pin down what a client of Ollama's native API depends on: one JSON
object a line, thinking apart from content, a tool call sent whole with
object arguments, a final `done` line whose counts match what was sent, and
Ollama's plain `{"error": "..."}` bodies, in mid-stream too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import ServerLog
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import ANSWERS, reasoning_for, split_tokens

TEXT = "Héllo <b>wörld</b> & café ☕ 😀\nsecond line\u2028after a line separator."
MIDSTREAM = {"error": "an error was encountered while running the model"}
METRICS = {
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


@dataclass
class Streamed:
    """What one /api/chat response looked like from the client's side."""

    status: int
    headers: httpx.Headers
    raw: bytes
    lines: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any]:
        return self.lines[-1]

    def pieces(self, key: str = "content") -> list[str]:
        """The non-empty `message[key]` of every line before the final one."""
        return [
            line["message"][key]
            for line in self.lines
            if not line.get("done") and line.get("message", {}).get(key)
        ]


def chat(prompt: str = "hello there friend", *, model: str = "demo", **kw: Any) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **kw}


def split_lines(raw: bytes, newline: bytes = b"\n") -> list[dict[str, Any]]:
    """NDJSON cut on the newline only (never str.splitlines, which also cuts at U+2028)."""
    assert raw.endswith(newline), raw[-40:]
    return [json.loads(line) for line in raw[: -len(newline)].split(newline)]


@pytest.fixture
def server(logs: ServerLog) -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=5000, ttft=0.0, log=logs.append) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


def root(server: DemoServer) -> str:
    return server.base_url.removesuffix("/v1")


async def stream_chat(
    client: httpx.AsyncClient, server: DemoServer, body: dict, *, newline: bytes = b"\n"
) -> Streamed:
    raw = bytearray()
    async with client.stream("POST", f"{root(server)}/api/chat", json=body) as response:
        async for piece in response.aiter_raw():
            raw += piece
    lines = split_lines(bytes(raw), newline) if raw else []
    return Streamed(response.status_code, response.headers, bytes(raw), lines)


# --------------------------------------------------------------------------- streaming


async def test_streams_ndjson_by_default(
    server: DemoServer, client: httpx.AsyncClient, logs: ServerLog
) -> None:
    server.script(TEXT)
    result = await stream_chat(client, server, chat())  # no "stream": Ollama streams

    assert result.status == 200
    assert result.headers["content-type"] == "application/x-ndjson"
    assert b"\r" not in result.raw
    assert "".join(result.pieces()) == TEXT
    # Go's json.Marshal escapes <, >, & and U+2028 even inside strings.
    assert b"\\u003c" in result.raw and b"\\u003e" in result.raw and b"\\u0026" in result.raw
    assert not {b"<", b">", b"&"} & {bytes([c]) for c in result.raw}
    assert b"\\u2028" in result.raw and "\u2028".encode() not in result.raw
    assert b'":' in result.raw and b'": ' not in result.raw, "compact JSON"
    for line in result.lines[:-1]:
        assert list(line) == ["model", "created_at", "message", "done"]
        assert line["model"] == "demo" and line["done"] is False
        assert list(line["message"]) == ["role", "content"]
        assert line["message"]["role"] == "assistant"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", line["created_at"])

    final = result.final
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert set(final) >= METRICS
    n = len(result.pieces())
    record = server.requests[-1]
    assert final["eval_count"] == n == record.tokens_sent
    assert final["prompt_eval_count"] == -(-len("hello there friend") // 4)
    assert record.stream and record.completed and record.model == "demo"
    await logs.wait(len(server.requests))
    assert re.fullmatch(
        r"POST /api/chat model=demo stream → 200, \d+ tokens in \d+\.\d s", logs[-1]
    )


async def test_thinking_comes_first_in_its_own_field(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "tell me about rust"
    result = await stream_chat(client, server, chat(prompt, model="demo-think", stream=True))
    thinking, content = result.pieces("thinking"), result.pieces("content")
    assert "".join(thinking) == reasoning_for(prompt)
    assert "".join(content) == ANSWERS["rust"]
    kinds = ["t" if "thinking" in line["message"] else "c" for line in result.lines[:-1]]
    assert kinds == sorted(kinds, reverse=True), "all thinking before any content"
    assert all(
        line["message"]["content"] == "" for line in result.lines if "thinking" in line["message"]
    )
    assert result.final["eval_count"] == len(thinking) + len(content)
    assert server.requests[-1].tokens_sent == len(thinking) + len(content)


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_forecast",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}


async def test_tool_call_arrives_whole_with_object_arguments(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    body = chat("what's the weather in Lisbon?", model="demo-tools", tools=[LOOKUP])
    result = await stream_chat(client, server, body)

    assert len(result.lines) == 2
    call_line, final = result.lines
    assert call_line["done"] is False
    assert call_line["message"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "function": {
                    "index": 0,
                    "name": "lookup_forecast",
                    "arguments": {"location": "Lisbon", "days": 3},
                }
            }
        ],
    }
    assert final["done_reason"] == "stop", "Ollama says stop after a tool call"
    record = server.requests[-1]
    assert final["eval_count"] == record.tokens_sent > 3, "the buffered pieces count as sent"


async def test_tool_results_in_ollama_shape_are_answered(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    body = chat("weather in Oslo", model="demo-tools", stream=False)
    body["messages"] += [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "tool_name": "get_weather", "content": '{"temp_c": 4}'},
    ]
    response = await client.post(f"{root(server)}/api/chat", json=body)
    assert response.status_code == 200
    payload = response.json()
    assert '{"temp_c": 4}' in payload["message"]["content"]
    assert "tool_calls" not in payload["message"]
    assert payload["done_reason"] == "stop"


async def test_num_predict_ends_with_length(server: DemoServer, client: httpx.AsyncClient) -> None:
    body = chat("tell me about rust", options={"num_predict": 7, "temperature": 0.2})
    result = await stream_chat(client, server, body)
    assert result.pieces() == split_tokens(ANSWERS["rust"])[:7]
    assert result.final["done_reason"] == "length"
    assert result.final["eval_count"] == 7


async def test_tool_call_cut_by_num_predict_is_never_sent(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    body = chat("weather in Oslo", model="demo-tools", options={"num_predict": 3})
    result = await stream_chat(client, server, body)
    assert len(result.lines) == 1
    assert result.final["done_reason"] == "length" and result.final["eval_count"] == 3
    assert server.requests[-1].tokens_sent == 3


async def test_durations_follow_the_pace(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.ttft = 0.2
    server.tokens_per_second = 200
    server.script("word" + " word" * 39)  # 40 tokens: the last due 0.2 s + 39 / 200 s
    started = time.perf_counter()
    result = await stream_chat(client, server, chat())
    took = time.perf_counter() - started
    final = result.final
    assert final["eval_count"] == 40
    assert final["load_duration"] + final["prompt_eval_duration"] == 200_000_000
    assert final["load_duration"] > 0
    assert final["total_duration"] == (
        final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
    )
    assert 0.195 <= final["eval_duration"] / 1e9 <= 0.5
    assert 0.395 <= final["total_duration"] / 1e9 <= took
    rate = final["eval_count"] / (final["eval_duration"] / 1e9)
    assert 80 <= rate <= 210, rate


# --------------------------------------------------------------------------- other replies


async def test_stream_false_is_one_json_object(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "tell me about rust"
    body = chat(prompt, model="demo-think", stream=False, think=True)
    response = await client.post(f"{root(server)}/api/chat", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    payload = response.json()
    assert payload["message"] == {
        "role": "assistant",
        "content": ANSWERS["rust"],
        "thinking": reasoning_for(prompt),
    }
    assert payload["done"] is True and payload["done_reason"] == "stop"
    tokens = len(split_tokens(reasoning_for(prompt))) + len(split_tokens(ANSWERS["rust"]))
    assert payload["eval_count"] == tokens
    assert set(payload) >= METRICS
    record = server.requests[-1]
    assert not record.stream and record.completed and record.tokens_sent == tokens


async def test_tags_lists_the_models(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{root(server)}/api/tags")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["name"] for m in models] == ["demo:latest", "demo-think:latest", "demo-tools:latest"]
    for entry in models:
        assert set(entry) == {"name", "model", "modified_at", "size", "digest", "details"}
        assert entry["model"] == entry["name"] and re.fullmatch(r"[0-9a-f]{64}", entry["digest"])
        assert set(entry["details"]) == {
            "parent_model",
            "format",
            "family",
            "families",
            "parameter_size",
            "quantization_level",
        }
    # A listed name, tag and all, is a model the server answers with.
    again = await client.post(
        f"{root(server)}/api/chat", json=chat("/echo tagged", model="demo:latest", stream=False)
    )
    assert again.json()["message"]["content"] == "tagged"


async def test_unknown_model_is_404(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.post(f"{root(server)}/api/chat", json=chat(model="llama9"))
    assert response.status_code == 404
    assert response.json() == {"error": "model 'llama9' not found"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "missing request body"),
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model is required"),
        (
            b'{"model": "demo", "stream": "yes", "messages": []}',
            "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool",
        ),
        (
            b'{"model": "demo", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}',
            "json: cannot unmarshal array into Go struct field ChatRequest.messages.content"
            " of type string",
        ),
        (
            b'{"model": "demo", "think": "extreme", "messages": []}',
            'invalid think value: "extreme" (must be "high", "medium", "low", true, or false)',
        ),
    ],
)
async def test_bad_bodies_are_400(
    server: DemoServer, client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post(f"{root(server)}/api/chat", content=content)
    assert response.status_code == 400
    assert response.json() == {"error": message}


async def test_no_messages_loads_the_model(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.post(f"{root(server)}/api/chat", json={"model": "demo"})
    assert response.status_code == 200
    payload = response.json()
    assert payload["done"] is True and payload["done_reason"] == "load"
    assert payload["message"] == {"role": "assistant", "content": ""}


async def test_no_auth_even_with_a_server_key(client: httpx.AsyncClient) -> None:
    with DemoServer(ttft=0, tokens_per_second=10_000, api_key="sk-secret") as server:
        tags = await client.get(f"{root(server)}/api/tags")
        answer = await client.post(
            f"{root(server)}/api/chat", json=chat("/echo open", stream=False)
        )
        openai = await client.get(f"{server.base_url}/models")
    assert tags.status_code == 200
    assert answer.json()["message"]["content"] == "open"
    assert openai.status_code == 401, "the key still guards the OpenAI paths"


async def test_wrong_method_is_gins_404(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{root(server)}/api/chat")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain"
    assert response.text == "404 page not found"


# --------------------------------------------------------------------------- faults


async def test_midstream_error_is_the_last_line(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("midstream_error")
    result = await stream_chat(client, server, chat())
    assert result.status == 200
    assert len(result.pieces()) == 5
    assert result.lines[-1] == MIDSTREAM
    assert not any(line.get("done") for line in result.lines)
    assert not server.requests[-1].completed


@pytest.mark.parametrize("fault", ["truncate", "done_no_finish"])
async def test_cut_streams_have_no_done_line(
    server: DemoServer, client: httpx.AsyncClient, fault: str
) -> None:
    server.inject(fault)
    result = await stream_chat(client, server, chat())
    assert len(result.lines) == 5
    assert not any(line.get("done") for line in result.lines)
    assert server.requests[-1].tokens_sent == 5


async def test_crlf_fault_ends_lines_with_crlf(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("crlf")
    server.script("line one\nline two")
    result = await stream_chat(client, server, chat(), newline=b"\r\n")
    assert b"\n" not in result.raw.replace(b"\r\n", b"")
    assert result.raw.count(b"\r\n") == len(result.lines)
    assert "".join(result.pieces()) == "line one\nline two"
    assert result.final["done"] is True


async def test_keepalive_fault_adds_nothing(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("keepalive")
    server.script("one two three four five six seven eight nine ten")
    result = await stream_chat(client, server, chat())  # every line still parses as JSON
    assert "".join(result.pieces()) == "one two three four five six seven eight nine ten"
    assert result.final["done"] is True


async def test_no_usage_drops_the_counts(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("no_usage")
    result = await stream_chat(client, server, chat())
    assert result.final["done"] is True and result.final["done_reason"] == "stop"
    assert not METRICS & set(result.final)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "model 'demo' not found"),
        (429, "injected HTTP 429 (Too Many Requests)"),
        (500, "llama runner process has terminated: exit status 2"),
        (503, "server busy, please try again.  maximum pending requests exceeded"),
    ],
)
async def test_http_faults(
    server: DemoServer, client: httpx.AsyncClient, status: int, message: str
) -> None:
    server.inject(f"http:{status}")
    response = await client.post(f"{root(server)}/api/chat", json=chat())
    assert response.status_code == status
    assert response.json() == {"error": message}
    assert server.requests[-1].fault == f"http:{status}"
    again = await stream_chat(client, server, chat())
    assert again.final["done"] is True


async def test_disconnect_is_noticed_and_generation_stops(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.tokens_per_second = 100
    total = len(split_tokens(ANSWERS["sql"]))
    seen = 0
    async with client.stream("POST", f"{root(server)}/api/chat", json=chat("sql please")) as r:
        buf = b""
        async for piece in r.aiter_raw():
            buf += piece
            seen = buf.count(b"\n")
            if seen >= 5:
                break
        closed_at = time.perf_counter()
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at is not None
    assert 0 <= record.disconnected_at - closed_at < 0.2
    ended = await server.await_for(lambda r: r.id == record.id and r.ended_at is not None)
    assert not ended.completed
    assert 5 <= ended.tokens_sent < total
