"""Gemini `streamGenerateContent?alt=sse` (and `generateContent` unstreamed).

Every SSE event is a whole `GenerateContentResponse`: the new parts of the
first candidate (text; `thought: true` parts are reasoning; a
`functionCall` arrives whole, its arguments an object, often with a
`thoughtSignature` that must go back with it), and `usageMetadata`, which
is **cumulative** and on every event: the last one wins, they are never
added up. Google bills thinking as output, so output tokens are
`candidatesTokenCount + thoughtsTokenCount`. There is no end marker: the
event with a `finishReason` is the last that matters, and a stream that
ends without one was cut off (a whole unstreamed reply without one is
kept, with no finish reason). A finish reason added after this was written
is `other`; a prompt refused outright (`promptFeedback.blockReason`, no
candidate) is `content_filter`. Errors are `{"error": {code, message,
status}}`, as a body or as an event.

Tools and structured output are sent as JSON Schema
(`parametersJsonSchema`, `responseJsonSchema`) rather than Gemini's older
OpenAPI subset (`parameters`, `responseSchema`), which rejects common JSON
Schema keywords such as `additionalProperties` in a user's schema file.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from ..errors import ApiError, cut_off
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
    count,
    error_words,
    frame_json,
    normalise_finish,
    refuse_prefill,
    text_of,
)
from .openai_chat import error_text

WIRE = "gemini"

FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "OTHER": "other",
    "FINISH_REASON_UNSPECIFIED": "other",
}


class GeminiGenerate:
    """The wire format object; stateless, one per endpoint."""

    label = "Gemini"
    framing = "sse"

    def can_prefill(self, request: ChatRequest) -> bool:
        """Never: Gemini does not promise to continue a trailing model turn."""
        return False

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        refuse_prefill(request, self.label)
        body: dict[str, Any] = {"contents": to_contents(request)}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if (schema := request.output_schema) is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = schema.schema
        if request.thinking is not None:
            thinking: dict[str, Any] = {"includeThoughts": True}
            if request.thinking.budget is not None:
                thinking["thinkingBudget"] = request.thinking.budget
            config["thinkingConfig"] = thinking
        if config:
            body["generationConfig"] = config
        if request.tools:
            declarations = []
            for tool in request.tools:
                declaration = {"name": tool.name, "parametersJsonSchema": tool.parameters}
                if tool.description:
                    declaration["description"] = tool.description
                declarations.append(declaration)
            body["tools"] = [{"functionDeclarations": declarations}]
        model = quote(request.model.removeprefix("models/"), safe="-._~")
        if request.stream:
            path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
        else:
            path = f"/v1beta/models/{model}:generateContent"
        return HttpRequest("POST", path, body, _auth(api_key))

    def parser(self, request: ChatRequest | None = None) -> GeminiParser:
        return GeminiParser()

    def models_request(self, api_key: str | None) -> HttpRequest:
        return HttpRequest("GET", "/v1beta/models?pageSize=1000", None, _auth(api_key))

    def parse_models(self, body: Any) -> list[str]:
        names = []
        for item in as_list(as_dict(body).get("models")):
            item = as_dict(item)
            methods = as_list(item.get("supportedGenerationMethods"))
            if methods and "generateContent" not in methods:
                continue  # embedding models and the like
            if name := text_of(item.get("name")).removeprefix("models/"):
                names.append(name)
        return sorted(names)

    def parse_response(self, body: Any, request: ChatRequest | None = None) -> list[StreamEvent]:
        if not isinstance(body, dict):
            raise ApiError("the server's reply is not a JSON object", kind="protocol")
        parser = GeminiParser(mid_stream=False)
        events = parser.feed("", json.dumps(body))
        # A whole reply cannot have been cut off: without a finishReason it
        # is kept, finished without one.
        return events + (parser.end() if parser.stopped else [Finished(None)])

    def error_message(self, body: Any) -> str | None:
        if isinstance(body, list) and body:  # the JSON-array form wraps errors too
            body = body[0]
        return error_text(body)

    def adapt(self, status: int, body: Any) -> bool:
        return False


class GeminiParser:
    """Turns the events of one `streamGenerateContent` stream into unified events."""

    def __init__(self, mid_stream: bool = True) -> None:
        self.done = False  # no end marker: the stream ends at EOF
        self._mid_stream = mid_stream
        self._tools = 0
        self._native: str | None = None
        self._blocked = False  # the prompt was refused (promptFeedback)
        self._visible: int | None = None  # the latest candidatesTokenCount
        self._thoughts: int | None = None  # the latest thoughtsTokenCount

    @property
    def stopped(self) -> bool:
        """Whether the server said why the answer ended."""
        return self._native is not None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        response = as_dict(frame_json(event, data, GeminiGenerate.label))
        if error := response.get("error"):
            detail = error if isinstance(error, dict) else {"message": str(error)}
            raise failure(detail, self._mid_stream)
        if event == "error" or (not OWN_KEYS & response.keys() and error_words(response)):
            raise failure(response, self._mid_stream)  # a proxy's `{"message"}`, `{"detail"}`
        events: list[StreamEvent] = []
        candidates = as_list(response.get("candidates"))
        candidate = as_dict(candidates[0]) if candidates else {}
        for part in as_list(as_dict(candidate.get("content")).get("parts")):
            events += self._part(as_dict(part))
        if usage := self._usage(as_dict(response.get("usageMetadata"))):
            events.append(usage)
        native = text_of(candidate.get("finishReason"))
        blocked = text_of(as_dict(response.get("promptFeedback")).get("blockReason"))
        if native:
            self._native = native
        elif blocked:
            self._native, self._blocked = blocked, True
        return events

    def _part(self, part: dict[str, Any]) -> list[StreamEvent]:
        if isinstance(call := part.get("functionCall"), dict):
            index = self._tools
            self._tools += 1
            events: list[StreamEvent] = [
                ToolCallDelta(
                    index,
                    text_of(call.get("id")) or None,
                    text_of(call.get("name")) or None,
                    _arguments(call.get("args")),
                )
            ]
            if signature := text_of(part.get("thoughtSignature")):
                events.append(Replay(WIRE, {"tool_index": index, "thoughtSignature": signature}))
            return events
        text = text_of(part.get("text"))
        if not text:
            return []
        return [ReasoningDelta(text) if part.get("thought") is True else TextDelta(text)]

    def _usage(self, metadata: dict[str, Any]) -> Usage | None:
        """Each count is cumulative on its own: one an event leaves out keeps
        its last value (a later event without `candidatesTokenCount` has not
        taken the answer's tokens back), and output is the sum of the two."""
        if not metadata:
            return None
        visible = count(metadata.get("candidatesTokenCount"))
        thoughts = count(metadata.get("thoughtsTokenCount"))
        self._visible = visible if visible is not None else self._visible
        self._thoughts = thoughts if thoughts is not None else self._thoughts
        known = [n for n in (self._visible, self._thoughts) if n is not None]
        return Usage(
            input_tokens=count(metadata.get("promptTokenCount")),
            output_tokens=sum(known) if known else None,
            reasoning_tokens=self._thoughts,
        )

    def end(self) -> list[StreamEvent]:
        native = self._native
        if native is None:
            raise cut_off("with no finishReason")
        if self._blocked:  # a promptFeedback block reason: SAFETY, OTHER, …
            return [Finished("content_filter", native)]
        reason = normalise_finish(native, FINISH)  # one added later is `other`
        if reason == "stop" and self._tools:
            reason = "tool_calls"  # Gemini says STOP after a function call
        return [Finished(reason, native)]


def _arguments(args: Any) -> str:
    """A call's `args` as JSON text: an object as Gemini sends it, or a
    string a translation already encoded, kept as it is."""
    if isinstance(args, str):
        return args
    return json.dumps(args if args is not None else {})


def to_contents(request: ChatRequest) -> list[dict[str, Any]]:
    """Turns as Gemini `contents`: roles `user` and `model`; a model turn's
    function calls go back with the thought signatures they came with."""
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role != "assistant":
            contents.append({"role": "user", "parts": [{"text": message.text}]})
            continue
        parts: list[dict[str, Any]] = []
        if message.text:
            parts.append({"text": message.text})
        signatures = {
            r.data.get("tool_index"): r.data.get("thoughtSignature")
            for r in message.replay
            if r.wire == WIRE
        }
        for n, call in enumerate(message.tool_calls):
            arguments = call.arguments if isinstance(call.arguments, dict) else {}
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": arguments}}
            if signatures.get(n):
                part["thoughtSignature"] = signatures[n]
            parts.append(part)
        contents.append({"role": "model", "parts": parts or [{"text": ""}]})
    return contents


def _auth(api_key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": api_key} if api_key else {}


OWN_KEYS = frozenset(
    {"candidates", "usageMetadata", "promptFeedback", "modelVersion", "responseId"}
)
"""Keys of a GenerateContentResponse: a frame with none of them is something else."""


def failure(error: dict[str, Any], mid_stream: bool = True) -> ApiError:
    """`{"code": 503, "message": "...", "status": "UNAVAILABLE"}`, or a
    proxy's error in another shape."""
    status = text_of(error.get("status"))
    message = error_words(error) or "the request failed"
    label = "the server reported an error" + (" mid-stream" if mid_stream else "")
    if status:
        label = f"{label} ({status})"
    return ApiError(f"{label}: {message}", kind="provider", detail=error)
