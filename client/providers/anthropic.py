"""Anthropic Messages streaming (`POST /v1/messages`, `stream: true`).

Each SSE event carries its type twice (the `event:` line and the JSON
`type`); the JSON one is read, as the SDK does. An answer is a list of
content blocks opened, grown by deltas and closed by `index`: text, tool
use (arguments as `partial_json` fragments, or whole in the block's start
when a translation sends no fragments), thinking (with a signature
that must go back unchanged for the conversation to continue, kept as a
`Replay`) and redacted thinking. `message_start` reports the input tokens
and a small starting output count, which is not taken as the answer's
length: the cumulative count comes in `message_delta`. An `error` event
after the 200 status (`overloaded_error`) ends the answer with the part
received kept; a stream that ends without `message_stop` and without a
stop reason was cut off (a whole unstreamed reply without one is kept, with
no finish reason).

Thinking takes a budget of at least 1024 tokens, below `max_tokens`, and no
`temperature` but the default: a user's temperature is left out then.

Structured output is a forced tool here (Anthropic has no `response_format`):
its arguments are the answer, so they are streamed as the answer's text, as
every other format streams structured output, and its `tool_use` stop is
the answer's `stop`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ApiError, ConfigError, cut_off
from ..events import (
    Finished,
    ReasoningDelta,
    Replay,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from ..request import ChatRequest
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    check_prefill,
    count,
    error_excerpt,
    error_words,
    frame_json,
    normalise_finish,
    text_of,
)
from .openai_chat import error_text

WIRE = "anthropic"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
"""`max_tokens` is required by the API; this is sent when the user set none."""
MIN_THINKING_BUDGET = 1024

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
}


class AnthropicMessages:
    """The wire format object; stateless, one per endpoint."""

    label = "Anthropic Messages"
    framing = "sse"

    def can_prefill(self, request: ChatRequest) -> bool:
        """Messages continues a trailing assistant message, except with thinking
        (the answer would have to start with a thinking block) and on Claude
        models from 4.6 on, which answer it with a 400."""
        return request.thinking is None and prefill_allowed(request.model)

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        if request.prefill and not self.can_prefill(request):
            raise ConfigError(
                f"{request.model} cannot continue an answer in place"
                + (" with thinking on" if request.thinking is not None else ""),
                fix="ask it to continue with a new message",
            )
        check_prefill(request, self.label)
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens,
            "messages": to_wire_messages(request),
            "stream": request.stream,
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None and request.thinking is None:
            body["temperature"] = request.temperature  # thinking takes none but the default
        tools = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            if t.description
            else {"name": t.name, "input_schema": t.parameters}
            for t in request.tools
        ]
        if request.thinking is not None:
            # The API takes a budget of at least 1024 tokens, below max_tokens.
            budget = max(MIN_THINKING_BUDGET, request.thinking.tokens())
            if request.max_tokens is None:
                body["max_tokens"] = max(max_tokens, budget + DEFAULT_MAX_TOKENS)
            elif budget >= max_tokens:  # the API wants room for the answer
                budget = max(MIN_THINKING_BUDGET, max_tokens // 2)
                if budget >= max_tokens:  # too small a limit to think at all:
                    body["max_tokens"] = budget + max_tokens  # the limit is the answer's
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if (schema := request.output_schema) is not None:
            tools.append({"name": schema.name, "input_schema": schema.schema})
            # A forced tool and thinking do not go together: then the model
            # is only allowed (and told by the schema's name) to use it.
            choice = "auto" if request.thinking is not None else "tool"
            body["tool_choice"] = (
                {"type": "tool", "name": schema.name} if choice == "tool" else {"type": "auto"}
            )
        if tools:
            body["tools"] = tools
        return HttpRequest("POST", "/v1/messages", body, _headers(api_key))

    def parser(self, request: ChatRequest | None = None) -> AnthropicParser:
        schema = request.output_schema if request is not None else None
        return AnthropicParser(answer_tool=schema.name if schema is not None else None)

    def models_request(self, api_key: str | None) -> HttpRequest:
        return HttpRequest("GET", "/v1/models", None, _headers(api_key))

    def parse_models(self, body: Any) -> list[str]:
        items = as_list(as_dict(body).get("data"))
        return sorted(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)

    def parse_response(self, body: Any, request: ChatRequest | None = None) -> list[StreamEvent]:
        if not isinstance(body, dict):
            raise ApiError("the server's reply is not a JSON object", kind="protocol")
        if body.get("type") == "error":
            raise error_event(body, mid_stream=False)
        parser = self.parser(request)
        events: list[StreamEvent] = []
        events += parser.feed("", json.dumps({"type": "message_start", "message": body}))
        for index, block in enumerate(as_list(body.get("content"))):
            events += parser.block_whole(index, as_dict(block))
        events += parser.feed(
            "",
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": body.get("stop_reason")},
                    "usage": body.get("usage"),
                }
            ),
        )
        # A whole reply cannot have been cut off: without a stop reason it
        # is kept, finished without one, as other formats do.
        return events + (parser.end() if parser.stopped else [Finished(None)])

    def error_message(self, body: Any) -> str | None:
        return error_text(body)

    def adapt(self, status: int, body: Any) -> bool:
        return False


class AnthropicParser:
    """Turns the events of one Messages stream into unified events."""

    def __init__(self, answer_tool: str | None = None) -> None:
        self.done = False
        self._stop_reason: str | None = None
        self._answer_tool = answer_tool
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._answered = False  # the answer tool was used

    @property
    def stopped(self) -> bool:
        """Whether the server said why the answer ended (or that it did)."""
        return self.done or self._stop_reason is not None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        payload = as_dict(frame_json(event, data, AnthropicMessages.label))
        kind = payload.get("type") or event
        if "type" not in payload and error_words(payload):
            kind = "error"  # every event has a type: a proxy's `{"message"}` or `{"detail"}`
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._start(payload)
        if kind == "content_block_stop":
            return self._stop(payload)
        if kind == "message_start":
            usage = as_dict(as_dict(payload.get("message")).get("usage"))
            return [Usage(input_tokens=_input_tokens(usage))] if _input_tokens(usage) else []
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self.done = True
            if self._stop_reason is None:  # the end marker, but never said why it ended
                raise cut_off("with message_stop but no stop reason")
            return [self._finished()]
        if kind == "error":
            raise error_event(payload)
        return []  # ping, and event types added later

    def end(self) -> list[StreamEvent]:
        if self.done:
            return []
        if self._stop_reason is None:
            raise cut_off("with no stop reason and no message_stop")
        return [self._finished()]  # a stop reason came: finished, short of its last event

    def block_whole(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        """A complete content block of an unstreamed reply, as its stream would be."""
        kind = block.get("type")
        start = dict(block)
        delta: dict[str, Any] | None = None
        if kind == "text":
            start["text"] = ""
            delta = {"type": "text_delta", "text": text_of(block.get("text"))}
        elif kind == "thinking":
            start["thinking"] = ""
            delta = {"type": "thinking_delta", "thinking": text_of(block.get("thinking"))}
        elif kind == "tool_use":
            start["input"] = {}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input"))}
        events = self._start({"index": index, "content_block": start})
        if delta is not None:
            events += self._delta({"index": index, "delta": delta})
        return events + self._stop({"index": index})

    # -- content blocks -------------------------------------------------------

    def _start(self, payload: dict[str, Any]) -> list[StreamEvent]:
        index = _index(payload)
        block = as_dict(payload.get("content_block"))
        kind = text_of(block.get("type"))
        state = self._blocks[index] = _Block(kind, block)
        if kind == "text" and (text := text_of(block.get("text"))):
            return [TextDelta(text)]
        if kind == "thinking" and (text := text_of(block.get("thinking"))):
            state.thinking.append(text)
            return [ReasoningDelta(text)]
        if kind == "tool_use":
            name = text_of(block.get("name"))
            if self._answer_tool is not None and name == self._answer_tool:
                state.kind = "answer"
                self._answered = True
                return []
            state.tool = self._tools
            self._tools += 1
            return [ToolCallDelta(state.tool, text_of(block.get("id")) or None, name or None)]
        return []

    def _delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        state = self._blocks.get(_index(payload))
        delta = as_dict(payload.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta" and (text := text_of(delta.get("text"))):
            return [TextDelta(text)]
        if kind == "thinking_delta" and (text := text_of(delta.get("thinking"))):
            if state is not None:
                state.thinking.append(text)
            return [ReasoningDelta(text)]
        if kind == "signature_delta" and state is not None:
            state.signature = text_of(delta.get("signature"))  # replaced, not appended
            return []
        if kind == "input_json_delta" and state is not None:
            piece = text_of(delta.get("partial_json"))
            if not piece:
                return []
            state.streamed = True
            if state.kind == "answer":
                return [TextDelta(piece)]
            if state.tool is not None:
                return [ToolCallDelta(state.tool, arguments=piece)]
        return []  # citations, and delta types added later

    def _stop(self, payload: dict[str, Any]) -> list[StreamEvent]:
        state = self._blocks.pop(_index(payload), None)
        if state is None:
            return []
        whole = state.start.get("input")
        if not state.streamed and isinstance(whole, dict) and whole:
            # A translation that sends the input whole in content_block_start
            # and no deltas: the SDK keeps it, and so do we.
            arguments = json.dumps(whole)
            if state.kind == "answer":
                return [TextDelta(arguments)]
            if state.tool is not None:
                return [ToolCallDelta(state.tool, arguments=arguments)]
        if state.kind == "thinking":
            block = {
                "type": "thinking",
                "thinking": "".join(state.thinking),
                "signature": state.signature or text_of(state.start.get("signature")),
            }
            return [Replay(WIRE, block)]
        if state.kind == "redacted_thinking":
            return [Replay(WIRE, {"type": "redacted_thinking", "data": state.start.get("data")})]
        return []

    def _message_delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        reason = as_dict(payload.get("delta")).get("stop_reason")
        if isinstance(reason, str) and reason:
            self._stop_reason = reason
        usage = as_dict(payload.get("usage"))
        if not usage:
            return []
        details = as_dict(usage.get("output_tokens_details"))
        return [
            Usage(
                input_tokens=_input_tokens(usage),
                output_tokens=count(usage.get("output_tokens")),
                reasoning_tokens=count(details.get("thinking_tokens")),
            )
        ]

    def _finished(self) -> Finished:
        reason = normalise_finish(self._stop_reason, FINISH)
        if reason == "tool_calls" and self._answered and not self._tools:
            reason = "stop"  # the forced answer tool: structured output, not a tool call
        return Finished(reason, self._stop_reason)


class _Block:
    __slots__ = ("kind", "signature", "start", "streamed", "thinking", "tool")

    def __init__(self, kind: str, start: dict[str, Any]) -> None:
        self.kind = kind
        self.start = start
        self.thinking: list[str] = []
        self.signature = ""
        self.tool: int | None = None
        self.streamed = False  # input_json_delta came


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """Input is the sum of the fresh, cache-written and cache-read tokens."""
    parts = [
        count(usage.get(k))
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [p for p in parts if p is not None]
    return sum(known) if known and any(known) else None


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"anthropic-version": API_VERSION}
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def to_wire_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """User and assistant turns as Messages wants them; an assistant turn
    gets back the thinking blocks it was answered with (and their
    signatures), before its text and tool use."""
    wire: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role != "assistant":
            wire.append({"role": "user", "content": message.text})
            continue
        content: list[dict[str, Any]] = [
            dict(replay.data) for replay in message.replay if replay.wire == WIRE
        ]
        if message.text:
            content.append({"type": "text", "text": message.text})
        for call in message.tool_calls:
            arguments = call.arguments if isinstance(call.arguments, dict) else {}
            content.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}
            )
        wire.append({"role": "assistant", "content": content})
    if request.prefill and wire and wire[-1]["role"] == "assistant":
        # The API refuses a final assistant message that ends in whitespace.
        for block in wire[-1]["content"][::-1]:
            if block.get("type") == "text":
                block["text"] = block["text"].rstrip()
                break
    return wire


PREFILL_UNTIL = (4, 6)
"""The first Claude version that refuses a prefill ("This model does not support
assistant message prefill. The conversation must end with a user message")."""

_CLAUDE_PART = re.compile(r"[-._:/@]")


def prefill_allowed(model: str) -> bool:
    """Whether `model` continues a trailing assistant message. Claude names
    come as claude-3-5-sonnet-20241022, claude-sonnet-4-20250514,
    claude-opus-4-1, claude-opus-4-6, us.anthropic.claude-opus-4-6-v1:0 or
    anthropic/claude-sonnet-4.6: the first number is the major version, a
    following one or two digits the minor (eight digits are a date). A Claude
    name whose version cannot be read counts as a new model: a visible
    continue turn works on every model, a refused prefill on none. Other
    models served over Messages (the demo, compatible servers) continue it."""
    name = model.lower()
    at = name.find("claude")
    if at < 0:
        return True
    numbers = [part for part in _CLAUDE_PART.split(name[at + len("claude") :]) if part]
    for n, part in enumerate(numbers):
        if part.isdigit() and len(part) <= 2:
            following = numbers[n + 1] if n + 1 < len(numbers) else ""
            minor = int(following) if following.isdigit() and len(following) <= 2 else 0
            return (int(part), minor) < PREFILL_UNTIL
    return False


def error_event(payload: dict[str, Any], mid_stream: bool = True) -> ApiError:
    """`{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`;
    a proxy's `"error": "Overloaded"` or top-level `message` is quoted too."""
    error = as_dict(payload.get("error"))
    kind = text_of(error.get("type")) or "error"
    message = error_words(payload) or error_excerpt(payload)
    where = " mid-stream" if mid_stream else ""
    fix = "the service is overloaded; retry in a moment" if kind == "overloaded_error" else None
    return ApiError(
        f"the server reported an error{where} ({kind}): {message}",
        kind="provider",
        fix=fix,
        detail=error,
    )
