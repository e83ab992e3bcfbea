"""Fold unified events into the assistant `Message`.

Text, reasoning and tool-call arguments arrive as fragments split at
arbitrary points. Each fragment is only appended (`Parts`): concatenating or
re-parsing the whole prefix per fragment would be quadratic on the path that
must keep up with the socket. A UI that shows
`{"city": "Par` as it grows asks `arguments_so_far()` when it redraws (jiter's
`trailing-strings` partial mode); at the end we parse strictly, and
fall back to a lenient parse (raw control characters inside strings, which
llama-cpp-python's grammar admits) before giving up: the call then has no
arguments, its raw text and why it is not JSON.
A finish reason of "tool_calls" is never trusted over the parse.
"""

from __future__ import annotations

import bisect
import json

import jiter

from .events import (
    Finished,
    Message,
    ReasoningDelta,
    Replay,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


class Parts:
    """Text that grows by appending, in linear time.

    `text += delta` copies the whole text on every delta: 200,000 deltas
    took 11 s. Pieces are kept in a list and joined when the text is read;
    a read folds them into one piece, so the next read joins only what came
    since. A reader that reads after every delta is quadratic again: read
    at frame rate, not per delta.

    Nobody may read for a long while (`ask --no-log` reads at the end), and
    a string costs ~50 bytes besides its text: an answer of one-character
    deltas would take fifty times its size. So every `FOLD` pieces added
    since the last fold are joined into one, when they are short (longer
    ones cost little more than their text, and joining them would only
    hold the text twice for a moment); each character is copied once by a
    fold, and the text stays linear in time and close to its size.
    """

    __slots__ = ("_folded", "_parts", "_tail")

    FOLD = 256
    SHORT = 1024
    """Characters a piece averages, at most, for its group to be joined."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._folded = 0  # pieces at the front that are done folding
        self._tail = 0  # characters in the pieces after them

    def add(self, piece: str) -> None:
        if piece:
            parts = self._parts
            parts.append(piece)
            self._tail += len(piece)
            if len(parts) - self._folded >= self.FOLD:
                if self._tail <= self.FOLD * self.SHORT:
                    parts[self._folded :] = ["".join(parts[self._folded :])]
                    self._folded += 1
                else:
                    self._folded = len(parts)
                self._tail = 0

    def value(self) -> str:
        parts = self._parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
            self._folded, self._tail = 1, 0
        return parts[0] if parts else ""


class Accumulator:
    """Builds one assistant message from its stream of events.

    `message` is materialised when read (see `Parts`); the events are only
    appended.
    """

    def __init__(self, model: str | None = None) -> None:
        self._message = Message("assistant", model=model)
        self._text = Parts()
        self._reasoning = Parts()
        self._calls: dict[int, ToolCall] = {}
        self._arguments: dict[int, Parts] = {}  # by ToolCall.index
        self._grown: dict[int, ToolCall] = {}
        """Calls whose arguments grew since `message` was last read."""

    @property
    def message(self) -> Message:
        message = self._message
        message.text = self._text.value()
        message.reasoning = self._reasoning.value()
        for call in self._grown.values():
            if not call.complete:
                call.arguments_raw = self._arguments[call.index].value()
        self._grown.clear()
        return message

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._text.add(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.add(event.text)
        elif isinstance(event, ToolCallDelta):
            self._add_tool_fragment(event)
        elif isinstance(event, Usage):
            self._message.usage = merge_usage(self._message.usage, event)
        elif isinstance(event, Finished):
            self._message.finish_reason = event.reason
            self._message.native_finish_reason = event.native
            self.finish_tool_calls()
        elif isinstance(event, Replay):
            self._message.replay.append(event)

    def _add_tool_fragment(self, event: ToolCallDelta) -> None:
        calls = self._message.tool_calls
        call = self._calls.get(event.index)
        if call is not None and event.id and call.id and event.id != call.id:
            # A server that numbers every call 0 (or omits the index): a new
            # id means a new call, not more of the last one.
            call = None
        if call is None:
            # `calls` is kept sorted by index, so the last is the highest: a new
            # call is numbered and placed in constant time when calls come in
            # order (20,000 calls took 9 s when each looked at all before it).
            last = calls[-1].index if calls else -1
            index = event.index if event.index not in self._arguments else last + 1
            call = self._calls[event.index] = ToolCall(index=index)
            self._arguments[index] = Parts()
            if index > last:
                calls.append(call)
            else:
                bisect.insort(calls, call, key=lambda c: c.index)
        if event.id and not call.id:
            call.id = event.id
        if event.name and not call.name:
            call.name = event.name
        if event.arguments and not call.complete:
            self._arguments[call.index].add(event.arguments)
            self._grown[call.index] = call

    def finish_tool_calls(self) -> None:
        """Parse every tool call's arguments strictly; called once the stream is over.

        A call that never got a name is no call: nothing could run it, and
        shown it reads `None()`. It is a server's stray fragment (an
        argument piece with no call opened before it), dropped with a warning.
        """
        message = self.message
        for call in message.tool_calls:
            if call.complete:
                continue
            call.complete = True
            call.arguments, call.parse_error = parse_final(call.arguments_raw)
        nameless = [call for call in message.tool_calls if not call.name]
        for call in nameless:
            message.tool_calls.remove(call)
            message.warnings.append(
                "dropped a tool-call fragment the server never named "
                f"({len(call.arguments_raw)} characters of arguments)"
            )


def arguments_so_far(call: ToolCall) -> object:
    """The parsed arguments: final once the call is complete, partial before."""
    return call.arguments if call.complete else parse_partial(call.arguments_raw)


def parse_partial(raw: str) -> object:
    """The value of a JSON prefix, growing strings included; None if nothing parses yet."""
    if not raw.strip():
        return None
    try:
        return jiter.from_json(raw.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None


def parse_final(raw: str) -> tuple[object, str | None]:
    """Strict parse of complete arguments: (value, None), or (None, why not).

    Text that does not parse has no value: `{"city": "Par` is not the call
    `{"city": "Par"}`, and showing the guess as the arguments would pass a
    broken call off as a whole one. The raw text is kept by the caller."""
    if not raw.strip():
        return {}, None
    try:
        return jiter.from_json(raw.encode()), None
    except ValueError as exc:
        error = str(exc)
    try:
        return json.loads(raw, strict=False), None
    except (ValueError, RecursionError):  # nested deeper than Python's stack goes
        return None, f"arguments are not valid JSON: {error}"


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """Usage counts are cumulative: a later report replaces, missing fields are kept."""
    if old is None:
        return new
    return Usage(
        input_tokens=new.input_tokens if new.input_tokens is not None else old.input_tokens,
        output_tokens=new.output_tokens if new.output_tokens is not None else old.output_tokens,
        reasoning_tokens=(
            new.reasoning_tokens if new.reasoning_tokens is not None else old.reasoning_tokens
        ),
    )
