"""One answer, one lifecycle: pending -> connecting -> streaming -> one ending.

Through the real client over loopback sockets (the replay server).
"""

from __future__ import annotations

import pytest

from tests.replay import Canned, fixture
from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import Message, TextDelta
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State

TEXT = fixture("openai_chat_text.sse")


def client_for(replay) -> ChatClient:
    endpoint = Endpoint("openai", "openai", replay.base_url, "m")
    return ChatClient(endpoint, timeouts=Timeouts(connect=2, read=2), retries=0)


def request() -> ChatRequest:
    return ChatRequest("m", [Message("user", "hi")])


async def test_states_in_order_and_one_ending(replay):
    replay.reply(Canned(TEXT))
    seen: list[State] = []
    async with client_for(replay) as client:
        answer = client.stream(request())
        assert answer.state is State.PENDING and not replay.seen  # nothing sent yet
        async with answer:
            async for _ in answer:
                seen.append(answer.state)
    assert seen[0] is State.STREAMING and seen[-1] is State.FINISHED
    assert answer.state is State.FINISHED and answer.state.ended
    assert not answer.message.cancelled and answer.error is None


async def test_iterating_twice_raises_and_sends_nothing_more(replay):
    replay.reply(Canned(TEXT))
    replay.reply(Canned(TEXT))
    async with client_for(replay) as client:
        answer = client.stream(request())
        async with answer:
            first = [e.text async for e in answer if isinstance(e, TextDelta)]
        with pytest.raises(RuntimeError, match="streams once"):
            async for _ in answer:
                pass
    assert len(replay.seen) == 1
    assert answer.message.text == "".join(first) and answer.state is State.FINISHED


async def test_a_second_iteration_during_the_first_raises_too(replay):
    replay.reply(Canned(TEXT, delay=0.01))
    async with client_for(replay) as client:
        answer = client.stream(request())
        async with answer:
            iterator = aiter(answer)
            await anext(iterator)
            assert answer.state is State.STREAMING
            with pytest.raises(RuntimeError):
                aiter(answer)
    assert len(replay.seen) == 1
    assert answer.state is State.CANCELLED  # left early: a stop, with what arrived


async def test_abort_in_the_loop_thread_stops_after_the_current_event(replay):
    replay.reply(Canned(TEXT, delay=0.01))
    async with client_for(replay) as client:
        answer = client.stream(request())
        async with answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    answer.abort()
        assert answer.state is State.CANCELLED
    assert answer.message.cancelled and answer.error is None
    assert answer.metrics().tokens_saved is not None


async def test_failure_is_settled_once_with_the_error(replay):
    replay.reply(
        Canned(b'{"error":{"message":"nope"}}', status=500, content_type="application/json")
    )
    async with client_for(replay) as client:
        answer = client.stream(request())
        with pytest.raises(ApiError) as info:
            async with answer:
                async for _ in answer:
                    pass
    assert answer.state is State.FAILED and answer.error is info.value
    assert info.value.kind == "server" and info.value.status == 500
    assert answer.message.error == str(info.value) and not answer.message.cancelled


async def test_a_bug_in_the_loop_body_fails_the_answer_as_internal(replay):
    replay.reply(Canned(TEXT))
    async with client_for(replay) as client:
        answer = client.stream(request())
        with pytest.raises(ZeroDivisionError):
            async with answer:
                async for _ in answer:
                    1 / 0  # noqa: B018
    assert answer.state is State.FAILED and answer.error.kind == "internal"


async def test_an_answer_never_iterated_can_be_abandoned(replay):
    async with client_for(replay) as client:
        answer = client.stream(request())
        answer.abandon()
    assert answer.state is State.CANCELLED and not replay.seen


async def test_retry_after_is_machine_readable(replay):
    body = b'{"error":{"message":"slow down"}}'
    date = "Wed, 21 Oct 2099 07:28:00 GMT"
    for value in ("3", date):
        replay.reply(
            Canned(
                body, status=429, content_type="application/json", headers={"retry-after": value}
            )
        )
    async with client_for(replay) as client:
        errors = []
        for _ in range(2):
            with pytest.raises(ApiError) as info:
                async with client.stream(request()) as answer:
                    async for _ in answer:
                        pass
            errors.append(info.value)
    assert errors[0].retry_after == 3.0 and errors[0].kind == "rate_limit"
    assert errors[1].retry_after > 365 * 24 * 3600  # an HTTP date far ahead


async def test_a_base_url_query_string_is_kept_on_every_request(replay):
    replay.reply(Canned(TEXT))
    endpoint = Endpoint(
        "azure", "openai", replay.base_url, "m", params=(("api-version", "2024-02-01"),)
    )
    async with ChatClient(endpoint) as client, client.stream(request()) as answer:
        async for _ in answer:
            pass
    assert replay.seen[-1].path == "/v1/chat/completions?api-version=2024-02-01"


async def test_abort_before_the_request_sends_nothing(replay):
    replay.reply(Canned(TEXT))
    async with client_for(replay) as client:
        answer = client.stream(request())
        answer.abort()
        async with answer:
            events = [event async for event in answer]
    assert events == [] and not replay.seen
    assert answer.state is State.CANCELLED
    assert answer.metrics().tokens_saved is None  # nothing was sent: nothing saved


async def test_a_late_abort_cannot_touch_the_next_answer_on_the_same_connection():
    from tokentide.client.demo import DemoServer

    with DemoServer(tokens_per_second=400, ttft=0.01) as server:
        endpoint = Endpoint("demo", "openai", server.base_url, "demo")
        async with ChatClient(endpoint) as client:
            first = client.stream(ChatRequest("demo", [Message("user", "/echo one")]))
            async with first:
                async for _ in first:
                    pass
            second = client.stream(ChatRequest("demo", [Message("user", "tell me about rust")]))
            async with second:
                async for event in second:
                    if isinstance(event, TextDelta):
                        first.abort()  # too late: first has ended
        assert [r.connection for r in server.requests] == [1, 1]  # the connection was reused
    assert first.state is State.FINISHED and second.state is State.FINISHED
    assert second.error is None and second.message.finish_reason == "stop"


async def test_iterating_outside_async_with_is_refused(replay):
    async with client_for(replay) as client:
        answer = client.stream(request())
        with pytest.raises(RuntimeError, match="async with"):
            async for _ in answer:
                pass
    assert not replay.seen and answer.state is State.PENDING


async def test_aclose_stops_an_answer_that_had_not_ended(replay):
    replay.reply(Canned(TEXT, delay=0.01))
    async with client_for(replay) as client:
        answer = client.stream(request())
        async with answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    await answer.aclose()
                    break
            assert answer.state is State.CANCELLED and answer.message.cancelled


@pytest.mark.parametrize(
    "content_type", ["Text/Event-Stream", "text/event-stream; charset=iso-8859-1"]
)
async def test_event_streams_are_read_as_utf8_whatever_the_header_says(replay, content_type):
    text = "héllo → 世界"
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    replay.reply(Canned(body, content_type=content_type))
    async with client_for(replay) as client, client.stream(request()) as answer:
        async for _ in answer:
            pass
    assert answer.message.text == text and answer.state is State.FINISHED


async def test_a_request_we_cannot_build_is_our_bug_not_the_servers(replay):
    from decimal import Decimal

    async with client_for(replay) as client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")], temperature=Decimal(1)))
        with pytest.raises(ApiError) as info:
            async with answer:
                async for _ in answer:
                    pass
    assert info.value.kind == "internal" and "server" not in str(info.value)
    assert isinstance(info.value.origin, TypeError) and not replay.seen


async def test_ndjson_lines_split_on_newline_only():
    import httpx

    from tokentide.client.framing import ndjson_frames

    lines = ['{"a": "x\u2028y"}', '{"b": 2}', "", '{"c": "' + "z" * 5000 + '"}']
    raw = ("\n".join(lines) + "\r\n").encode()

    async def chunks():
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    response = httpx.Response(200, content=chunks())
    got = [data async for _, data in ndjson_frames(response)]
    assert got == [line for line in lines if line]


async def test_an_emoji_split_into_surrogate_halves_over_two_events_is_one_emoji(replay):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"smile \\ud83d"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"\\ude00 and a lone \\udc00."}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    replay.reply(Canned(body))
    async with client_for(replay) as client, client.stream(request()) as answer:
        texts = [e.text async for e in answer if isinstance(e, TextDelta)]
    assert answer.message.text == "smile 😀 and a lone \ufffd." == "".join(texts)
    answer.message.text.encode("utf-8")  # storable, printable
