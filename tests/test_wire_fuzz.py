"""Whatever a server sends, each wire parser yields events or raises ApiError.

Random bytes, random splits, and odd-but-valid streams (every line ending the
SSE spec allows, comments, `id:` and `retry:` fields, a BOM, JSON values of
every shape under the keys each format uses) go through the real client, and
the frames go straight into each parser too. A parser bug shows up as any
other exception, as the client's "unexpected data (KeyError)" wrapping of
one, as an internal error, or as a hang (each example has a deadline).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.replay import FIXTURES, Pieces, split_at
from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import (
    Finished,
    Message,
    ReasoningDelta,
    Replay,
    Started,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from tokentide.client.providers import WIRES, wire_format
from tokentide.client.request import ChatRequest, OutputSchema, Thinking, Tool

EVENTS = (Started, TextDelta, ReasoningDelta, ToolCallDelta, Usage, Finished, Replay)
DEADLINE = 10.0  # seconds for one example: far more than any finite body needs

# The names each format gives its events and the keys its payloads use, so
# random values land where the parser looks, not only in places it ignores.
VOCABULARY: dict[str, tuple[list[str], list[str]]] = {
    "openai": (
        [],
        [
            "choices",
            "delta",
            "content",
            "reasoning_content",
            "reasoning",
            "tool_calls",
            "function",
            "name",
            "arguments",
            "index",
            "id",
            "finish_reason",
            "usage",
            "prompt_tokens",
            "completion_tokens",
            "completion_tokens_details",
            "reasoning_tokens",
            "error",
            "message",
            "refusal",
            "type",
            "text",
        ],
    ),
    "anthropic": (
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
            "ping",
            "error",
        ],
        [
            "type",
            "message",
            "usage",
            "input_tokens",
            "output_tokens",
            "index",
            "content_block",
            "delta",
            "text",
            "text_delta",
            "input_json_delta",
            "partial_json",
            "thinking",
            "thinking_delta",
            "signature",
            "signature_delta",
            "tool_use",
            "id",
            "name",
            "input",
            "stop_reason",
            "error",
            "message",
            "redacted_thinking",
            "data",
        ],
    ),
    "responses": (
        [],
        [
            "type",
            "delta",
            "response.output_text.delta",
            "response.reasoning_summary_text.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
            "response.incomplete",
            "response.failed",
            "error",
            "item",
            "item_id",
            "output_index",
            "call_id",
            "name",
            "arguments",
            "response",
            "usage",
            "output_tokens",
            "input_tokens",
            "output_tokens_details",
            "reasoning_tokens",
            "incomplete_details",
            "reason",
            "message",
            "code",
            "status",
            "function_call",
        ],
    ),
    "ollama": (
        [],
        [
            "message",
            "role",
            "content",
            "thinking",
            "tool_calls",
            "function",
            "name",
            "arguments",
            "done",
            "done_reason",
            "prompt_eval_count",
            "eval_count",
            "error",
        ],
    ),
    "gemini": (
        [],
        [
            "candidates",
            "content",
            "parts",
            "text",
            "thought",
            "thoughtSignature",
            "functionCall",
            "name",
            "args",
            "id",
            "finishReason",
            "usageMetadata",
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "promptFeedback",
            "blockReason",
            "error",
            "message",
            "code",
            "status",
        ],
    ),
}

REQUESTS = [
    ChatRequest("m", [Message("user", "hi")]),
    ChatRequest(
        "m",
        [Message("user", "hi")],
        tools=[Tool("f", {"type": "object"}, "")],
        thinking=Thinking(2048),
    ),
    ChatRequest("m", [Message("user", "hi")], output_schema=OutputSchema({"type": "object"}, "a")),
]


def scalars(words: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(words),
        st.sampled_from(
            ["stop", "length", "tool_calls", "end_turn", "STOP", "MAX_TOKENS", "{", "[DONE]"]
        ),
    )


def payloads(wire: str) -> st.SearchStrategy[Any]:
    words = VOCABULARY[wire][1]
    return st.recursive(
        scalars(words),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(words), inner, max_size=5),
        ),
        max_leaves=25,
    )


WIRE_OF_FIXTURE = {
    "openai_chat": "openai",
    "openai_compat": "openai",
    "mistral": "openai",
    "vllm": "openai",
    "llamacpp": "openai",
    "ollama_openai": "openai",
    "anthropic": "anthropic",
    "litellm_messages": "anthropic",
    "openai_responses": "responses",
    "responses": "responses",
    "litellm_responses": "responses",
    "ollama_chat": "ollama",
    "gemini": "gemini",
}


def _frames(text: str, ndjson: bool) -> list[tuple[str, str]]:
    """(event name, data) of each frame, as the client's framing reads them:
    NDJSON split on LF alone; SSE on blank lines, any line ending."""
    if ndjson:
        return [("", line) for line in text.split("\n") if line.strip()]
    frames = []
    for block in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        name, data = "", []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value.removeprefix(" "))
        if data:
            frames.append((name, "\n".join(data)))
    return frames


def _frames_of(body: bytes, ndjson: bool) -> list[tuple[str, Any]]:
    """A fixture's frames with their JSON parsed (the end marker left out)."""
    return [
        (name, json.loads(data))
        for name, data in _frames(body.decode(), ndjson)
        if data.strip() and data.strip() != "[DONE]"
    ]


def _templates() -> dict[str, list[list[tuple[str, Any]]]]:
    """Each wire's real streams (tests/fixtures), frame by frame: mutated,
    they reach the parser's deepest branches, which random JSON rarely does."""
    templates: dict[str, list[list[tuple[str, Any]]]] = {wire: [] for wire in WIRES}
    for path in sorted(FIXTURES.iterdir()):
        prefix = max((p for p in WIRE_OF_FIXTURE if path.name.startswith(p)), key=len, default=None)
        if prefix is None:
            continue
        wire = WIRE_OF_FIXTURE[prefix]
        templates[wire].append(_frames_of(path.read_bytes(), path.suffix == ".ndjson"))
    return templates


TEMPLATES = _templates()


@st.composite
def mutated(draw: st.DrawFn, value: Any, wire: str) -> Any:
    """`value`, with here and there a leaf replaced, a key dropped or an item repeated."""
    roll = draw(st.integers(0, 99))
    if roll < 6:
        return draw(payloads(wire))
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if draw(st.integers(0, 29)) == 0:
                continue  # a key left out
            out[key] = draw(mutated(item, wire))
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, wire)) for item in value]
        if items and draw(st.integers(0, 19)) == 0:
            items.append(items[0])
        return items
    if isinstance(value, str) and roll < 12:
        return draw(st.text(max_size=12))
    return value


@st.composite
def odd_streams(draw: st.DrawFn, wire: str) -> bytes:
    """A stream a lenient server could send: valid framing, surprising content,
    built from one of the wire's real streams with frames changed, left out,
    repeated or mixed in from another of its streams."""
    names = VOCABULARY[wire][0]
    ndjson = wire == "ollama"
    templates = TEMPLATES[wire]
    base = draw(st.sampled_from(templates))
    frames: list[tuple[str, Any]] = []
    for frame in base:
        roll = draw(st.integers(0, 19))
        if roll == 0:
            continue
        if roll == 1:
            frames.append(draw(st.sampled_from(draw(st.sampled_from(templates)) or base)))
        frames.append(frame)
    newline = draw(st.sampled_from(["\n"] if ndjson else ["\n", "\r\n", "\r"]))
    parts: list[str] = ["\ufeff"] if draw(st.booleans()) else []
    for name, template in frames:
        if draw(st.integers(0, 14)) == 0:
            text = draw(st.sampled_from(["[DONE]", "", "{", "null", '"x"', "1e400", "[]"]))
        else:
            text = json.dumps(draw(mutated(template, wire)), ensure_ascii=draw(st.booleans()))
        if ndjson:
            parts.append(text.replace("\n", " ") + newline)
            continue
        if draw(st.integers(0, 5)) == 0:
            parts.append(": keep-alive" + newline)
        if draw(st.integers(0, 7)) == 0:
            parts.append(draw(st.sampled_from(["id: 7", "retry: 100", "id", "event"])) + newline)
        if names and draw(st.integers(0, 9)) == 0:
            name = draw(st.sampled_from(names))
        if name:
            parts.append(f"event: {name}{newline}")
        for line in text.split("\n"):
            parts.append(f"data:{draw(st.sampled_from(['', ' ']))}{line}{newline}")
        parts.append(newline)
    if not ndjson and draw(st.booleans()):
        parts.append(f"data: [DONE]{newline}{newline}")
    return "".join(parts).encode("utf-8", "surrogatepass")


async def _through_the_client(wire: str, request: ChatRequest, pieces: list[bytes]) -> None:
    content_type = "application/x-ndjson" if wire == "ollama" else "text/event-stream"

    def reply(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=Pieces(pieces))

    from tokentide.client.stream import ChatClient

    target = Endpoint(wire, wire, "http://fuzz.test", "m", api_key="k-123456")
    client = ChatClient(
        target, timeouts=Timeouts(2, 2), retries=0, transport=httpx.MockTransport(reply)
    )
    async with client, client.stream(request) as answer:
        try:
            async for event in answer:
                assert isinstance(event, EVENTS), event
        except ApiError as exc:
            assert exc.kind != "internal", repr(exc.origin)
            assert not exc.message.startswith("unexpected data from the server"), repr(exc.origin)
    assert answer.state.ended
    answer.message.text.encode("utf-8", "surrogatepass")  # whatever came is a str


def _straight_into_the_parser(wire: str, request: ChatRequest, body: bytes) -> None:
    """The frames without HTTP: any exception but ApiError is a parser bug."""
    parser = wire_format(wire).parser(request)
    frames = _frames(body.decode("utf-8", "replace"), ndjson=wire == "ollama")
    try:
        for name, data in frames:
            for event in parser.feed(name, data):
                assert isinstance(event, EVENTS), event
            if parser.done:
                break
        for event in parser.end():
            assert isinstance(event, EVENTS), event
    except ApiError:
        pass


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("wire", WIRES)
@fuzz(25)
@given(
    body=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 600), max_size=8),
    which=st.integers(0, len(REQUESTS) - 1),
)
async def test_random_bytes(wire: str, body: bytes, cuts: list[int], which: int):
    request = REQUESTS[which]
    await asyncio.wait_for(_through_the_client(wire, request, split_at(body, cuts)), DEADLINE)
    _straight_into_the_parser(wire, request, body)


async def _odd_stream(wire: str, data: st.DataObject, cuts: list[int]) -> None:
    body = data.draw(odd_streams(wire))
    request = data.draw(st.sampled_from(REQUESTS))
    await asyncio.wait_for(_through_the_client(wire, request, split_at(body, cuts)), DEADLINE)
    _straight_into_the_parser(wire, request, body)


@pytest.mark.parametrize("wire", WIRES)
@fuzz(30)
@given(data=st.data(), cuts=st.lists(st.integers(0, 3000), max_size=10))
async def test_odd_but_valid_streams(wire: str, data: st.DataObject, cuts: list[int]):
    await _odd_stream(wire, data, cuts)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("wire", WIRES)
@fuzz(600)
@given(data=st.data(), cuts=st.lists(st.integers(0, 3000), max_size=10))
async def test_odd_but_valid_streams_at_length(wire: str, data: st.DataObject, cuts: list[int]):
    await _odd_stream(wire, data, cuts)
