"""Retries: only before the first byte of an answer, only for what waiting can
fix, honouring Retry-After, and a stop ends the wait at once."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from tests.cli import clean_env, tokentide
from tests.pilot import answers, screen_text, send, wait_idle
from tests.replay import Canned, fixture
from tokentide.client import stream as stream_module
from tokentide.client.config import Endpoint, Timeouts, resolve
from tokentide.client.demo import DemoServer
from tokentide.client.errors import ApiError, ConfigError
from tokentide.client.events import Message, Retrying
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State
from tokentide.tui.app import TokentideApp
from tokentide.tui.turn import Outcome

TIMEOUTS = Timeouts(connect=2, read=2)
ERROR = b'{"error": {"message": "busy", "type": "server_error"}}'


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(stream_module, "INITIAL_RETRY_DELAY", 0.01)


def refusal(status: int, body: bytes = ERROR, **headers: str) -> Canned:
    return Canned(body, status=status, content_type="application/json", headers=headers)


async def run(url: str, retries: int = 2, on_event=None):
    endpoint = Endpoint("openai", "openai", url, "m")
    events, error = [], None
    async with ChatClient(endpoint, timeouts=TIMEOUTS, retries=retries) as client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")]))
        try:
            async with answer:
                async for event in answer:
                    events.append(event)
                    if on_event is not None:
                        on_event(answer, event)
        except ApiError as exc:
            error = exc
    return answer, events, error


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
async def test_a_refusal_worth_retrying_is_sent_again(replay, status):
    replay.reply(refusal(status, **{"Retry-After": "0"}))
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, events, error = await run(replay.base_url)
    assert error is None and answer.state is State.FINISHED
    assert answer.message.text == "The capital of France is Paris."
    retries = [e for e in events if isinstance(e, Retrying)]
    assert [(r.attempt, r.of, r.delay) for r in retries] == [(1, 2, 0.0)]
    assert retries[0].reason.startswith(str(status))
    assert len(replay.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_a_refusal_waiting_cannot_fix_is_not_retried(replay, status):
    replay.reply(refusal(status))
    answer, events, error = await run(replay.base_url)
    assert answer.state is State.FAILED and error.status == status
    assert len(replay.seen) == 1 and not any(isinstance(e, Retrying) for e in events)


async def test_an_exhausted_quota_is_not_retried(replay):
    body = json.dumps(
        {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
    ).encode()
    replay.reply(refusal(429, body))
    answer, _, error = await run(replay.base_url)
    assert answer.state is State.FAILED and len(replay.seen) == 1
    assert "out of quota" in str(error)


async def test_tries_are_counted_and_the_last_refusal_is_the_error(replay):
    for _ in range(3):
        replay.reply(refusal(503))
    answer, events, error = await run(replay.base_url, retries=2)
    assert answer.state is State.FAILED and error.status == 503
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2]
    assert len(replay.seen) == 3


async def test_retries_zero_sends_once(replay):
    replay.reply(refusal(503))
    answer, _, _ = await run(replay.base_url, retries=0)
    assert answer.state is State.FAILED and len(replay.seen) == 1


async def test_backoff_grows_with_jitter(replay, monkeypatch):
    monkeypatch.setattr(stream_module, "INITIAL_RETRY_DELAY", 0.02)
    for _ in range(4):
        replay.reply(refusal(500))
    _, events, _ = await run(replay.base_url, retries=3)
    delays = [e.delay for e in events if isinstance(e, Retrying)]
    for n, delay in enumerate(delays):
        assert 0.75 * 0.02 * 2**n <= delay <= 0.02 * 2**n
    assert len(replay.seen) == 4


async def test_a_connection_refused_is_retried_then_fails():
    answer, events, error = await run("http://127.0.0.1:9/v1", retries=2)
    assert answer.state is State.FAILED and error.kind == "connect"
    assert [e.reason for e in events if isinstance(e, Retrying)] == ["connection failed"] * 2


async def test_an_answer_that_started_is_never_replayed(replay):
    replay.reply(Canned(fixture("openai_chat_error_midstream.sse")))
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, _, _ = await run(replay.base_url)
    assert answer.state is State.FAILED and answer.message.text == "Once upon a time"
    assert len(replay.seen) == 1


async def test_retry_after_is_capped_and_a_stop_from_another_thread_ends_the_wait(replay):
    replay.reply(refusal(429, **{"Retry-After": "3600"}))
    stopped: list[float] = []

    def on_event(answer, event):
        if isinstance(event, Retrying):
            assert event.delay == stream_module.MAX_RETRY_AFTER
            stopped.append(time.perf_counter())
            threading.Thread(target=answer.abort).start()  # the app's input thread

    answer, _, error = await run(replay.base_url, on_event=on_event)
    took = time.perf_counter() - stopped[0]
    assert error is None and answer.state is State.CANCELLED and took < 0.5
    assert answer.metrics().saved is None  # nothing was being generated: nothing saved
    assert len(replay.seen) == 1


async def test_cancelling_the_task_ends_the_wait(replay):
    replay.reply(refusal(503, **{"Retry-After": "30"}))
    endpoint = Endpoint("openai", "openai", replay.base_url, "m")
    async with ChatClient(endpoint, timeouts=TIMEOUTS) as client:
        answer = client.stream(ChatRequest("m", [Message("user", "hi")]))
        waiting = asyncio.Event()

        async def consume() -> None:
            async with answer:
                async for event in answer:
                    if isinstance(event, Retrying):
                        waiting.set()

        task = asyncio.create_task(consume())
        await waiting.wait()
        await asyncio.sleep(0)  # into the wait
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert answer.state is State.CANCELLED and time.perf_counter() - started < 0.5


def test_retries_in_the_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("retries = 0\n")
    assert resolve(env={}, path=path).retries == 0
    assert resolve(env={}, path=tmp_path / "none.toml").retries == 2
    path.write_text("retries = 11\n")
    with pytest.raises(ConfigError, match="retries in the config file must be 0 to 10, not 11"):
        resolve(env={}, path=path)


def test_ask_says_it_is_retrying_and_then_answers(tmp_path):
    with DemoServer(tokens_per_second=2000, ttft=0.0) as server:
        server.inject("http:429")  # the demo answers with Retry-After: 1
        result = tokentide(
            "ask", "--no-log", "--base-url", server.base_url, "--model", "demo", "/echo done",
            env=clean_env(tmp_path),
        )  # fmt: skip
        assert len(server.requests) == 2
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done"
    assert "retrying in 1 s (429 rate limited), try 2 of 3 · Ctrl-C cancels" in result.stderr, (
        result.stderr
    )


async def test_the_app_shows_the_wait_and_then_the_answer():
    with DemoServer(tokens_per_second=2000, ttft=0.0) as server:
        server.inject("http:503")
        app = TokentideApp(resolve(base_url=server.base_url, model="demo", env={}))
        async with app.run_test(size=(100, 30)) as pilot:
            seen: list[str] = []
            status = app.screen.status
            original = status.update

            def update(text, *args, **kw):
                seen.append(str(text))
                return original(text, *args, **kw)

            status.update = update
            await send(pilot, "/echo after the wait")
            await wait_idle(pilot)
            assert answers(app)[0].markdown.source == "after the wait"
        assert len(server.requests) == 2
    assert any(
        line.startswith("↻ retrying in 1 s (503 unavailable) · try 2 of 3 · Esc cancels")
        for line in seen
    ), seen


async def test_esc_in_the_app_ends_the_wait_at_once():
    with DemoServer(tokens_per_second=2000, ttft=0.0) as server:
        server.inject("http:429")  # Retry-After: 1
        app = TokentideApp(resolve(base_url=server.base_url, model="demo", env={}))
        async with app.run_test(size=(100, 30)) as pilot:
            status = app.screen.status
            original = status.update
            waiting = asyncio.Event()

            def update(text, *args, **kw):
                if str(text).startswith("↻ retrying"):
                    waiting.set()
                return original(text, *args, **kw)

            status.update = update
            await send(pilot, "/echo never sent again")
            await asyncio.wait_for(waiting.wait(), 5)
            pressed = time.perf_counter()
            await pilot.press("escape")
            await wait_idle(pilot)
            stopped_in = time.perf_counter() - pressed
            (turn,) = app.screen.turns
            rows = "\n".join(screen_text(app))
        assert len(server.requests) == 1
    assert turn.outcome is Outcome.STOPPED and stopped_in < 0.5, (turn.outcome, stopped_in)
    assert "retrying" not in rows, rows


async def test_retry_after_as_an_http_date_is_honoured(replay):
    from email.utils import formatdate

    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 to 2 s from now
    replay.reply(refusal(429, **{"Retry-After": when}))
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, events, error = await run(replay.base_url)
    assert error is None and answer.state is State.FINISHED
    (retry,) = [e for e in events if isinstance(e, Retrying)]
    assert 0 < retry.delay <= 2 and retry.reason == "429 rate limited"


async def test_geminis_quota_worded_429_with_a_retry_delay_is_retried(replay):
    """Gemini words its per-minute limit "You exceeded your current quota" and
    says when to retry in a RetryInfo detail: that is a rate limit, waited for."""
    body = json.dumps(
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"},
                ],
            }
        }
    ).encode()
    replay.reply(Canned(body, status=429, content_type="application/json"))
    replay.reply(Canned(fixture("openai_chat_usage.sse")))
    answer, events, error = await run(replay.base_url)
    assert error is None and answer.state is State.FINISHED
    assert [(e.attempt, e.delay) for e in events if isinstance(e, Retrying)] == [(1, 0.0)]

    # Refused every time: the line says what the retries assumed, a rate limit.
    for _ in range(3):
        replay.reply(Canned(body, status=429, content_type="application/json"))
    _, events, error = await run(replay.base_url)
    assert len([e for e in events if isinstance(e, Retrying)]) == 2
    assert error is not None and "out of quota" not in str(error)
    assert "rate limited" in str(error)
