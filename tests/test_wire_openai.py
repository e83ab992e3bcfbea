"""OpenAI-style streams, byte for byte, through the real client over a socket."""

from __future__ import annotations

import asyncio

import pytest

from tests.replay import Canned, fixture
from tokentide.client.accumulate import arguments_so_far
from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import Finished, Message, Started, TextDelta, ToolCallDelta
from tokentide.client.request import ChatRequest
from tokentide.client.stream import AnswerStream, ChatClient, State

TEST_TIMEOUTS = Timeouts(connect=2, read=2)


def endpoint(url: str, key: str | None = None) -> Endpoint:
    return Endpoint("openai", "openai", url, "m", api_key=key, key_env="OPENAI_API_KEY")


async def collect(
    url: str,
    *,
    key: str | None = None,
    target: Endpoint | None = None,
    timeouts: Timeouts = TEST_TIMEOUTS,
    retries: int = 0,
    **request,
) -> tuple[AnswerStream, list, ApiError | None]:
    """Stream one answer to its end; the answer is returned even when it failed.

    One request per answer by default: a refusal is the error under test, not
    a reason to send again (tests/test_retries.py covers that).
    """
    events: list = []
    error = None
    client = ChatClient(target or endpoint(url, key), timeouts=timeouts, retries=retries)
    async with client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")], **request))
        try:
            async with answer:
                async for event in answer:
                    events.append(event)
        except ApiError as exc:
            error = exc
    return answer, events, error


async def run(url: str, **kw) -> tuple[AnswerStream, list]:
    answer, events, error = await collect(url, **kw)
    if error is not None:
        raise error
    return answer, events


async def run_failing(url: str, **kw) -> tuple[AnswerStream, ApiError]:
    answer, _, error = await collect(url, **kw)
    assert error is not None, "expected the stream to fail"
    return answer, error


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
async def test_text_reconstructs_at_any_chunk_size(replay, chunk_size):
    replay.reply(Canned(fixture("openai_chat_text.sse"), chunk_size=chunk_size))
    answer, events = await run(replay.base_url)
    assert answer.message.text == "Hello! Here’s a café ☕:\n- one\n- two 😀"
    assert answer.message.finish_reason == "stop"
    assert isinstance(events[0], Started) and events[0].status == 200
    assert isinstance(events[-1], Finished)
    assert answer.message.usage is None
    assert answer.metrics().estimated is True


async def test_request_shape(replay):
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    await run(replay.base_url, key="sk-test-123", system="be brief", max_tokens=50, temperature=0.2)
    seen = replay.seen[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer sk-test-123"
    assert seen.headers["accept"] == "text/event-stream"
    assert seen.body["stream"] is True
    assert seen.body["stream_options"] == {"include_usage": True}
    assert seen.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert seen.body["max_tokens"] == 50 and seen.body["temperature"] == 0.2


async def test_usage_chunk_with_empty_choices(replay):
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, _ = await run(replay.base_url)
    assert answer.message.text == "The capital of France is Paris."
    usage = answer.message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (14, 7, 0)
    metrics = answer.metrics()
    assert metrics.tokens_received == 7 and metrics.estimated is False


async def test_tool_call_fragments_accumulate_by_index(replay):
    replay.reply(Canned(fixture("openai_chat_tool_calls.sse"), chunk_size=5))
    answer, events = await run(replay.base_url)
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(fragments) == 11  # 2 openers + 6 + 3 argument pieces
    calls = answer.message.tool_calls
    assert [c.id for c in calls] == [
        "call_7kQmZr0V3nXcT1bL9aPyW2sE",
        "call_Hh2Ww9nLq4Zs8Xc1Vb6Mk3Rt",
    ]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert calls[0].arguments_raw == '{"city": "Paris", "unit": "celsius"}'
    assert calls[0].arguments == {"city": "Paris", "unit": "celsius"}
    assert calls[1].arguments == {"tz": "Europe/Paris"}
    assert all(c.complete and c.parse_error is None for c in calls)
    assert answer.message.finish_reason == "tool_calls"
    assert answer.message.text == ""


async def test_tool_call_arguments_parse_partially_while_streaming(replay):
    replay.reply(Canned(fixture("openai_chat_tool_calls.sse")))
    snapshots = []
    async with ChatClient(endpoint(replay.base_url)) as client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")]))
        async with answer:
            async for event in answer:
                if isinstance(event, ToolCallDelta) and event.index == 0 and event.arguments:
                    snapshots.append(arguments_so_far(answer.message.tool_calls[0]))
    # trailing-strings mode: a growing string value shows before it is complete
    assert snapshots == [
        {},
        {},
        {"city": "Paris"},
        {"city": "Paris"},
        {"city": "Paris", "unit": "c"},
        {"city": "Paris", "unit": "celsius"},
    ]


@pytest.mark.parametrize(
    ("name", "reasoning", "text", "usage"),
    [
        (
            "openai_compat_deepseek_reasoning.sse",
            "9.11 vs 9.8: compare tenths, 1 < 8.",
            "9.8 is greater.",
            (18, 24, 17),
        ),
        ("vllm_chat_continuous_usage.sse", "Greeting requested.", "Hi there!", (12, 8, None)),
        ("llamacpp_chat_timings.sse", "Simple greeting.", "Hello world", (11, 9, None)),
        (
            "ollama_openai_reasoning.sse",
            "The user wants a greeting.",
            "Hello! How can I help?",
            (18, 12, None),
        ),
    ],
)
async def test_reasoning_both_field_names_and_keepalives(replay, name, reasoning, text, usage):
    replay.reply(Canned(fixture(name), chunk_size=3))
    answer, _ = await run(replay.base_url)
    assert answer.message.reasoning == reasoning
    assert answer.message.text == text
    got = answer.message.usage
    assert (got.input_tokens, got.output_tokens, got.reasoning_tokens) == usage
    assert answer.message.finish_reason == "stop"


async def test_error_object_mid_stream_keeps_partial_text(replay):
    replay.reply(Canned(fixture("openai_chat_error_midstream.sse")))
    answer, error = await run_failing(replay.base_url)
    assert answer.message.text == "Once upon a time"
    assert "server_error" in str(error)
    assert "The server had an error while processing your request" in str(error)
    assert answer.message.error == str(error)
    assert answer.message.cancelled is False
    assert "\n" not in str(error)


async def test_eof_without_done_or_finish_is_cut_off(replay):
    body = fixture("openai_chat_text.sse")
    cut = body.split(b"\n\n")[:5]
    replay.reply(Canned(b"\n\n".join(cut) + b"\n\n"))
    answer, error = await run_failing(replay.base_url)
    assert "the answer was cut off: the stream ended with no finish reason" in str(error)
    assert answer.message.text.startswith("Hello") and answer.state is State.CUT_OFF


async def test_done_without_finish_reason_is_cut_off(replay):
    """llama-cpp-python preempts a running answer with a bare [DONE]."""
    body = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n'
    replay.reply(Canned(body))
    answer, error = await run_failing(replay.base_url)
    assert answer.message.text == "Hi" and answer.message.interrupted
    assert "with [DONE] but no finish reason" in str(error)
    assert answer.message.finish_reason is None and answer.state is State.CUT_OFF


async def test_empty_200_body_is_a_clear_error(replay):
    replay.reply(Canned(b""))
    with pytest.raises(ApiError, match="sent no events at all"):
        await run(replay.base_url)


async def test_crlf_and_comments(replay):
    body = (
        b": keep-alive\r\n\r\n"
        b'data: {"choices":[{"index":0,"delta":{"content":"a\\r\\nb"}}]}\r\n\r\n'
        b": ping\r\n\r\n"
        b'data: {"choices":[{"index":0,"delta":{"content":" c"},"finish_reason":"stop"}]}\r\n\r\n'
        b"data: [DONE]\r\n\r\n"
    )
    replay.reply(Canned(body, chunk_size=1))
    answer, events = await run(replay.base_url)
    assert answer.message.text == "a\r\nb c"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a\r\nb", " c"]


async def test_html_502_becomes_one_clear_line(replay):
    html = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )
    replay.reply(Canned(html, status=502, content_type="text/html"))
    with pytest.raises(ApiError) as info:
        await run(replay.base_url)
    error = info.value
    assert error.status == 502 and error.kind == "server"
    assert str(error).startswith("HTTP 502")
    assert "502 Bad Gateway" in str(error) and "<" not in str(error)
    assert "retry" in str(error)


async def test_200_html_instead_of_event_stream(replay):
    replay.reply(
        Canned(b"<html><body><p>Login required</p></body></html>", content_type="text/html")
    )
    with pytest.raises(ApiError) as info:
        await run(replay.base_url)
    assert "expected an event stream but got text/html" in str(info.value)
    assert "Login required" in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "kind", "fix"),
    [
        (
            401,
            b'{"error":{"message":"Incorrect API key provided: sk-...abcd.","type":"invalid_request_error","code":"invalid_api_key"}}',
            "auth",
            "OPENAI_API_KEY",
        ),
        (
            404,
            b'{"error":{"message":"The model `m` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}',
            "not_found",
            "model name 'm'",
        ),
        (
            429,
            b'{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota"}}',
            "rate_limit",
            "out of quota",
        ),
        (500, b"Internal Server Error", "server", "retry"),
        (400, b'{"error":"model \'x\' not found"}', "bad_request", None),
    ],
)
async def test_status_errors(replay, status, body, kind, fix):
    content_type = "application/json" if body.startswith(b"{") else "text/plain"
    replay.reply(Canned(body, status=status, content_type=content_type))
    with pytest.raises(ApiError) as info:
        await run(replay.base_url, key="sk-x")
    error = info.value
    assert error.kind == kind and error.status == status
    assert str(error).startswith(f"HTTP {status}")
    if fix:
        assert fix in str(error)
    if body.startswith(b"{"):
        assert error.message.split(": ", 1)[1] in body.decode().replace('\\"', '"')


async def test_connection_refused_names_the_base_url():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ApiError) as info:
        await run(url)
    assert info.value.kind == "connect"
    assert url in str(info.value) and "connection refused" in str(info.value)
    assert "base URL is right" in str(info.value)


async def test_read_timeout_between_events(replay):
    body = b'data: {"choices":[{"index":0,"delta":{"content":"slow"}}]}\n\n' * 3
    replay.reply(Canned(body, chunk_size=len(body) // 3, delay=1.0))
    answer, error = await run_failing(replay.base_url, timeouts=Timeouts(connect=2, read=0.3))
    assert "sent nothing for 0.3 s" in str(error)
    assert answer.message.text == "slow"
    assert answer.error.kind == "timeout"


async def test_non_streaming_response(replay):
    body = (
        b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
        b'"content":"Paris.","reasoning_content":"easy"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}'
    )
    replay.reply(Canned(body, content_type="application/json"))
    answer, _ = await run(replay.base_url, stream=False)
    assert replay.seen[0].body["stream"] is False
    assert "stream_options" not in replay.seen[0].body
    assert answer.message.text == "Paris." and answer.message.reasoning == "easy"
    assert answer.message.usage.output_tokens == 2
    assert answer.message.finish_reason == "stop"


async def test_invalid_tool_arguments_keep_raw_text(replay):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function",'
        b'"function":{"name":"f","arguments":"{\\"a\\": \\"line\\u0001x\\"}"}}]}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function",'
        b'"function":{"name":"g","arguments":"{\\"cut\\": \\"off"}}]},"finish_reason":"tool_calls"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _ = await run(replay.base_url)
    first, second = answer.message.tool_calls
    assert first.arguments == {"a": "line\x01x"}
    assert second.arguments_raw == '{"cut": "off'
    assert second.arguments is None  # no guess passed off as the call's arguments
    assert second.parse_error and "not valid JSON" in second.parse_error


@pytest.mark.parametrize(
    "chunk",
    [
        b'{"choices":[{"index":0,"delta":"hi"}]}',
        b'{"choices":[{"index":0,"delta":{"tool_calls":[null]}}]}',
        b'{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":"x"}]}}]}',
        b'{"choices":"nope"}',
    ],
)
async def test_odd_chunks_are_tolerated(replay, chunk):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
        b"data: " + chunk + b"\n\n"
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":"3","completion_tokens":"12"}}\n\n'
        b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _ = await run(replay.base_url)
    assert answer.message.text == "ok" and answer.message.finish_reason == "stop"
    assert not answer.message.cancelled and answer.message.error is None
    assert answer.message.usage.output_tokens is None  # a string is not a count
    assert answer.metrics().estimated


async def test_a_bug_while_reading_is_an_error_not_a_stop(replay, monkeypatch):
    from tokentide.client.providers import openai_chat

    def broken(self, event, data):
        raise KeyError("surprise")

    monkeypatch.setattr(openai_chat.OpenAIChatParser, "feed", broken)
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, error = await run_failing(replay.base_url)
    assert "unexpected data from the server" in str(error)
    assert answer.message.error and not answer.message.cancelled


async def test_cancel_while_draining_after_done_is_not_a_stop(replay):
    body = fixture("openai_chat_usage.sse") + b": trailing junk\n\n" * 50
    replay.reply(Canned(body, chunk_size=len(fixture("openai_chat_usage.sse")), delay=0.5))
    async with ChatClient(endpoint(replay.base_url)) as client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")]))

        async def consume() -> None:
            async with answer:
                async for _ in answer:
                    pass

        task = asyncio.create_task(consume())
        while answer.state is not State.FINISHED:  # Finished has been seen: the drain is running
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert answer.message.finish_reason == "stop"
    assert not answer.message.cancelled and answer.metrics().tokens_saved is None


async def test_same_index_with_a_new_id_is_a_new_call(replay):
    def call(id_: str, args: str) -> bytes:
        return (
            b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"'
            + id_.encode()
            + b'","function":{"name":"f","arguments":"'
            + args.encode()
            + b'"}}]}}]}\n\n'
        )

    body = (
        call("c1", '{\\"x\\":1}')
        + call("c2", '{\\"y\\":2}')
        + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
        + b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _ = await run(replay.base_url)
    assert [(c.id, c.arguments) for c in answer.message.tool_calls] == [
        ("c1", {"x": 1}),
        ("c2", {"y": 2}),
    ]
    assert len({c.index for c in answer.message.tool_calls}) == 2


async def test_a_buffered_burst_has_no_rate_and_hidden_reasoning_does_not_inflate_it(replay):
    # Everything arrives in one read (a buffering proxy); usage counts 1,500
    # tokens of which 1,497 were reasoning that was never streamed.
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1500,'
        b'"completion_tokens_details":{"reasoning_tokens":1497}}}\n\n'
        b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body, chunk_size=len(body)))
    answer, _ = await run(replay.base_url)
    metrics = answer.metrics()
    assert metrics.tokens_received == 1500 and not metrics.estimated
    assert metrics.tokens_per_s is None


async def test_non_streaming_has_no_ttft(replay):
    body = b'{"choices":[{"index":0,"message":{"content":"x"},"finish_reason":"stop"}]}'
    replay.reply(Canned(body, content_type="application/json"))
    answer, _ = await run(replay.base_url, stream=False)
    metrics = answer.metrics()
    assert metrics.ttft_ms is None and metrics.tokens_per_s is None and metrics.total_ms > 0


async def test_200_json_error_body_without_stream(replay):
    body = b'{"error":{"message":"model overloaded","type":"server_error"}}'
    replay.reply(Canned(body, content_type="application/json"))
    with pytest.raises(ApiError) as info:
        await run(replay.base_url, stream=False)
    assert str(info.value) == "the server reported an error (server_error): model overloaded"


async def test_429_says_when_to_retry(replay):
    body = b'{"error":{"message":"Rate limit reached for requests","type":"requests"}}'
    replay.reply(
        Canned(body, status=429, content_type="application/json", headers={"retry-after": "7"})
    )
    with pytest.raises(ApiError, match="retry in 7 s"):
        await run(replay.base_url)


async def test_the_key_never_appears_in_an_error():
    """Even a key that config validation would refuse (set up directly here)."""
    bad = Endpoint("openai", "openai", "http://127.0.0.1:9/v1", "m", api_key="sk-secret\nX")
    answer, error = await run_failing(bad.base_url, target=bad)
    assert "secret" not in str(error) and "secret" not in (answer.message.error or "")


async def test_long_single_token_deltas_count_once(replay):
    words = [" understanding", " performance", " international", " configuration", " a"]
    body = b"".join(
        b'data: {"choices":[{"index":0,"delta":{"content":"' + w.encode() + b'"}}]}\n\n'
        for w in words
    )
    body += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    merged = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * 40 + b'"}}]}\n\n'
    replay.reply(Canned(body))
    replay.reply(Canned(merged + body))
    answer, _ = await run(replay.base_url)
    assert answer.metrics().tokens_received == 5 and answer.metrics().estimated
    answer, _ = await run(replay.base_url)
    assert answer.metrics().tokens_received == 5 + 10  # a 40-character delta was merged
