"""When each part of a demo answer goes out, and how an injected fault bends that.

Why pacing is its own module: time to first token and tokens per second are
what tokentide measures, so the demo server must produce them exactly, and
the faults it injects (an error or a cut after a few tokens, a stall, no
usage, keep-alive comments, CRLF framing, an end that never comes, an event
or an answer that never ends) are defined in terms of that schedule. None of
it depends on the wire format: the `AnswerEncoder` supplies every byte, and
this module only decides which of its parts to send, and when.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

from .answers import ENDLESS_DELTA
from .encoder import MESSAGE_ONLY, AnswerEncoder, AnswerOptions, Reply
from .exchange import Exchange
from .faults import MIDSTREAM_FAULTS
from .plan import ChatRequest, Plan, counts_as_token

__all__ = [
    "FAULT_AFTER",
    "FLOOD",
    "KEEPALIVE_EVERY",
    "Answer",
    "Pace",
    "complete",
    "options",
    "stream",
]

FAULT_AFTER = 5  # tokens written before a mid-stream fault strikes
KEEPALIVE_EVERY = 7  # with the "keepalive" fault, one comment per this many events

#: What the `huge_event` fault writes again and again inside one JSON string:
#: 64 KiB with no newline, quote or backslash, so the event stays unfinished.
FLOOD = (b"this line never ends " * 3200)[: 64 * 1024]

#: Content that stands for the huge event's text while its opening is cut out.
_MARK = "\u27e6huge event\u27e7"

_GZIP = (("Content-Encoding", "gzip"),)


@dataclass(frozen=True)
class Pace:
    """An absolute schedule: token i is due at start + ttft + i / tokens_per_second.

    Computing each due time from the start (not from the previous write)
    keeps the pace exact however long writes take.
    """

    tokens_per_second: float
    ttft: float
    #: The event loop's clock when the request was accepted.
    start: float

    def due(self, i: int) -> float:
        interval = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        return self.start + self.ttft + i * interval


@dataclass
class Answer:
    """One chat answer on its way: where it goes, what it says, in which format, when."""

    exchange: Exchange
    plan: Plan
    encoder: AnswerEncoder
    fault: str | None
    pace: Pace


def options(chat: ChatRequest, fault: str | None, ttft: float) -> AnswerOptions:
    """The encoder's options for a request, with the faults that change the format applied.

    `bad_usage` sends counts even to a client that did not ask for them: a
    hostile server does not wait to be asked.
    """
    bad = fault == "bad_usage"
    return AnswerOptions(
        usage=(chat.include_usage or bad) and fault != "no_usage",
        newline="\r\n" if fault == "crlf" else "\n",
        ttft=ttft,
        bad_usage=bad,
    )


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _forever() -> None:
    """The `stall` fault: until the client leaves or the server stops."""
    await asyncio.Event().wait()


async def complete(answer: Answer) -> str:
    """An unstreamed answer, as late as generating it would take; returns the log outcome.

    Faults of a stream have an unstreamed form where one makes sense: an
    error before any answer (`midstream_error`, `error_message_only`), half a
    body (`truncate`), all of it but the last byte and then nothing
    (`finish_no_end`), a body that never ends (`huge_event`, `endless`).
    """
    ex, plan, fault = answer.exchange, answer.plan, answer.fault
    if fault == "stall":
        ex.update(held=True)
        await _forever()
    if fault == "midstream_error":
        await _sleep_until(answer.pace.due(0))
        await ex.reply(answer.encoder.server_error())
        return "500 (non-streaming midstream_error)"
    if fault == "error_message_only":
        await _sleep_until(answer.pace.due(0))
        body = json.dumps({"message": MESSAGE_ONLY}).encode()
        await ex.reply(Reply(500, body))
        return "500 with only a message (non-streaming error_message_only)"
    await _sleep_until(answer.pace.due(plan.tokens))
    if fault == "empty_200":
        await ex.reply(Reply(200, b""))
        return "200 empty body"
    reply = answer.encoder.complete()
    if fault == "fake_gzip":
        reply = dataclasses.replace(reply, headers=reply.headers + _GZIP)
    if fault == "truncate":
        await ex.reply_cut(reply)
        return "200 truncated body, connection closed"
    if fault == "finish_no_end":
        await ex.reply_held(reply)
        await _forever()
    if fault in ("huge_event", "endless"):
        ex.begin_stream(reply.content_type, list(reply.headers))
        await _flood(ex, reply.body[: len(reply.body) // 2])
    await ex.reply(
        reply, first_token_at=time.perf_counter(), tokens_sent=plan.tokens, completed=True
    )
    return f"200, {plan.tokens} tokens in {time.perf_counter() - ex.record.received_at:.1f} s"


async def stream(answer: Answer) -> str:
    """A streamed answer on the schedule of `answer.pace`; returns the log outcome.

    The opening goes out with the headers, before the first token is due.
    """
    ex, enc, fault = answer.exchange, answer.encoder, answer.fault
    headers = enc.headers() + (list(_GZIP) if fault == "fake_gzip" else [])
    ex.begin_stream(enc.content_type, headers)
    if fault == "empty_200":
        await ex.send(b"", last=True)
        return "200 empty body"
    comment = enc.keepalive() if fault == "keepalive" else b""
    await ex.send(comment * 2 + enc.opening())
    limit = min(FAULT_AFTER, answer.plan.tokens) if fault in MIDSTREAM_FAULTS else None
    sent = await _tokens(answer, comment, limit)

    if fault == "midstream_error":
        await ex.send(enc.midstream_error(), last=True)
        return f"200, error event after {sent} tokens"
    if fault == "error_message_only":
        await ex.send(enc.message_only_error(), last=True)
        return f"200, message-only error event after {sent} tokens"
    if fault == "huge_event":
        await _flood(ex, _event_opening(enc))
    if fault == "endless":
        await _endless(answer, sent)
    if fault == "truncate":
        await ex.send(b"", last=True)
        return f"200, body ended after {sent} tokens without finish_reason or [DONE]"
    if fault == "done_no_finish":
        await ex.send(enc.end(), last=True)
        return f"200, [DONE] without finish_reason after {sent} tokens"
    if fault == "stall":
        ex.update(held=True)
        await _forever()
    if fault == "finish_no_end":
        await ex.send(comment + enc.settle(sent), held=True)
        await _forever()
    tail = comment + enc.finish(sent) + enc.usage(sent) + enc.end()
    await ex.send(tail, last=True, completed=True)
    return f"200, {sent} tokens in {time.perf_counter() - ex.record.received_at:.1f} s"


def _event_opening(enc: AnswerEncoder) -> bytes:
    """The bytes of a text event up to where its text begins (the `huge_event` fault).

    Cut from a real event of the encoder, so the event opens exactly as this
    wire's text events do (an Anthropic answer closes its open block first).
    """
    whole = enc.token("content", _MARK)
    return whole[: whole.index(_MARK.encode())]


async def _flood(ex: Exchange, opening: bytes) -> None:
    """`opening`, then FLOOD as fast as the client reads it, until it leaves."""
    await ex.send(opening + FLOOD)
    while True:
        await asyncio.sleep(0)  # a socket that takes it all at once must not starve the loop
        await ex.send(FLOOD)


async def _endless(answer: Answer, sent: int) -> None:
    """64 KiB text deltas on the answer's schedule, each one token, until the client leaves."""
    ex, enc = answer.exchange, answer.encoder
    i = sent
    while True:
        await _sleep_until(answer.pace.due(i))
        await asyncio.sleep(0)  # at a pace faster than the socket, let the EOF watcher run
        i += 1
        await ex.send(enc.token("content", ENDLESS_DELTA), tokens_sent=i)


async def _tokens(answer: Answer, comment: bytes, limit: int | None) -> int:
    """Send the plan's events as they fall due, stopping after `limit` tokens; returns the count.

    Events due in the same loop tick (high rates) go out in one write, each
    still its own event in the encoder's format.
    """
    loop = asyncio.get_running_loop()
    events = answer.plan.events
    sent = 0  # tokens written
    i = 0  # events written
    while i < len(events) and sent != limit:
        await _sleep_until(answer.pace.due(i))
        now = loop.time()
        batch = bytearray()
        tokens = 0
        while i < len(events) and answer.pace.due(i) <= now and sent + tokens != limit:
            kind, piece = events[i]
            if comment and i and i % KEEPALIVE_EVERY == 0:
                batch += comment
            batch += answer.encoder.token(kind, piece)
            if counts_as_token(kind):
                tokens += 1
            i += 1
        if not batch and not tokens:
            continue  # woke a hair early
        # Tokens with no bytes of their own (an encoder that sends a tool call
        # whole, at the end) were still generated: they count as sent.
        changes: dict[str, Any] = {"tokens_sent": sent + tokens}
        if answer.exchange.record.first_token_at is None:
            changes["first_token_at"] = time.perf_counter()
        sent += tokens
        await answer.exchange.send(bytes(batch), **changes)
    return sent
