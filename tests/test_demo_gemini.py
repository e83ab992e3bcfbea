"""The demo server's Gemini API (generateContent, streamGenerateContent?alt=sse, models).

The demo server stands in for Gemini in tests and demos, so these tests pin
down what a Gemini client depends on, read through httpx-sse as a client
would: the model in the URL, every event a whole response with cumulative
counts (thoughts counted apart), a function call sent whole, the finish
reason on the last event, no end marker, and Google's error bodies.
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
from httpx_sse import aconnect_sse

from tests.conftest import ServerLog
from tokentide.client.demo import DemoServer
from tokentide.client.demo.answers import ANSWERS, reasoning_for, split_tokens

TEXT = "Héllo, wörld ☕ 😀 — <b>&</b>\nline two\u2028after a line separator."
INTERNAL = {
    "code": 500,
    "message": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "status": "INTERNAL",
}


@dataclass
class Streamed:
    """The events of one streamed answer as httpx-sse delivered them."""

    status: int
    headers: httpx.Headers
    events: list[dict[str, Any]]

    def parts(self) -> list[dict[str, Any]]:
        return [p for e in self.events for p in e["candidates"][0]["content"]["parts"]]

    def texts(self, *, thought: bool = False) -> list[str]:
        """The non-empty text pieces, of thoughts or of the visible answer."""
        return [
            p["text"]
            for p in self.parts()
            if "text" in p and p.get("thought", False) is thought and p["text"]
        ]

    def finish_reasons(self) -> list[str]:
        return [
            c["finishReason"] for e in self.events for c in e["candidates"] if "finishReason" in c
        ]


def request(prompt: str = "hello there friend", **kw: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}], **kw}


@pytest.fixture
def server(logs: ServerLog) -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=5000, ttft=0.0, log=logs.append) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


def url(server: DemoServer, model: str = "demo", method: str = "streamGenerateContent") -> str:
    root = server.base_url.removesuffix("/v1")
    query = "?alt=sse" if method == "streamGenerateContent" else ""
    return f"{root}/v1beta/models/{model}:{method}{query}"


async def stream(
    client: httpx.AsyncClient, server: DemoServer, body: dict, model: str = "demo", **kw: Any
) -> Streamed:
    async with aconnect_sse(client, "POST", url(server, model), json=body, **kw) as source:
        events = [json.loads(sse.data) async for sse in source.aiter_sse()]
        response = source.response
    return Streamed(response.status_code, response.headers, events)


async def raw_stream(client: httpx.AsyncClient, server: DemoServer, body: dict) -> bytes:
    raw = bytearray()
    async with client.stream("POST", url(server), json=body) as response:
        async for piece in response.aiter_raw():
            raw += piece
    return bytes(raw)


# --------------------------------------------------------------------------- streaming


async def test_every_event_is_a_whole_response(
    server: DemoServer, client: httpx.AsyncClient, logs: ServerLog
) -> None:
    server.script(TEXT)
    result = await stream(client, server, request())

    assert result.status == 200
    assert result.headers["content-type"] == "text/event-stream"
    assert "".join(result.texts()) == TEXT
    ids = set()
    for n, event in enumerate(result.events, 1):
        assert list(event) == ["candidates", "usageMetadata", "modelVersion", "responseId"]
        assert event["modelVersion"] == "demo"
        ids.add(event["responseId"])
        (candidate,) = event["candidates"]
        assert candidate["content"]["role"] == "model" and candidate["index"] == 0
        usage = event["usageMetadata"]
        visible = min(n, len(result.events) - 1)  # the last event adds no token
        assert usage.get("candidatesTokenCount", 0) == visible, "cumulative"
        assert usage["totalTokenCount"] == usage["promptTokenCount"] + visible
        assert "thoughtsTokenCount" not in usage
    assert len(ids) == 1
    assert result.finish_reasons() == ["STOP"]
    assert result.events[-1]["candidates"][0]["content"]["parts"] == [{"text": ""}]

    record = server.requests[-1]
    last = result.events[-1]["usageMetadata"]
    assert last["candidatesTokenCount"] == record.tokens_sent == len(result.texts())
    assert last["promptTokenCount"] == -(-len("hello there friend") // 4)
    assert record.model == "demo" and record.stream and record.completed
    await logs.wait(len(server.requests))
    assert re.fullmatch(
        r"POST /v1beta/models/demo:streamGenerateContent model=demo stream → 200, "
        r"\d+ tokens in \d+\.\d s",
        logs[-1],
    )


@pytest.mark.parametrize("fault", [None, "crlf"])
async def test_events_are_framed_with_crlf(
    server: DemoServer, client: httpx.AsyncClient, fault: str | None
) -> None:
    if fault:
        server.inject(fault)
    server.script("one two three")
    raw = await raw_stream(client, server, request())
    assert raw.startswith(b"data: {") and raw.endswith(b"}\r\n\r\n")
    events = raw.split(b"\r\n\r\n")[:-1]
    assert len(events) == 4  # three tokens and the finish
    assert all(e.startswith(b"data: ") and b"\n" not in e and b"\r" not in e for e in events)
    assert b'"candidates": [{"content": {"parts": [{"text": "one"}],"role": "model"}' in raw


async def test_thoughts_are_parts_of_their_own_counted_apart(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "tell me about rust"
    body = request(prompt, generationConfig={"thinkingConfig": {"includeThoughts": True}})
    result = await stream(client, server, body, model="demo-think")
    thoughts, texts = result.texts(thought=True), result.texts()
    assert "".join(thoughts) == reasoning_for(prompt)
    assert "".join(texts) == ANSWERS["rust"]
    kinds = ["t" if p.get("thought") else "c" for p in result.parts()[:-1]]
    assert kinds == sorted(kinds, reverse=True), "all thoughts before any text"
    first = result.events[0]["usageMetadata"]
    assert first["thoughtsTokenCount"] == 1 and "candidatesTokenCount" not in first
    last = result.events[-1]["usageMetadata"]
    assert last["thoughtsTokenCount"] == len(thoughts)
    assert last["candidatesTokenCount"] == len(texts)
    assert last["totalTokenCount"] == last["promptTokenCount"] + len(thoughts) + len(texts)
    assert server.requests[-1].tokens_sent == len(thoughts) + len(texts)


LOOKUP = {
    "functionDeclarations": [
        {
            "name": "lookup_forecast",
            "description": "The forecast for a place.",
            "parameters": {
                "type": "OBJECT",
                "properties": {"location": {"type": "STRING"}, "days": {"type": "INTEGER"}},
            },
        }
    ]
}


async def test_function_call_arrives_whole(server: DemoServer, client: httpx.AsyncClient) -> None:
    body = request("what's the weather in Lisbon?", tools=[LOOKUP])
    result = await stream(client, server, body, model="demo-tools")

    (event,) = result.events
    (candidate,) = event["candidates"]
    (part,) = candidate["content"]["parts"]
    assert part["functionCall"] == {
        "name": "lookup_forecast",
        "args": {"location": "Lisbon", "days": 3},
    }
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", part["thoughtSignature"])
    assert candidate["finishReason"] == "STOP", "Gemini says STOP after a function call"
    record = server.requests[-1]
    assert event["usageMetadata"]["candidatesTokenCount"] == record.tokens_sent > 3


async def test_function_responses_are_answered(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather in Oslo"}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 4}}}],
            },
        ]
    }
    response = await client.post(url(server, "demo-tools", "generateContent"), json=body)
    assert response.status_code == 200
    (candidate,) = response.json()["candidates"]
    (part,) = candidate["content"]["parts"]
    assert '{"temp_c": 4}' in part["text"]
    assert candidate["finishReason"] == "STOP"


async def test_max_output_tokens(server: DemoServer, client: httpx.AsyncClient) -> None:
    body = request("tell me about rust", generationConfig={"maxOutputTokens": 7})
    result = await stream(client, server, body)
    assert result.texts() == split_tokens(ANSWERS["rust"])[:7]
    assert result.finish_reasons() == ["MAX_TOKENS"]
    assert result.events[-1]["usageMetadata"]["candidatesTokenCount"] == 7


async def test_system_instruction_and_snake_case_are_accepted(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    body = request(
        "/echo fine and dandy",
        system_instruction={"parts": [{"text": "Be brief."}]},
        generation_config={"max_output_tokens": 1, "responseMimeType": "text/plain"},
    )
    result = await stream(client, server, body)
    assert result.texts() == ["fine"]
    assert result.finish_reasons() == ["MAX_TOKENS"]
    # 29 characters of prompt with the system text (20 without): 8 tokens, not 5.
    assert result.events[-1]["usageMetadata"]["promptTokenCount"] == 8


# --------------------------------------------------------------------------- other replies


async def test_generate_content_is_one_whole_response(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    prompt = "tell me about rust"
    response = await client.post(url(server, "demo-think", "generateContent"), json=request(prompt))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.text.startswith('{\n  "candidates": [\n'), "indented as Google's are"
    payload = response.json()
    (candidate,) = payload["candidates"]
    assert candidate["content"] == {
        "parts": [{"text": reasoning_for(prompt), "thought": True}, {"text": ANSWERS["rust"]}],
        "role": "model",
    }
    assert candidate["finishReason"] == "STOP"
    usage = payload["usageMetadata"]
    assert usage["thoughtsTokenCount"] == len(split_tokens(reasoning_for(prompt)))
    assert usage["candidatesTokenCount"] == len(split_tokens(ANSWERS["rust"]))
    record = server.requests[-1]
    assert record.model == "demo-think" and not record.stream and record.completed


async def test_stream_needs_alt_sse(server: DemoServer, client: httpx.AsyncClient) -> None:
    plain = url(server).removesuffix("?alt=sse")
    response = await client.post(plain, json=request())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "alt=sse" in error["message"]


async def test_model_list(server: DemoServer, client: httpx.AsyncClient) -> None:
    root = server.base_url.removesuffix("/v1")
    response = await client.get(f"{root}/v1beta/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["name"] for m in models] == ["models/demo", "models/demo-think", "models/demo-tools"]
    for entry in models:
        assert entry["supportedGenerationMethods"] == ["generateContent", "streamGenerateContent"]
        assert isinstance(entry["displayName"], str) and entry["inputTokenLimit"] > 0


async def test_unknown_model_is_404(server: DemoServer, client: httpx.AsyncClient) -> None:
    response = await client.post(url(server, "gemini-9-pro"), json=request())
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "message": "models/gemini-9-pro is not found for API version v1beta, or is not "
            "supported for generateContent. Call ListModels to see the list of available "
            "models and their supported methods.",
            "status": "NOT_FOUND",
        }
    }
    assert server.requests[-1].model == "gemini-9-pro"


async def test_api_key_by_header_or_query(client: httpx.AsyncClient) -> None:
    key = "AIzaSy-right-key"
    with DemoServer(ttft=0, tokens_per_second=10_000, api_key=key) as server:
        generate = url(server, method="generateContent")
        by_header = await client.post(
            generate, json=request("/echo a"), headers={"x-goog-api-key": key}
        )
        by_query = await client.post(f"{generate}?key={key}", json=request("/echo b"))
        wrong = await client.post(generate, json=request(), headers={"x-goog-api-key": "AIzaX"})
        missing = await client.post(generate, json=request())
        bearer = await client.post(
            generate, json=request(), headers={"Authorization": f"Bearer {key}"}
        )
        root = server.base_url.removesuffix("/v1")
        models = await client.get(f"{root}/v1beta/models")
    assert by_header.status_code == 200 and by_query.status_code == 200
    assert by_query.json()["candidates"][0]["content"]["parts"] == [{"text": "b"}]

    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    assert "AIzaX" not in wrong.text

    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in missing.json()["error"]["message"]
    assert bearer.status_code == 401
    assert bearer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert models.status_code == 403


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Invalid JSON payload received. Unexpected token.\n{not json\n ^"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}]}',
            'Invalid JSON payload received. Unknown name "messages": Cannot find field.',
        ),
        (b"{}", "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            b'{"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}',
            "Please use a valid role: user, model.",
        ),
        (
            b'{"contents": [{"role": "user", "parts": []}]}',
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
    ],
)
async def test_bad_bodies_are_400(
    server: DemoServer, client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post(url(server, method="generateContent"), content=content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == message


# --------------------------------------------------------------------------- faults


async def test_midstream_error_is_a_data_event(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("midstream_error")
    result = await stream(client, server, request())
    assert result.status == 200
    *answer, last = result.events
    assert last == {"error": INTERNAL}
    assert len(answer) == 5
    assert all("finishReason" not in e["candidates"][0] for e in answer)
    assert not server.requests[-1].completed


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [
        (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota"),
        (500, "INTERNAL", "An internal error has occurred."),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (404, "NOT_FOUND", "models/demo is not found for API version v1beta"),
    ],
)
async def test_http_faults(
    server: DemoServer, client: httpx.AsyncClient, status: int, name: str, message: str
) -> None:
    server.inject(f"http:{status}")
    response = await client.post(url(server), json=request())
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and error["status"] == name
    assert error["message"].startswith(message)
    if status == 429:
        retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
        assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
    again = await stream(client, server, request())
    assert again.finish_reasons() == ["STOP"]


async def test_keepalive_comments_are_skipped_by_clients(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("keepalive")
    server.script("one two three four five six seven eight nine ten")
    raw = await raw_stream(client, server, request())
    assert raw.startswith(b": keep-alive\r\n\r\n: keep-alive\r\n\r\ndata: ")
    server.inject("keepalive")
    server.script("one two three four five six seven eight nine ten")
    result = await stream(client, server, request())
    assert "".join(result.texts()) == "one two three four five six seven eight nine ten"


async def test_no_usage_drops_usage_metadata(server: DemoServer, client: httpx.AsyncClient) -> None:
    server.inject("no_usage")
    result = await stream(client, server, request())
    assert result.events and all("usageMetadata" not in e for e in result.events)
    assert result.finish_reasons() == ["STOP"]


async def test_disconnect_is_noticed_and_generation_stops(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.tokens_per_second = 100
    total = len(split_tokens(ANSWERS["sql"]))
    seen = 0
    async with aconnect_sse(client, "POST", url(server), json=request("sql please")) as source:
        async for _ in source.aiter_sse():
            seen += 1
            if seen == 5:
                break
    closed_at = time.perf_counter()
    record = await server.await_for(lambda r: r.disconnected_at is not None)
    assert record.disconnected_at is not None
    assert record.disconnected_at - closed_at < 0.2
    ended = await server.await_for(lambda r: r.id == record.id and r.ended_at is not None)
    assert not ended.completed
    assert 5 <= ended.tokens_sent < total
