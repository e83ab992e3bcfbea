"""OpenAI Responses streaming (`POST /responses`, `stream: true`).

Dispatch is on the JSON `type`, never on the `event:` line: LiteLLM's
translation sends none (and ends with `data: [DONE]`, which OpenAI's does
not). Text, refusals and reasoning (summaries, or full reasoning text from
open models) arrive as deltas; a function call opens with
`response.output_item.added` and grows by `function_call_arguments.delta`,
keyed by `output_index` (or by `item_id`, for a server that leaves the index
out). The answer ends with exactly one of
`response.completed` (usage, reasoning tokens included),
`response.incomplete` (why: the token limit, a content filter) or
`response.failed`; a standalone `error` event is a failure too. Neither
failure has a top-level `error` key as documented, so a client that only
looks for one would miss both (OpenAI itself nests the `error` event's code
and message under `error`: both shapes are read). A stream that ends
without any of them was cut off.

Function tools are sent with `strict: false`: left out, Responses (unlike
Chat Completions) makes a schema strict when it can, every property required.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ApiError, cut_off
from ..events import Finished, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from ..request import ChatRequest
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    count,
    error_words,
    frame_json,
    normalise_finish,
    refuse_prefill,
    text_of,
)
from .openai_chat import error_text

FINISH = {
    "completed": "stop",
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


class OpenAIResponses:
    """The wire format object; stateless, one per endpoint."""

    label = "OpenAI Responses"
    framing = "sse"

    def can_prefill(self, request: ChatRequest) -> bool:
        """Never: Responses has no way to continue an answer in place."""
        return False

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        refuse_prefill(request, self.label)
        body: dict[str, Any] = {
            "model": request.model,
            "input": [
                {"role": m.role if m.role == "assistant" else "user", "content": m.text}
                for m in request.messages
            ],
            "stream": request.stream,
        }
        if request.system:
            body["instructions"] = request.system
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                    # Left out, Responses makes a schema strict when it can
                    # (every property required): not what the same tool
                    # means on every other wire.
                    "strict": False,
                }
                for tool in request.tools
            ]
        if (schema := request.output_schema) is not None:
            body["text"] = {
                "format": {"type": "json_schema", "name": schema.name, "schema": schema.schema}
            }
        if request.thinking is not None:
            body["reasoning"] = {"effort": request.thinking.effort(), "summary": "auto"}
        return HttpRequest("POST", "/responses", body, _auth(api_key))

    def parser(self, request: ChatRequest | None = None) -> ResponsesParser:
        return ResponsesParser()

    def models_request(self, api_key: str | None) -> HttpRequest:
        return HttpRequest("GET", "/models", None, _auth(api_key))

    def parse_models(self, body: Any) -> list[str]:
        items = as_list(as_dict(body).get("data"))
        return sorted(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)

    def parse_response(self, body: Any, request: ChatRequest | None = None) -> list[StreamEvent]:
        if not isinstance(body, dict):
            raise ApiError("the server's reply is not a JSON object", kind="protocol")
        if isinstance(body.get("error"), dict) and body.get("status") != "incomplete":
            raise failure(as_dict(body.get("error")), mid_stream=False)
        parser = ResponsesParser()
        events: list[StreamEvent] = []
        for index, item in enumerate(as_list(body.get("output"))):
            events += parser.item_whole(index, as_dict(item))
        kind = "response.incomplete" if body.get("status") == "incomplete" else "response.completed"
        events += parser.feed("", json.dumps({"type": kind, "response": body}))
        return events

    def error_message(self, body: Any) -> str | None:
        return error_text(body)

    def adapt(self, status: int, body: Any) -> bool:
        return False


class ResponsesParser:
    """Turns the events of one Responses stream into unified events."""

    def __init__(self) -> None:
        self.done = False
        self._finished = False
        self._tools: dict[int | str, int] = {}  # output_index (or item id) -> tool call index
        self._streamed: set[int | str] = set()  # outputs whose arguments came as deltas
        self._items: dict[str, int | str] = {}  # item id -> output_index
        self._summary_parts = 0

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":  # LiteLLM's translation ends this way
            self.done = True
            return []
        payload = as_dict(frame_json(event, data, OpenAIResponses.label))
        kind = text_of(payload.get("type")) or event
        if "type" not in payload and error_words(payload):
            kind = "error"  # every event has a type: a proxy's `{"message"}` or `{"detail"}`
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return [TextDelta(text)] if (text := text_of(payload.get("delta"))) else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ReasoningDelta(text)] if (text := text_of(payload.get("delta"))) else []
        if kind == "response.function_call_arguments.delta":
            return self._arguments(payload)
        if kind == "response.reasoning_summary_part.added":
            self._summary_parts += 1
            return [ReasoningDelta("\n\n")] if self._summary_parts > 1 else []
        if kind == "response.output_item.added":
            return self._item_added(payload)
        if kind in ("response.function_call_arguments.done", "response.output_item.done"):
            return self._arguments_done(payload)
        if kind in ("response.completed", "response.incomplete"):
            return self._end(payload)
        if kind == "response.failed":
            response = as_dict(payload.get("response"))
            raise failure(as_dict(response.get("error")))
        if kind == "error":
            # Documented flat ({code, message}); OpenAI sends it nested under `error`.
            error = payload.get("error")
            if isinstance(error, str):
                error = {"message": error}
            raise failure({**payload, "type": None, **as_dict(error)})
        return []  # created, in_progress, content parts, annotations, built-in tools …

    @property
    def stopped(self) -> bool:
        """Whether the server said the answer ended (its closing event is that)."""
        return self._finished

    def end(self) -> list[StreamEvent]:
        if not self._finished:
            raise cut_off("with no response.completed")
        return []

    def item_whole(self, index: int, item: dict[str, Any]) -> list[StreamEvent]:
        """One output item of an unstreamed reply."""
        kind = item.get("type")
        events: list[StreamEvent] = []
        if kind == "message":
            for part in as_list(item.get("content")):
                part = as_dict(part)
                text = text_of(part.get("text")) or text_of(part.get("refusal"))
                if text:
                    events.append(TextDelta(text))
        elif kind == "reasoning":
            texts = [text_of(as_dict(p).get("text")) for p in as_list(item.get("summary"))]
            texts += [text_of(as_dict(p).get("text")) for p in as_list(item.get("content"))]
            if reasoning := "\n\n".join(t for t in texts if t):
                events.append(ReasoningDelta(reasoning))
        elif kind == "function_call":
            events += self._item_added({"output_index": index, "item": item})
            events += self._arguments_done({"output_index": index, "item": item})
        return events

    def _item_added(self, payload: dict[str, Any]) -> list[StreamEvent]:
        item = as_dict(payload.get("item"))
        if item.get("type") != "function_call":
            return []
        output = self._output(payload)
        if item_id := text_of(item.get("id")):
            self._items.setdefault(item_id, output)
        tool = self._tools.setdefault(output, len(self._tools))
        call_id = text_of(item.get("call_id")) or text_of(item.get("id")) or None
        name = text_of(item.get("name")) or None
        arguments = text_of(item.get("arguments"))
        if arguments:
            self._streamed.add(output)
        return [ToolCallDelta(tool, call_id, name, arguments)]

    def _arguments(self, payload: dict[str, Any]) -> list[StreamEvent]:
        output = self._output(payload)
        tool = self._tools.setdefault(output, len(self._tools))
        self._streamed.add(output)
        piece = text_of(payload.get("delta"))
        return [ToolCallDelta(tool, arguments=piece)] if piece else []

    def _arguments_done(self, payload: dict[str, Any]) -> list[StreamEvent]:
        """The whole arguments, used only when no delta brought them (a server
        that sends the call in one piece)."""
        output = self._output(payload)
        if output in self._streamed:
            return []
        item = as_dict(payload.get("item"))
        if payload.get("type") == "response.output_item.done" and item.get("type") != (
            "function_call"
        ):
            return []
        arguments = text_of(payload.get("arguments")) or text_of(item.get("arguments"))
        if not arguments:
            return []
        self._streamed.add(output)
        tool = self._tools.setdefault(output, len(self._tools))
        name = text_of(item.get("name")) or None
        call_id = text_of(item.get("call_id")) or None
        return [ToolCallDelta(tool, call_id, name, arguments)]

    def _output(self, payload: dict[str, Any]) -> int | str:
        """Which output item an event is about: its `output_index`, else the
        index its `item_id` was added at, else the id itself (or 0)."""
        index = payload.get("output_index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        item = as_dict(payload.get("item"))
        item_id = text_of(payload.get("item_id")) or text_of(item.get("id"))
        if not item_id:
            return 0
        return self._items.setdefault(item_id, item_id)

    def _end(self, payload: dict[str, Any]) -> list[StreamEvent]:
        self.done = self._finished = True
        response = as_dict(payload.get("response"))
        events: list[StreamEvent] = []
        usage = as_dict(response.get("usage"))
        if usage:
            details = as_dict(usage.get("output_tokens_details"))
            events.append(
                Usage(
                    input_tokens=count(usage.get("input_tokens")),
                    output_tokens=count(usage.get("output_tokens")),
                    reasoning_tokens=count(details.get("reasoning_tokens")),
                )
            )
        if payload.get("type") == "response.incomplete" or response.get("status") == "incomplete":
            native = text_of(as_dict(response.get("incomplete_details")).get("reason")) or (
                "incomplete"
            )
            events.append(Finished(normalise_finish(native, FINISH), native))
        elif self._tools:
            events.append(Finished("tool_calls", "completed"))
        else:
            events.append(Finished("stop", "completed"))
        return events


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def failure(error: dict[str, Any], mid_stream: bool = True) -> ApiError:
    """`response.failed`'s `response.error`, or a standalone `error` event:
    `{code, message}` either way."""
    code = text_of(error.get("code")) or text_of(error.get("type"))
    message = error_words(error) or "the response failed"
    label = "the server reported an error" + (" mid-stream" if mid_stream else "")
    if code:
        label = f"{label} ({code})"
    return ApiError(f"{label}: {message}", kind="provider", detail=error)
