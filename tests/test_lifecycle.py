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
    return ChatClient(endpoint, timeouts=Timeouts(connect=2, read=2))


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
        with pytest.raises(RuntimeError, match="already been streamed"):
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
