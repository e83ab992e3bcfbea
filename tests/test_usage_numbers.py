"""Token counts from a server are untrusted: a bad one is estimated instead.

NaN, Infinity, 1e400, 10**30, a negative, a fraction, a string or a list in
a usage report is no count. On every wire it is ignored, the count is
estimated from the stream and labelled so (`estimated`, the `~`), and the
answer it came with is delivered: never an OverflowError, never a failure
blamed on the server's format. Served over loopback by the replay server,
read by the library and by `ask --json`.
"""

from __future__ import annotations

import json

import pytest

from tests.cli import clean_env, tokentide
from tests.replay import Canned
from tests.test_wire_attacks import ndjson, sse
from tests.test_wire_formats import base_for, endpoint, host, stream
from tokentide.client.stream import State

WIRES = ["openai", "anthropic", "responses", "ollama", "gemini"]
NOT_COUNTS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "1" + "0" * 30,
    "1000000001",
    "-5",
    "2.5",
    '"12"',
    "[3]",
    "{}",
    "true",
]
"""As JSON text: each is what a server might put where a token count goes."""


def reported(wire: str, n: str) -> bytes:
    """The answer "Hi", finished, with `n` for every token count it reports."""
    if wire == "openai":
        return (
            b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            + f'data: {{"choices":[],"usage":{{"prompt_tokens":{n},"completion_tokens":{n},'
            f'"completion_tokens_details":{{"reasoning_tokens":{n}}}}}}}\n\n'.encode()
            + b"data: [DONE]\n\n"
        )
    if wire == "anthropic":
        return sse(
            f'{{"type":"message_start","message":{{"usage":{{"input_tokens":{n},'
            f'"cache_read_input_tokens":{n}}}}}}}',
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


def serve(replay, wire: str, body: bytes) -> None:
    content_type = "application/x-ndjson" if wire == "ollama" else "text/event-stream"
    replay.reply(Canned(body, content_type=content_type))


@pytest.mark.parametrize("n", NOT_COUNTS)
@pytest.mark.parametrize("wire", WIRES)
async def test_a_count_that_is_not_a_count_is_estimated_and_the_answer_delivered(replay, wire, n):
    serve(replay, wire, reported(wire, n))
    answer, _, error = await stream(endpoint(wire, base_for(wire, replay)))
    assert error is None and answer.state is State.FINISHED
    assert answer.message.text == "Hi" and answer.message.finish_reason == "stop"
    usage = answer.message.usage
    assert usage is None or usage == type(usage)(None, None, None), usage
    metrics = answer.metrics()
    assert metrics.estimated is True and metrics.tokens_received == 1  # one delta


@pytest.mark.parametrize("wire", WIRES)
async def test_a_count_of_a_billion_is_still_the_servers(replay, wire):
    """The line is drawn above 10**9: the largest count believed is kept."""
    serve(replay, wire, reported(wire, "1000000000"))
    answer, _, error = await stream(endpoint(wire, base_for(wire, replay)))
    assert error is None
    metrics = answer.metrics()
    assert metrics.estimated is False and metrics.tokens_received >= 10**9


@pytest.mark.parametrize("usage", ['"lots"', "[1, 2]", "null", "1e400"])
async def test_a_usage_that_is_not_an_object_is_ignored(replay, usage):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n'
        + f'data: {{"choices":[],"usage":{usage}}}\n\n'.encode()
        + b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is None and answer.state is State.FINISHED and answer.metrics().estimated


async def test_a_good_count_then_a_bad_one_keeps_the_good_one(replay):
    """Usage is cumulative; a later report that is garbage takes nothing back."""
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":NaN,"completion_tokens":1e400}}\n\n'
        b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is None
    assert answer.message.usage is not None and answer.message.usage.input_tokens == 3
    assert answer.metrics().tokens_received == 1 and not answer.metrics().estimated


# -- ask --json: exit 0, usage.estimated ---------------------------------------------

CLI_CASES = [
    (wire, n)
    for i, wire in enumerate(WIRES)
    for n in (NOT_COUNTS[i % 6], NOT_COUNTS[6 + i % 6])  # every value, over the wires
]


@pytest.mark.parametrize(("wire", "n"), CLI_CASES)
def test_ask_json_delivers_the_answer_with_an_estimated_count(replay, tmp_path, wire, n):
    serve(replay, wire, reported(wire, n))
    base = replay.base_url if wire in ("openai", "responses") else host(replay)
    result = tokentide(
        "ask", "--no-log", "--json", "--provider", wire, "--base-url", base, "--model", "m", "hi",
        env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    body = json.loads(result.stdout)
    assert body["text"] == "Hi" and body["error"] is None and body["finish_reason"] == "stop"
    assert body["usage"] == {
        "input_tokens": None,
        "output_tokens": 1,
        "reasoning_tokens": None,
        "estimated": True,
    }
    assert body["metrics"]["estimated"] is True


def test_ask_stats_marks_an_estimated_count(replay, tmp_path):
    serve(replay, "openai", reported("openai", "1e400"))
    result = tokentide(
        "ask", "--no-log", "--stats", "--provider", "openai", "--base-url", replay.base_url,
        "--model", "m", "hi", env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi" and "1 token (estimated: " in result.stderr
