"""The one turn runner shared by the app and `ask`: request, sink, checkpoints, one on_done."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.replay import Canned, fixture
from tokentide.client.config import Endpoint, Settings, Timeouts
from tokentide.client.events import Message, StreamEvent, TextDelta
from tokentide.client.stream import ChatClient
from tokentide.tui.turn import CHECKPOINT_INTERVAL, Outcome, Params, Turn, context

TEXT = fixture("openai_chat_text.sse")


def settings_for(replay, **kw) -> Settings:
    endpoint = Endpoint("openai", "openai", replay.base_url, "m")
    return Settings(endpoint, timeouts=Timeouts(connect=2, read=2), **kw)


class Recorder:
    """A sink, a checkpoint and an on_done that remember what they were given."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.checkpoints: list[float] = []
        self.done: list[tuple[Message, object, Outcome]] = []

    def hooks(self) -> dict:
        return {
            "sink": self.events.append,
            "checkpoint": lambda turn: self.checkpoints.append(time.monotonic()),
            "on_done": lambda *args: self.done.append(args),
        }


async def run_turn(replay, prompt: str = "hi", history=(), **kw) -> tuple[Turn, Recorder]:
    record = Recorder()
    settings = settings_for(replay, **kw.pop("settings", {}))
    async with ChatClient(settings.endpoint, timeouts=settings.timeouts) as client:
        turn = Turn(client, settings, prompt, history=history, **kw, **record.hooks())
        await turn.run()
    return turn, record


async def test_a_finished_turn(replay):
    replay.reply(Canned(TEXT))
    turn, record = await run_turn(replay, settings={"system": "be brief"})
    assert turn.outcome is Outcome.FINISHED and len(record.done) == 1
    message, _, outcome = record.done[0]
    assert outcome is Outcome.FINISHED and message is turn.message and message.text
    text = "".join(e.text for e in record.events if isinstance(e, TextDelta))
    assert text == message.text
    assert replay.seen[-1].body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


async def test_a_failed_turn_is_an_outcome_not_an_exception(replay):
    replay.reply(
        Canned(b'{"error":{"message":"boom"}}', status=400, content_type="application/json")
    )
    turn, record = await run_turn(replay)
    assert turn.outcome is Outcome.FAILED and [d[2] for d in record.done] == [Outcome.FAILED]
    assert "boom" in turn.message.error and turn.error.status == 400


async def test_a_cancelled_turn_ends_stopped_once_and_the_cancel_goes_on(replay):
    replay.reply(Canned(TEXT * 20, delay=0.01))
    record = Recorder()
    hooks = record.hooks()
    streaming = asyncio.Event()
    hooks["sink"] = lambda event: (record.events.append(event), streaming.set())
    settings = settings_for(replay)
    async with ChatClient(settings.endpoint) as client:
        turn = Turn(client, settings, "hi", params=Params(max_tokens=50), **hooks)
        task = asyncio.create_task(turn.run())
        await streaming.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [d[2] for d in record.done] == [Outcome.STOPPED]
    metrics = record.done[0][1]
    assert metrics.tokens_saved is not None and turn.expected.basis == "max_tokens"
    assert metrics.saved == 50 - metrics.tokens_received


async def test_a_turn_whose_task_never_ran_is_abandoned_as_stopped(replay):
    record = Recorder()
    settings = settings_for(replay)
    async with ChatClient(settings.endpoint) as client:
        turn = Turn(client, settings, "hi", **record.hooks())
        turn.abandon()
        turn.abandon()
    assert [d[2] for d in record.done] == [Outcome.STOPPED] and not replay.seen


async def test_checkpoints_are_at_most_four_a_second(replay):
    # ~0.9 s of stream: 7-byte chunks 3 ms apart.
    replay.reply(Canned(TEXT * 3, delay=0.003))
    turn, record = await run_turn(replay)
    assert turn.outcome is Outcome.FINISHED
    gaps = [b - a for a, b in zip(record.checkpoints, record.checkpoints[1:], strict=False)]
    assert record.checkpoints, "a stream this long is checkpointed"
    assert all(gap >= CHECKPOINT_INTERVAL for gap in gaps), gaps


async def test_the_expectation_is_computed_once_from_params_history_or_default(replay):
    for _ in range(4):
        replay.reply(Canned(TEXT))
    turn, _ = await run_turn(replay, params=Params(max_tokens=7), history_tokens=300)
    assert (turn.expected.tokens, turn.expected.basis) == (7, "max_tokens")  # capped
    turn, _ = await run_turn(replay, params=Params(max_tokens=900), history_tokens=300)
    assert (turn.expected.tokens, turn.expected.basis) == (300, "history")
    turn, _ = await run_turn(replay, history_tokens=300)
    assert (turn.expected.tokens, turn.expected.basis) == (300, "history")
    turn, _ = await run_turn(replay, settings={"expected_tokens": 900})
    assert (turn.expected.tokens, turn.expected.basis) == (900, "default")


async def test_context_keeps_answers_and_drops_failed_turns(replay):
    finished = Canned(TEXT)
    failed = Canned(b"{}", status=500, content_type="application/json")
    replay.reply(finished)
    first, _ = await run_turn(replay, "first")
    replay.reply(failed)
    second, _ = await run_turn(replay, "second", history=[first])
    replay.reply(finished)
    third, _ = await run_turn(replay, "third", history=[first, second])
    sent = replay.seen[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [sent[0]["content"], sent[2]["content"]] == ["first", "third"]
    assert sent[1]["content"] == first.message.text
    assert [m.text for m in context([first, second, third])][::2] == ["first", "third"]


async def test_a_second_cancel_while_the_answer_closes_still_ends_it_once(replay, monkeypatch):
    """Esc, then Ctrl+Q (or a second Ctrl-C) while a slow peer is being hung up on."""
    from tokentide.client.stream import AnswerStream

    close = AnswerStream._close_response
    closing = asyncio.Event()

    async def slow_close(self) -> None:
        closing.set()
        await asyncio.sleep(0.05)  # a TLS close_notify to a slow peer
        await close(self)

    monkeypatch.setattr(AnswerStream, "_close_response", slow_close)
    replay.reply(Canned(TEXT * 20, delay=0.01))
    record = Recorder()
    hooks = record.hooks()
    streaming = asyncio.Event()
    hooks["sink"] = lambda event: streaming.set()
    settings = settings_for(replay)
    async with ChatClient(settings.endpoint) as client:
        turn = Turn(client, settings, "hi", **hooks)
        task = asyncio.create_task(turn.run())
        await streaming.wait()
        task.cancel()
        await closing.wait()  # the first cancel is inside the slow close now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [d[2] for d in record.done] == [Outcome.STOPPED]
    assert turn.answer.state.ended
