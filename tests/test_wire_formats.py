"""Every wire format, byte for byte, through the real client over a socket.

Each fixture is written from the provider's documented format (and the
departures real servers make); it is served in random small pieces over
loopback and must fold into the same Message: text, reasoning, tool calls
with parsed arguments, the normalised and the native finish reason, usage.
A property test then splits the same bytes at arbitrary points.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.replay import Canned, Pieces, fixture, split_at
from tokentide.client.accumulate import parse_partial
from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import Message, Replay, ToolCallDelta
from tokentide.client.request import ChatRequest, OutputSchema, Thinking, Tool
from tokentide.client.stream import ChatClient, State

TIMEOUTS = Timeouts(connect=2, read=2)
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
ESCAPED_ARGS = fixture("tool_arguments_escapes.txt").decode()


def endpoint(wire: str, base_url: str, key: str | None = "k-123456") -> Endpoint:
    return Endpoint(wire, wire, base_url, "m", api_key=key)


def host(replay) -> str:
    return f"http://127.0.0.1:{replay.port}"


def base_for(wire: str, replay) -> str:
    return replay.base_url if wire in ("openai", "responses") else host(replay)


async def stream(target: Endpoint, request: ChatRequest | None = None, **kw: Any):
    """One answer to its end; returns (answer, events, error)."""
    events: list = []
    error = None
    async with ChatClient(target, timeouts=TIMEOUTS, **kw) as client:
        answer = client.stream(request or ChatRequest("m", [Message("user", "hi")]))
        try:
            async with answer:
                async for event in answer:
                    events.append(event)
        except ApiError as exc:
            error = exc
    return answer, events, error


@dataclass
class Case:
    wire: str
    fixture: str
    text: str = ""
    reasoning: str = ""
    calls: list[tuple[str | None, str, Any]] = field(default_factory=list)
    """(id, name, parsed arguments) of each tool call."""
    finish: tuple[str | None, str | None] | None = ("stop", None)
    """(normalised, native) finish reason; None when the stream fails."""
    usage: tuple[int | None, int | None, int | None] | None = None
    """(input, output, reasoning) tokens."""
    error: str | None = None
    replay: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return NDJSON if self.fixture.endswith(".ndjson") else SSE

    def __str__(self) -> str:
        return self.fixture


SIGNATURE = (
    "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds6jdqQVsdHhgE4XaSx7MNLDpCh1Rk1vFo+qn2eTi3FV6"
    "Vj7G2zAvdAT1fFiydhh5TJkZ3lkZHoCmuoKJ1Eh5aaEtM1Q3rFVK2NoLJ3hrFQeFtXUbQbWBqTmWg2kL4gQ=="
)
GCD = (
    "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n"
    "1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0\n\nSo the GCD is 21."
)
WRITE_FILE = json.loads(ESCAPED_ARGS)

CASES = [
    Case(
        "anthropic",
        "anthropic_text.sse",
        text="Hello! I'm Claude 👋.\nHow can I help?",
        finish=("stop", "end_turn"),
        usage=(25, 15, None),
    ),
    Case(
        "anthropic",
        "anthropic_thinking.sse",
        reasoning=GCD,
        text="The greatest common divisor of 1071 and 462 is **21**.",
        finish=("stop", "end_turn"),
        usage=(36, 178, None),
        replay=[{"type": "thinking", "thinking": GCD, "signature": SIGNATURE}],
    ),
    Case(
        "anthropic",
        "anthropic_tool_use.sse",
        text="Okay, let's check the weather for San Francisco, CA:",
        calls=[
            (
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "get_weather",
                {"location": "San Francisco, CA", "unit": "fahrenheit"},
            )
        ],
        finish=("tool_calls", "tool_use"),
        usage=(472, 89, None),
    ),
    Case(
        "anthropic",
        "anthropic_tool_escapes.sse",
        calls=[("toolu_01Esc", "write_file", WRITE_FILE)],
        finish=("tool_calls", "tool_use"),
        usage=(60, 41, None),
    ),
    Case(
        "anthropic",
        "anthropic_overloaded_midstream.sse",
        text="Here is the beginning of a long story about a lighthouse keeper",
        finish=None,
        usage=(18, None, None),
        error="the server reported an error mid-stream (overloaded_error): Overloaded",
    ),
    Case(
        "anthropic",
        "litellm_messages_tool_use.sse",
        text="Let me check.",
        calls=[("call_8b1f", "get_weather", {"city": "Oslo"})],
        finish=("tool_calls", "tool_use"),
        usage=(87, 21, None),
    ),
    Case(
        "responses",
        "openai_responses_text.sse",
        text="Double bubble bath—twice!",
        finish=("stop", "completed"),
        usage=(19, 8, 0),
    ),
    Case(
        "responses",
        "openai_responses_function_call.sse",
        calls=[
            (
                "call_Xq2Lm8Nz4Vb0Rt6Yp1Kc9Hs3",
                "get_weather",
                {"location": "Paris, France", "unit": "c"},
            )
        ],
        finish=("tool_calls", "completed"),
        usage=(61, 18, 0),
    ),
    Case(
        "responses",
        "responses_reasoning_tool_call.sse",
        reasoning="**Plan** the call\n\nNeed the file path.",
        calls=[("call_01Esc", "write_file", WRITE_FILE)],
        finish=("tool_calls", "completed"),
        usage=(40, 90, 64),
    ),
    Case(
        "responses",
        "litellm_responses_no_event_lines.sse",
        reasoning="**Plan** the call\n\nNeed the file path.",
        calls=[("call_01Esc", "write_file", WRITE_FILE)],
        finish=("tool_calls", "completed"),
        usage=(40, 90, 64),
    ),
    Case(
        "responses",
        "responses_incomplete.sse",
        text="Once upon",
        finish=("length", "max_output_tokens"),
        usage=(5, 2, 0),
    ),
    Case(
        "responses",
        "openai_responses_failed.sse",
        text="Partial answer",
        finish=None,
        error="the server reported an error mid-stream (server_error): The server had an error "
        "while processing your request. Sorry about that!",
    ),
    Case(
        "responses",
        "responses_error_event.sse",
        text="Partial",
        finish=None,
        error="the server reported an error mid-stream (server_is_overloaded): Our servers are "
        "currently overloaded. Please try again later.",
    ),
    Case(
        "ollama",
        "ollama_chat.ndjson",
        reasoning="The user wants a greeting.",
        text="Hello! How can I help?",
        finish=("stop", "stop"),
        usage=(18, 12, None),
    ),
    Case(
        "ollama",
        "ollama_chat_tool_call.ndjson",
        calls=[(None, "get_weather", {"city": "Tokyo"})],
        finish=("tool_calls", "stop"),
        usage=(169, 15, None),
    ),
    Case(
        "ollama",
        "ollama_chat_crlf_length.ndjson",
        reasoning="Short\u2028answer.",
        text="Line\u2028sep",
        finish=("length", "length"),
        usage=(7, 4, None),
    ),
    Case(
        "ollama",
        "ollama_chat_error_midstream.ndjson",
        text=" Yes.Ican",
        finish=None,
        error="the server reported an error mid-stream: an error was encountered while running "
        "the model",
    ),
    Case(
        "gemini",
        "gemini_text.sse",
        text="Tide pools hold small worlds 🌊.\n- crabs\n- anemones",
        finish=("stop", "STOP"),
        usage=(9, 8, None),
    ),
    Case(
        "gemini",
        "gemini_thinking_tool_call.sse",
        reasoning="**Checking the weather**\nThe user wants Tokyo.",
        calls=[(None, "get_weather", {"city": "Tōkyō", "unit": "c"})],
        finish=("tool_calls", "STOP"),
        usage=(9, 35, 21),
        replay=[
            {
                "tool_index": 0,
                "thoughtSignature": "CiQBVKhc7vB3sIg1Ykw0bI+5ZVtNQ8Bz0e1dRzJ4oFh0b3Y=",
            }
        ],
    ),
    Case(
        "gemini",
        "gemini_max_tokens.sse",
        text="Once upon a time",
        finish=("length", "MAX_TOKENS"),
        usage=(9, 4, None),
    ),
    Case(
        "gemini",
        "gemini_error_midstream.sse",
        text="The first half",
        finish=None,
        usage=(9, 3, None),
        error="the server reported an error mid-stream (UNAVAILABLE): The model is overloaded. "
        "Please try again later.",
    ),
    Case(
        "openai",
        "mistral_typed_content.sse",
        reasoning="Two plus two is four.",
        text="**4**.",
        finish=("stop", "stop"),
        usage=(8, 9, None),
    ),
]


def check(case: Case, message: Message, state: State, error: ApiError | None) -> None:
    assert message.text == case.text
    assert message.reasoning == case.reasoning
    calls = [(c.id, c.name, c.arguments) for c in message.tool_calls]
    assert calls == case.calls
    assert all(c.parse_error is None for c in message.tool_calls)
    if case.finish is None:
        assert state is State.FAILED and error is not None
        assert error.message == case.error and message.error.startswith(case.error)
    else:
        assert state is State.FINISHED and error is None, error
        assert (message.finish_reason, message.native_finish_reason) == (
            case.finish[0],
            case.finish[1] or case.finish[0],
        )
    if case.usage is not None:
        usage = message.usage
        assert usage is not None
        assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == case.usage
    assert [r.data for r in message.replay] == case.replay
    assert all(r.wire == case.wire for r in message.replay)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [1, 2])
async def test_fixture_folds_into_the_expected_message(replay, case: Case, seed: int):
    replay.reply(Canned(fixture(case.fixture), content_type=case.content_type, seed=seed))
    answer, _, error = await stream(endpoint(case.wire, base_for(case.wire, replay)))
    check(case, answer.message, answer.state, error)


@pytest.mark.parametrize("case", [c for c in CASES if c.finish is not None], ids=str)
async def test_a_stream_cut_half_way_keeps_the_part_and_says_so(replay, case: Case):
    """The first half of the frames, then EOF: a server or proxy that hung up.
    The part received is kept; the answer is cut off, not finished."""
    body = fixture(case.fixture)
    separator = re.compile(rb"\r?\n" if case.content_type == NDJSON else rb"\r?\n\r?\n")
    ends = [m.end() for m in separator.finditer(body)]
    replay.reply(Canned(body[: ends[max(0, len(ends) // 2 - 1)]], content_type=case.content_type))
    answer, _, error = await stream(endpoint(case.wire, base_for(case.wire, replay)))
    assert answer.state is State.CUT_OFF and error is not None and error.kind == "cut_off"
    assert str(error).startswith("the answer was cut off: the stream ended with")
    assert answer.message.interrupted
    assert case.text.startswith(answer.message.text)
    assert case.reasoning.startswith(answer.message.reasoning)


# -- property: any split gives the same message --------------------------------


async def _message_from(case: Case, pieces: list[bytes]) -> tuple[Message, State]:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": case.content_type}, stream=Pieces(pieces)
        )

    target = endpoint(case.wire, "http://fixture.test")
    answer, _, _ = await stream(target, transport=httpx.MockTransport(reply))
    return answer.message, answer.state


@pytest.mark.parametrize("case", CASES, ids=str)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=40))
async def test_any_split_gives_the_same_message(case: Case, cuts: list[int]):
    body = fixture(case.fixture)
    whole, whole_state = await _message_from(case, [body])
    split, split_state = await _message_from(case, split_at(body, cuts))
    assert split_state is whole_state
    assert (split.text, split.reasoning, split.finish_reason, split.usage) == (
        whole.text,
        whole.reasoning,
        whole.finish_reason,
        whole.usage,
    )
    assert [c.to_dict() for c in split.tool_calls] == [c.to_dict() for c in whole.tool_calls]


async def test_every_split_of_escaped_arguments_parses_monotonically_to_the_strict_value():
    """The partial parse of a growing tool call only ever grows (a key once
    seen keeps its place, a string only gets longer) and ends at the strict parse."""
    raw = ""
    seen: list[Any] = []
    for ch in ESCAPED_ARGS:
        raw += ch
        value = parse_partial(raw)
        if value is not None:
            seen.append(value)
    for before, after in itertools.pairwise(seen):
        assert _grows(before, after), (before, after)
    assert seen[-1] == WRITE_FILE


def _grows(before: Any, after: Any) -> bool:
    if isinstance(before, dict) and isinstance(after, dict):
        return list(before)[: len(before)] == list(after)[: len(before)] and all(
            _grows(v, after[k]) for k, v in before.items()
        )
    if isinstance(before, str) and isinstance(after, str):
        return after.startswith(before)
    return before == after


# -- what each format sends ----------------------------------------------------

TOOL = Tool(
    "get_weather", {"type": "object", "properties": {"city": {"type": "string"}}}, "Weather"
)
SCHEMA = OutputSchema({"type": "object", "properties": {"n": {"type": "integer"}}}, "answer")


def full_request(**kw: Any) -> ChatRequest:
    messages = [
        Message("user", "first"),
        Message(
            "assistant",
            "reply",
            replay=[Replay("anthropic", {"type": "thinking", "thinking": "t", "signature": "s"})],
        ),
        Message("user", "second"),
    ]
    return ChatRequest("m", messages, system="be brief", max_tokens=100, **kw)


async def _sent(replay, wire: str, request: ChatRequest, reply: str, content_type: str = SSE):
    replay.reply(Canned(fixture(reply), content_type=content_type))
    _, _, error = await stream(endpoint(wire, base_for(wire, replay)), request)
    assert error is None, error
    return replay.seen[-1]


async def test_anthropic_request(replay):
    request = full_request(tools=[TOOL], thinking=Thinking(2048), temperature=1.0)
    seen = await _sent(replay, "anthropic", request, "anthropic_text.sse")
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.headers["x-api-key"] == "k-123456"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers
    body = seen.body
    assert body["system"] == "be brief" and body["stream"] is True
    # The smallest budget the API takes, and max_tokens above it: 100 for the answer.
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["max_tokens"] == 1024 + 100 and "temperature" not in body
    assert body["messages"] == [
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "text", "text": "reply"},
            ],
        },
        {"role": "user", "content": "second"},
    ]
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": TOOL.parameters}
    ]


async def test_anthropic_structured_output_is_a_forced_tool_streamed_as_text(replay):
    seen = await _sent(
        replay, "anthropic", full_request(output_schema=SCHEMA), "anthropic_tool_use.sse"
    )
    assert seen.body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert seen.body["tools"] == [{"name": "answer", "input_schema": SCHEMA.schema}]
    # The fixture's tool is not the answer tool, so it stays a tool call:
    replay.reply(Canned(fixture("anthropic_tool_use.sse")))
    schema = OutputSchema(SCHEMA.schema, "get_weather")
    request = ChatRequest("m", [Message("user", "hi")], output_schema=schema)
    answer, _, _ = await stream(endpoint("anthropic", host(replay)), request)
    assert answer.message.tool_calls == []
    assert json.loads(answer.message.text.split(":", 1)[1]) == {
        "location": "San Francisco, CA",
        "unit": "fahrenheit",
    }


async def test_responses_request(replay):
    request = full_request(tools=[TOOL], output_schema=SCHEMA, thinking=Thinking())
    seen = await _sent(replay, "responses", request, "openai_responses_text.sse")
    assert (seen.method, seen.path) == ("POST", "/v1/responses")
    assert seen.headers["authorization"] == "Bearer k-123456"
    body = seen.body
    assert body["instructions"] == "be brief" and body["max_output_tokens"] == 100
    assert body["input"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": TOOL.parameters,
            "strict": False,
        }
    ]
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "answer", "schema": SCHEMA.schema}
    }
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}


async def test_ollama_request(replay):
    request = full_request(tools=[TOOL], output_schema=SCHEMA, thinking=Thinking())
    seen = await _sent(replay, "ollama", request, "ollama_chat.ndjson", NDJSON)
    assert (seen.method, seen.path) == ("POST", "/api/chat")
    body = seen.body
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["options"] == {"num_predict": 100}
    assert body["think"] is True and body["format"] == SCHEMA.schema
    assert body["tools"][0]["function"]["name"] == "get_weather"


async def test_gemini_request(replay):
    request = full_request(tools=[TOOL], output_schema=SCHEMA, thinking=Thinking(512))
    request.model = "models/gemini-2.5-flash"
    seen = await _sent(replay, "gemini", request, "gemini_text.sse")
    assert seen.method == "POST"
    assert seen.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert seen.headers["x-goog-api-key"] == "k-123456"
    body = seen.body
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "first"}]},
        {"role": "model", "parts": [{"text": "reply"}]},
        {"role": "user", "parts": [{"text": "second"}]},
    ]
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "responseMimeType": "application/json",
        "responseJsonSchema": SCHEMA.schema,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
    }
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration == {
        "name": "get_weather",
        "parametersJsonSchema": TOOL.parameters,
        "description": "Weather",
    }


async def test_openai_request_tools_schema_and_effort(replay):
    request = full_request(tools=[TOOL], output_schema=SCHEMA, thinking=Thinking(20000))
    seen = await _sent(replay, "openai", request, "openai_chat_usage.sse")
    body = seen.body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOL.parameters,
                "description": "Weather",
            },
        }
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA.schema},
    }
    assert body["reasoning_effort"] == "high"


async def test_a_400_naming_stream_options_is_retried_once_without_it(replay):
    """Cohere's compatibility API rejects `stream_options`; the request goes out
    again without it, once, and the endpoint remembers."""
    refusal = b'{"message":"invalid request: stream_options is not supported"}'
    replay.reply(Canned(refusal, status=400, content_type="application/json"))
    replay.reply(Canned(fixture("openai_chat_text.sse")))
    replay.reply(Canned(fixture("openai_chat_text.sse")))
    target = endpoint("openai", replay.base_url)
    async with ChatClient(target, timeouts=TIMEOUTS) as client:
        for _ in range(2):
            answer = client.stream(ChatRequest("m", [Message("user", "hi")]))
            async with answer:
                async for _ in answer:
                    pass
            assert answer.state is State.FINISHED
    assert ["stream_options" in seen.body for seen in replay.seen] == [True, False, False]


async def test_a_second_400_is_not_retried(replay):
    refusal = b'{"message":"invalid request: stream_options is not supported"}'
    for _ in range(2):
        replay.reply(Canned(refusal, status=400, content_type="application/json"))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert answer.state is State.FAILED and len(replay.seen) == 2
    assert "stream_options is not supported" in str(error)


@pytest.mark.parametrize(
    ("wire", "reply", "models"),
    [
        ("anthropic", {"data": [{"type": "model", "id": "claude-x"}], "has_more": False}, ["claude-x"]),
        ("ollama", {"models": [{"name": "qwen3:8b", "model": "qwen3:8b"}]}, ["qwen3:8b"]),
        (
            "gemini",
            {
                "models": [
                    {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]},
                    {"name": "models/embedding-001", "supportedGenerationMethods": ["embedContent"]},
                ]
            },
            ["gemini-2.5-flash"],
        ),
        ("responses", {"data": [{"id": "gpt-5-mini"}]}, ["gpt-5-mini"]),
    ],
)  # fmt: skip
async def test_model_lists(replay, wire, reply, models):
    replay.reply(Canned(json.dumps(reply).encode(), content_type="application/json"))
    async with ChatClient(endpoint(wire, base_for(wire, replay)), timeouts=TIMEOUTS) as client:
        assert await client.list_models() == models
    path = replay.seen[-1].path
    expected = {
        "anthropic": "/v1/models",
        "ollama": "/api/tags",
        "gemini": "/v1beta/models?pageSize=1000",
        "responses": "/v1/models",
    }
    assert path == expected[wire]


@pytest.mark.parametrize(
    ("wire", "body", "said"),
    [
        (
            "anthropic",
            {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
            "invalid x-api-key",
        ),
        ("ollama", {"error": "model 'x' not found"}, "model 'x' not found"),
        (
            "gemini",
            {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}},
            "API key not valid.",
        ),
    ],
)  # fmt: skip
async def test_status_errors_quote_the_provider(replay, wire, body, said):
    replay.reply(Canned(json.dumps(body).encode(), status=401, content_type="application/json"))
    answer, _, error = await stream(endpoint(wire, base_for(wire, replay)))
    assert answer.state is State.FAILED and said in str(error)


async def test_non_streaming_replies_of_every_format(replay):
    bodies = {
        "anthropic": {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 9},
        },
        "responses": {
            "status": "completed",
            "output": [
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}]},
                {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
                {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": '{"a": 1}'},
            ],
            "usage": {"input_tokens": 3, "output_tokens": 9},
        },
        "ollama": {
            "message": {
                "role": "assistant",
                "content": "Hi",
                "thinking": "hmm",
                "tool_calls": [{"id": "toolu_1", "function": {"name": "f", "arguments": {"a": 1}}}],
            },
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 3,
            "eval_count": 9,
        },
        "gemini": {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": "hmm", "thought": True},
                            {"text": "Hi"},
                            {"functionCall": {"id": "toolu_1", "name": "f", "args": {"a": 1}}},
                        ]
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9},
        },
    }  # fmt: skip
    for wire, body in bodies.items():
        replay.reply(Canned(json.dumps(body).encode(), content_type="application/json"))
        request = ChatRequest("m", [Message("user", "hi")], stream=False)
        answer, events, error = await stream(endpoint(wire, base_for(wire, replay)), request)
        message = answer.message
        assert error is None, (wire, error)
        assert (message.text, message.reasoning) == ("Hi", "hmm"), wire
        assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
            ("toolu_1", "f", {"a": 1})
        ], wire
        assert message.finish_reason == "tool_calls", wire
        assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 9), wire
        assert any(isinstance(e, ToolCallDelta) for e in events)
    assert "streamGenerateContent" not in replay.seen[-1].path
