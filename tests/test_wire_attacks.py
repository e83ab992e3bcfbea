"""Hostile but plausible server output, and requests at the edge of each API.

Each stream is served over loopback, in small pieces, to the real client.
What must hold whatever a server sends: a delivered answer is never lost to
a bad number or an odd shape, an error says what the server said, a secret
never comes back out, and each request is one the provider accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import clean_env, tokentide
from tests.replay import Canned
from tests.test_wire_formats import base_for, endpoint, host, stream
from tokentide.client.accumulate import parse_final
from tokentide.client.errors import ConfigError
from tokentide.client.events import Message
from tokentide.client.request import ChatRequest, OutputSchema, Thinking, Tool
from tokentide.client.stream import State
from tokentide.tui import request_options

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
JSON = "application/json"
KEY = "sk-attack-0123456789abcdef"


def sse(*events: Any) -> bytes:
    """SSE frames; a str is sent as the data line verbatim (for NaN and the like)."""
    frames = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        name = json.loads(data.replace("NaN", "0").replace("Infinity", "0")).get("type", "x")
        frames.append(f"event: {name}\ndata: {data}\n\n")
    return "".join(frames).encode()


def ndjson(*lines: Any) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


async def answer_to(replay, wire: str, body: bytes, request: ChatRequest | None = None, **kw):
    content_type = kw.pop("content_type", NDJSON if wire == "ollama" else SSE)
    replay.reply(Canned(body, content_type=content_type, **kw))
    target = endpoint(wire, base_for(wire, replay), key=KEY)
    answer, _, error = await stream(target, request)
    return answer, error


def hi(**kw: Any) -> ChatRequest:
    return ChatRequest("m", [Message("user", "hi")], **kw)


# -- numbers -------------------------------------------------------------------


def counted(wire: str, n: str) -> bytes:
    """A short answer whose every token count is `n`, written as JSON text."""
    if wire == "anthropic":
        return sse(
            f'{{"type":"message_start","message":{{"usage":{{"input_tokens":{n}}}}}}}',
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "content_block_stop", "index": 0},
            f'{{"type":"message_delta","delta":{{"stop_reason":"end_turn"}},'
            f'"usage":{{"output_tokens":{n},"output_tokens_details":{{"thinking_tokens":{n}}}}}}}',
            {"type": "message_stop"},
        )  # fmt: skip
    if wire == "responses":
        return sse(
            {"type": "response.output_text.delta", "output_index": 0, "delta": "Hi"},
            f'{{"type":"response.completed","response":{{"status":"completed","usage":'
            f'{{"input_tokens":{n},"output_tokens":{n},'
            f'"output_tokens_details":{{"reasoning_tokens":{n}}}}}}}}}',
        )
    if wire == "ollama":
        return ndjson(
            {"message": {"role": "assistant", "content": "Hi"}, "done": False},
            f'{{"done":true,"done_reason":"stop","prompt_eval_count":{n},"eval_count":{n}}}',
        )
    return sse(
        f'{{"candidates":[{{"content":{{"parts":[{{"text":"Hi"}}]}},"finishReason":"STOP"}}],'
        f'"usageMetadata":{{"promptTokenCount":{n},"candidatesTokenCount":{n},'
        f'"thoughtsTokenCount":{n}}}}}'
    )


NOT_COUNTS = ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 30, "-3", "2.5"]


@pytest.mark.parametrize("n", NOT_COUNTS)
@pytest.mark.parametrize("wire", ["anthropic", "responses", "ollama", "gemini"])
async def test_a_token_count_that_is_not_a_count_is_ignored_and_the_answer_finishes(
    replay, wire, n
):
    """Python reads NaN, Infinity and integers of any size as JSON; none is a
    token count, and none may turn a finished answer into a failed one (nor
    overflow the history's integer columns later)."""
    answer, error = await answer_to(replay, wire, counted(wire, n))
    assert error is None and answer.state is State.FINISHED
    assert answer.message.text == "Hi" and answer.message.finish_reason == "stop"
    usage = answer.message.usage
    assert usage is None or (usage.input_tokens, usage.reasoning_tokens) == (None, None)
    assert usage is None or usage.output_tokens is None


def test_ask_keeps_and_records_an_answer_whose_server_reports_an_absurd_count(replay, tmp_path):
    replay.reply(Canned(counted("anthropic", "1" + "0" * 30)))
    result = tokentide(
        "ask", "--provider", "anthropic", "--base-url", host(replay), "--model", "m", "hi",
        env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi" and "Traceback" not in result.stderr


# -- JSON deeper than the stack --------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000


def test_arguments_nested_deeper_than_the_stack_are_an_error_not_a_crash():
    _, error = parse_final(DEEP)
    assert error is not None and "not valid JSON" in error


async def test_deeply_nested_tool_arguments_keep_the_finished_answer(replay):
    body = sse(
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": DEEP}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )  # fmt: skip
    answer, error = await answer_to(replay, "anthropic", body)
    assert error is None and answer.state is State.FINISHED
    [call] = answer.message.tool_calls
    assert call.arguments_raw == DEEP and call.parse_error is not None


# -- Responses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (
            # What OpenAI sends (the documented shape is flat, and also read).
            {"type": "error", "sequence_number": 2, "error": {
                "type": "too_many_requests", "code": "too_many_requests",
                "message": "Too Many Requests", "param": None}},
            "(too_many_requests): Too Many Requests",
        ),
        (
            {"type": "error", "sequence_number": 2, "error": {
                "type": "insufficient_quota", "code": "credit_balance_exhausted",
                "message": "You have no credits remaining."}},
            "(credit_balance_exhausted): You have no credits remaining.",
        ),
        ({"type": "error", "error": "upstream went away"}, ": upstream went away"),
    ],
)  # fmt: skip
async def test_a_responses_error_event_in_any_shape_quotes_the_server(replay, event, said):
    body = sse({"type": "response.output_text.delta", "output_index": 0, "delta": "Part"}, event)
    answer, error = await answer_to(replay, "responses", body)
    assert answer.state is State.FAILED and answer.message.text == "Part"
    assert str(error).startswith("the server reported an error mid-stream")
    assert str(error).endswith(said), str(error)
    assert "(error)" not in str(error)


async def test_responses_arguments_sent_by_item_id_join_their_call(replay):
    """A server that leaves `output_index` out of the argument events (it
    names the item instead): the arguments belong to the call that item
    opened, not to a nameless second call."""
    body = sse(
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "reasoning", "id": "rs_1"}},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f",
                  "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"a":'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": " 1}"},
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": '{"a": 1}'},
        {"type": "response.output_item.done",
         "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f",
                  "arguments": '{"a": 1}'}},
        {"type": "response.completed", "response": {"status": "completed"}},
    )  # fmt: skip
    answer, error = await answer_to(replay, "responses", body)
    assert error is None
    calls = [(c.id, c.name, c.arguments) for c in answer.message.tool_calls]
    assert calls == [("call_1", "f", {"a": 1})]
    assert answer.message.finish_reason == "tool_calls"


async def test_responses_tools_are_sent_not_strict(replay):
    """Responses makes a tool strict when `strict` is left out (every
    property required), Chat Completions does not: the same tool file must
    mean the same on both."""
    replay.reply(Canned(sse({"type": "response.completed", "response": {"status": "completed"}})))
    tool = Tool("f", {"type": "object", "properties": {"a": {"type": "string"}}})
    _, _, error = await stream(endpoint("responses", replay.base_url), hi(tools=[tool]))
    assert error is None
    [sent] = replay.seen[-1].body["tools"]
    assert sent["strict"] is False and sent["parameters"] == tool.parameters


# -- Anthropic -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "said"),
    [
        ({"type": "error", "error": "Overloaded"}, ": Overloaded"),
        ({"type": "error", "message": "upstream timeout"}, ": upstream timeout"),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "(overloaded_error): Overloaded",
        ),
    ],
)
async def test_an_anthropic_error_event_in_any_shape_quotes_the_server(replay, event, said):
    body = sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Part"}},
        event,
    )  # fmt: skip
    answer, error = await answer_to(replay, "anthropic", body)
    assert answer.state is State.FAILED and answer.message.text == "Part"
    assert error.message.endswith(said), error.message


def whole_input(name: str) -> bytes:
    """A tool call whose input comes whole in content_block_start, no deltas
    (as the SDK's accumulator allows: it keeps the start's input)."""
    return sse(
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": name,
                           "input": {"city": "Oslo"}}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )  # fmt: skip


async def test_an_anthropic_tool_input_sent_whole_at_block_start_is_kept(replay):
    answer, error = await answer_to(replay, "anthropic", whole_input("get_weather"))
    assert error is None
    calls = [(c.id, c.name, c.arguments) for c in answer.message.tool_calls]
    assert calls == [("toolu_1", "get_weather", {"city": "Oslo"})]


async def test_an_anthropic_structured_answer_finishes_as_stop_not_as_a_tool_call(replay):
    """Structured output rides on a forced tool: its `tool_use` stop is the
    answer's end, as `stop` on every other wire, with no tool call shown."""
    request = hi(output_schema=OutputSchema({"type": "object"}, "answer"))
    answer, error = await answer_to(replay, "anthropic", whole_input("answer"), request)
    message = answer.message
    assert error is None and message.tool_calls == []
    assert json.loads(message.text) == {"city": "Oslo"}
    assert (message.finish_reason, message.native_finish_reason) == ("stop", "tool_use")


@pytest.mark.parametrize(
    ("budget", "max_tokens", "thinking", "sent_max"),
    [
        (500, None, 1024, 1024 + 8192),  # below the API's minimum budget
        (None, 500, 1024, 1024 + 500),  # a limit too small to think within
        (None, 1024, 1024, 1024 + 1024),
        (4096, 3000, 1500, 3000),  # halved: room left to answer
        (2048, 100_000, 2048, 100_000),
    ],
)
async def test_anthropic_thinking_requests_meet_the_api_limits(
    replay, budget, max_tokens, thinking, sent_max
):
    """`budget_tokens` is at least 1024 and below `max_tokens`, and thinking
    takes no temperature but the default: each of these would be a 400."""
    replay.reply(Canned(whole_input("f")))
    request = hi(thinking=Thinking(budget), max_tokens=max_tokens, temperature=0.3)
    _, _, error = await stream(endpoint("anthropic", host(replay)), request)
    assert error is None
    body = replay.seen[-1].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": thinking}
    assert body["max_tokens"] == sent_max and thinking < body["max_tokens"]
    assert "temperature" not in body


async def test_anthropic_temperature_is_sent_without_thinking(replay):
    replay.reply(Canned(whole_input("f")))
    _, _, error = await stream(endpoint("anthropic", host(replay)), hi(temperature=0.3))
    assert error is None and replay.seen[-1].body["temperature"] == 0.3


# -- Ollama and Gemini ---------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", False])
async def test_an_ollama_line_whose_error_is_empty_is_no_error(replay, empty):
    body = ndjson(
        {"message": {"role": "assistant", "content": "Hi"}, "done": False, "error": empty},
        {"done": True, "done_reason": "stop", "eval_count": 1, "error": empty},
    )
    answer, error = await answer_to(replay, "ollama", body)
    assert error is None and answer.state is State.FINISHED and answer.message.text == "Hi"


async def test_an_ollama_error_that_is_not_text_is_still_quoted(replay):
    body = ndjson({"message": {"content": "Hi"}, "done": False}, {"error": 503})
    answer, error = await answer_to(replay, "ollama", body)
    assert answer.message.text == "Hi" and str(error).endswith("mid-stream: 503")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        # Finish reasons Google added after the parser's table was written:
        ({"candidates": [{"finishReason": "TOO_MANY_TOOL_CALLS"}]}, "other"),
        ({"candidates": [{"finishReason": "MALFORMED_RESPONSE"}]}, "other"),
        ({"candidates": [{"finishReason": "stop"}]}, "stop"),
        # A prompt refused outright, for whatever reason:
        ({"promptFeedback": {"blockReason": "OTHER"}}, "content_filter"),
        ({"promptFeedback": {"blockReason": "NEW_KIND_OF_BLOCK"}}, "content_filter"),
        ({"promptFeedback": {"blockReason": "SAFETY"}}, "content_filter"),
    ],
)
async def test_gemini_finish_reasons_unknown_to_us_are_other_and_blocked_prompts_filtered(
    replay, event, reason
):
    answer, error = await answer_to(replay, "gemini", sse(event))
    assert error is None and answer.message.finish_reason == reason


async def test_a_gemini_error_given_as_text_is_quoted_not_taken_for_a_cut(replay):
    body = sse({"candidates": [{"content": {"parts": [{"text": "Part"}]}}]}, {"error": "quota"})
    answer, error = await answer_to(replay, "gemini", body)
    assert answer.message.text == "Part"
    assert error.message == "the server reported an error mid-stream: quota"


async def test_gemini_function_call_arguments_already_encoded_are_kept(replay):
    body = sse(
        {"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "f", "args": '{"a": 1}'}}]}, "finishReason": "STOP"}]}
    )  # fmt: skip
    answer, error = await answer_to(replay, "gemini", body)
    assert error is None and answer.message.tool_calls[0].arguments == {"a": 1}


# -- unstreamed replies ---------------------------------------------------------

WITHOUT_REASON = {
    "anthropic": {
        "type": "message",
        "content": [{"type": "text", "text": "Full answer"}],
        "stop_reason": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    },
    "gemini": {"candidates": [{"content": {"parts": [{"text": "Full answer"}]}}]},
    "ollama": {"message": {"role": "assistant", "content": "Full answer"}},
}


@pytest.mark.parametrize("wire", list(WITHOUT_REASON))
async def test_an_unstreamed_reply_without_a_finish_reason_is_kept(replay, wire):
    """A whole JSON body cannot have been cut off mid-stream: its answer is
    kept, finished without a reason (as Chat Completions does), never
    dropped for a "connection cut" that did not happen."""
    body = json.dumps(WITHOUT_REASON[wire]).encode()
    answer, error = await answer_to(replay, wire, body, hi(stream=False), content_type=JSON)
    assert error is None and answer.state is State.FINISHED
    assert answer.message.text == "Full answer" and answer.message.finish_reason is None


async def test_a_mistral_unstreamed_answer_in_typed_chunks_is_read(replay):
    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "2+2"}]},
                        {"type": "text", "text": "**4**."},
                    ],
                    "tool_calls": [{"id": 7, "function": {"name": None, "arguments": "{}"}}],
                },
                "finish_reason": ["stop"],
            }
        ]
    }
    replay.reply(Canned(json.dumps(body).encode(), content_type=JSON))
    answer, _, error = await stream(endpoint("openai", replay.base_url), hi(stream=False))
    assert error is None and answer.state is State.FINISHED
    assert (answer.message.reasoning, answer.message.text) == ("2+2", "**4**.")
    # A call with no name is no call: dropped, and said once.
    assert answer.message.tool_calls == []
    assert answer.message.warnings == [
        "dropped a tool-call fragment the server never named (2 characters of arguments)"
    ]


# -- secrets ---------------------------------------------------------------------


async def test_a_key_echoed_in_a_tool_call_id_or_a_finish_reason_is_masked(replay):
    body = sse(
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": f"toolu_{KEY}", "name": f"f{KEY}",
                           "input": {}}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": json.dumps({"k": KEY})}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": f"stop {KEY}"}},
        {"type": "message_stop"},
    )  # fmt: skip
    answer, error = await answer_to(replay, "anthropic", body)
    assert error is None
    message = answer.message
    seen = json.dumps([c.to_dict() for c in message.tool_calls]) + str(message.native_finish_reason)
    assert KEY not in seen and KEY[-12:] not in seen
    assert message.tool_calls[0].id.startswith("toolu_")


# -- command-line options --------------------------------------------------------


@pytest.mark.parametrize("digits", ["²", "٣", "1²"])
def test_a_thinking_budget_is_ascii_digits_only(digits):
    """`str.isdigit` takes "²", which `int` refuses: that was a traceback."""
    with pytest.raises(ConfigError, match="is not a budget in tokens"):
        request_options.thinking(digits)
    argv = request_options.optional_value(["ask", "--thinking", digits], "--thinking", "on")
    assert argv == ["ask", "--thinking=on", digits]  # the prompt, then


def test_thinking_before_a_double_dash_or_last_takes_the_default():
    on = request_options.optional_value
    assert on(["ask", "--thinking", "--", "5"], "--thinking", "on") == [
        "ask", "--thinking=on", "--", "5",
    ]  # fmt: skip
    assert on(["ask", "q", "--thinking"], "--thinking", "on") == ["ask", "q", "--thinking=on"]
    assert on(["ask", "--", "--thinking"], "--thinking", "on") == ["ask", "--", "--thinking"]


def write(tmp_path: Path, schema: Any) -> str:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    return str(path)


@pytest.mark.parametrize("kind", ["string", "array", ["object", "null"]])
def test_a_tool_whose_parameters_are_not_an_object_is_refused_before_sending(tmp_path, kind):
    with pytest.raises(ConfigError, match="a tool's parameters are an object"):
        request_options.tool(f"f={write(tmp_path, {'type': kind})}")


def test_a_tool_schema_with_properties_only_is_an_object(tmp_path):
    schema = {"properties": {"city": {"type": "string"}}}
    tool = request_options.tool(f"f={write(tmp_path, schema)}")
    assert tool.parameters == {"type": "object", **schema}


async def test_gemini_usage_without_candidates_token_count_keeps_the_answer_tokens(replay):
    """Each usageMetadata count is cumulative by itself: an event that leaves
    `candidatesTokenCount` out (Google's docs make every count optional) has
    not taken the answer's tokens back."""
    body = sse(
        {"candidates": [{"content": {"parts": [{"text": "why", "thought": True}]}}],
         "usageMetadata": {"promptTokenCount": 9, "thoughtsTokenCount": 20}},
        {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}],
         "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5,
                           "thoughtsTokenCount": 20}},
        {"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 9, "thoughtsTokenCount": 20, "totalTokenCount": 34}},
    )  # fmt: skip
    answer, error = await answer_to(replay, "gemini", body)
    usage = answer.message.usage
    assert error is None and (usage.input_tokens, usage.output_tokens) == (9, 25)
    assert usage.reasoning_tokens == 20
