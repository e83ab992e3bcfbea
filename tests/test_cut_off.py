"""A stream that ends before its answer did is cut off: a state of its own.

Not finished (the answer is incomplete), not stopped (nobody chose it, so no
tokens count as saved), not a plain failure (what arrived is kept, sent back
as context, and stored as interrupted). Each wire format's way of ending is
checked over a real socket; so is a server that says the answer is over and
then never sends its end marker.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.cli import clean_env, tokentide
from tests.replay import Canned
from tokentide.client import stream as stream_module
from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import Message
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State
from tokentide.tui.store import Store


def sse(*payloads: object, names: tuple[str, ...] = ()) -> bytes:
    out = []
    for i, payload in enumerate(payloads):
        data = payload if isinstance(payload, str) else json.dumps(payload)
        name = f"event: {names[i]}\n" if names else ""
        out.append(f"{name}data: {data}\n\n")
    return "".join(out).encode()


def chat_chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


HELLO = [chat_chunk("Hel"), chat_chunk("lo")]

# wire, base URL suffix, content type, a body that stops short, how the error says it ended
CUT_SHORT = {
    "openai-eof": ("openai", "/v1", "text/event-stream", sse(*HELLO), "with no finish reason"),
    "openai-done": (
        "openai",
        "/v1",
        "text/event-stream",
        sse(*HELLO, "[DONE]"),
        "with [DONE] but no finish reason",
    ),
    "anthropic": (
        "anthropic",
        "",
        "text/event-stream",
        sse(
            {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo"},
            },
            names=(
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
            ),
        ),
        "with no stop reason and no message_stop",
    ),
    "responses-done": (
        "responses",
        "/v1",
        "text/event-stream",
        sse(
            {"type": "response.output_text.delta", "delta": "Hel"},
            {"type": "response.output_text.delta", "delta": "lo"},
            "[DONE]",
        ),
        "with no response.completed",
    ),
    "ollama": (
        "ollama",
        "",
        "application/x-ndjson",
        b'{"message":{"role":"assistant","content":"Hel"},"done":false}\n'
        b'{"message":{"role":"assistant","content":"lo"},"done":false}\n',
        "with no done line",
    ),
    "gemini": (
        "gemini",
        "",
        "text/event-stream",
        sse(
            {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]},
            {"candidates": [{"content": {"parts": [{"text": "lo"}]}}]},
        ),
        "with no finishReason",
    ),
}


def endpoint(wire: str, base_url: str) -> Endpoint:
    return Endpoint(wire, wire, base_url, "m")


async def stream_one(target: Endpoint, timeouts: Timeouts | None = None):
    client = ChatClient(target, timeouts=timeouts or Timeouts(connect=2, read=5), retries=0)
    async with client, client.stream(ChatRequest("m", [Message("user", "hi")])) as answer:
        error = None
        try:
            async for _ in answer:
                pass
        except ApiError as exc:
            error = exc
        return answer, error


def host(replay) -> str:
    return replay.base_url.removesuffix("/v1")


@pytest.mark.parametrize("case", sorted(CUT_SHORT))
async def test_a_stream_that_ends_short_is_cut_off_with_what_arrived(replay, case):
    wire, suffix, content_type, body, how = CUT_SHORT[case]
    replay.reply(Canned(body, content_type=content_type))
    answer, error = await stream_one(endpoint(wire, host(replay) + suffix))
    assert answer.state is State.CUT_OFF
    assert error is not None and error.kind == "cut_off"
    assert str(error).startswith(f"the answer was cut off: the stream ended {how} — ")
    message = answer.message
    assert message.text == "Hello" and message.interrupted and not message.cancelled
    assert message.error == str(error)
    assert answer.metrics().tokens_saved is None  # not a stop anyone chose


async def test_a_connection_that_breaks_mid_answer_cuts_it_off(replay):
    replay.reply(Canned(sse(*HELLO), close_early=True))
    answer, error = await stream_one(endpoint("openai", replay.base_url))
    assert answer.state is State.CUT_OFF and answer.message.text == "Hello"
    assert error is not None and error.kind == "cut_off"
    assert "when the connection broke" in str(error)


async def test_a_connection_that_breaks_before_the_answer_is_a_failure(replay):
    replay.reply(Canned(b"", close_early=True))
    answer, error = await stream_one(endpoint("openai", replay.base_url))
    assert error is not None and answer.state is State.FAILED and not answer.message.interrupted


@pytest.mark.parametrize(
    ("wire", "suffix", "body"),
    [
        ("openai", "/v1", sse(*HELLO, chat_chunk(finish="stop"))),
        (
            "anthropic",
            "",
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hello"},
                },
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 2},
                },
            ),
        ),
        (
            "gemini",
            "",
            sse(
                {
                    "candidates": [
                        {"content": {"parts": [{"text": "Hello"}]}, "finishReason": "STOP"}
                    ]
                }
            ),
        ),
    ],
)
async def test_after_the_finish_reason_the_end_marker_gets_a_short_wait(
    replay, monkeypatch, wire, suffix, body
):
    """The server says the answer is over, then holds the connection open
    without its end marker: finished after the grace, not the read timeout."""
    monkeypatch.setattr(stream_module, "FINISH_GRACE", 0.2)
    replay.reply(Canned(body, hold=True))
    started = time.perf_counter()
    answer, error = await stream_one(endpoint(wire, host(replay) + suffix), Timeouts(2, 30))
    took = time.perf_counter() - started
    assert error is None and answer.state is State.FINISHED
    assert answer.message.text == "Hello" and answer.message.finish_reason in ("stop", "tool_calls")
    assert took < 10, f"waited {took:.1f} s: the read timeout, not the grace"


def test_ask_exits_1_with_one_line_and_the_history_keeps_it_interrupted(replay, tmp_path):
    replay.reply(Canned(sse(*HELLO, "[DONE]")))
    replay.reply(Canned(sse(*HELLO)))
    env = clean_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "xdg-data"))
    args = ("ask", "--base-url", replay.base_url, "--model", "m", "--raw")
    plain = tokentide(*args, "hi", env=env)
    assert plain.returncode == 1 and plain.stdout == "Hello"
    (line,) = plain.stderr.splitlines()
    assert line.startswith(
        "tokentide: error: the answer was cut off: the stream ended with [DONE] but no"
    )

    as_json = tokentide(*args, "--json", "hi", env=env)
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["interrupted"] is True and body["cancelled"] is False
    assert body["text"] == "Hello" and body["finish_reason"] is None
    assert body["error"].startswith("the answer was cut off: the stream ended with no finish")
    assert body["tokens_saved"] is None

    with Store.open() as store:
        answers = [
            m for c in store.conversations() for m in store.messages(c.id) if m.role == "assistant"
        ]
    assert [(a.outcome, a.text) for a in answers] == [("interrupted", "Hello")] * 2
    assert all(a.error and "cut off" in a.error for a in answers)


async def test_a_read_timeout_shorter_than_the_grace_still_finishes(replay):
    replay.reply(Canned(sse(*HELLO, chat_chunk(finish="stop")), hold=True))
    answer, error = await stream_one(endpoint("openai", replay.base_url), Timeouts(2, 0.3))
    assert error is None and answer.state is State.FINISHED and answer.message.text == "Hello"


async def test_anthropic_message_stop_without_a_stop_reason_is_cut_off(replay):
    body = sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "message_stop"},
    )
    replay.reply(Canned(body))
    answer, error = await stream_one(endpoint("anthropic", host(replay)))
    assert answer.state is State.CUT_OFF and answer.message.text == "Hi"
    assert "with message_stop but no stop reason" in str(error)
