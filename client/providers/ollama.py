"""Ollama's native chat API (`POST /api/chat`): NDJSON, one object per line.

Why native rather than Ollama's OpenAI-compatible `/v1`: it streams the
reasoning of thinking models (`message.thinking`, asked for with `think`),
reports how long prompt evaluation and generation took, and takes a JSON
Schema in `format`. Tool calls arrive whole, arguments as a JSON object, in
one line; the last line has `done: true`, `done_reason` and the counts
(`prompt_eval_count`, `eval_count`). An error after output has started is
one more line, `{"error": "..."}`, with the status still 200: the partial
answer is kept (an `error` that is null or empty is no error). A stream
without its `done` line was cut off; a whole unstreamed reply without
`done` is kept, with no finish reason.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ApiError, ConfigError, cut_off
from ..events import Finished, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, Usage
from ..request import ChatRequest
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    check_prefill,
    count,
    error_excerpt,
    error_words,
    normalise_finish,
    parse_json,
    text_of,
)
from .openai_chat import error_text, function_tool

FINISH = {"stop": "stop", "length": "length", "load": "other", "unload": "other"}


class OllamaChat:
    """The wire format object; stateless, one per endpoint."""

    label = "Ollama"
    framing = "ndjson"

    def can_prefill(self, request: ChatRequest) -> bool:
        """/api/chat continues a trailing assistant message (its maintainers'
        advice for "continue": ollama/ollama#6778), but not with `think`:
        the model would have to start a thinking part first."""
        return request.thinking is None

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        if request.prefill and not self.can_prefill(request):
            raise ConfigError(
                "Ollama cannot continue an answer in place with thinking on",
                fix="ask it to continue with a new message",
            )
        check_prefill(request, self.label)
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        for message in request.messages:
            item: dict[str, Any] = {"role": message.role, "content": message.text}
            if message.tool_calls:
                item["tool_calls"] = [
                    {"function": {"name": call.name, "arguments": call.arguments or {}}}
                    for call in message.tool_calls
                ]
            messages.append(item)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": request.stream,
        }
        options: dict[str, Any] = {}
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if options:
            body["options"] = options
        if request.tools:
            body["tools"] = [function_tool(tool) for tool in request.tools]
        if request.output_schema is not None:
            body["format"] = request.output_schema.schema
        if request.thinking is not None:
            body["think"] = True
        return HttpRequest("POST", "/api/chat", body, _auth(api_key))

    def parser(self, request: ChatRequest | None = None) -> OllamaParser:
        return OllamaParser()

    def models_request(self, api_key: str | None) -> HttpRequest:
        return HttpRequest("GET", "/api/tags", None, _auth(api_key))

    def parse_models(self, body: Any) -> list[str]:
        items = as_list(as_dict(body).get("models"))
        names = (text_of(as_dict(item).get("name") or as_dict(item).get("model")) for item in items)
        return sorted(name for name in names if name)

    def parse_response(self, body: Any, request: ChatRequest | None = None) -> list[StreamEvent]:
        if not isinstance(body, dict):
            raise ApiError("the server's reply is not a JSON object", kind="protocol")
        parser = OllamaParser(mid_stream=False)
        events = parser.feed("", json.dumps(body))
        # A whole reply cannot have been cut off: without `done` it is kept,
        # finished without a reason.
        return events + (parser.end() if parser.done else [Finished(None)])

    def error_message(self, body: Any) -> str | None:
        return error_text(body)

    def adapt(self, status: int, body: Any) -> bool:
        return False


class OllamaParser:
    """Turns the lines of one `/api/chat` stream into unified events."""

    def __init__(self, mid_stream: bool = True) -> None:
        self.done = False
        self._mid_stream = mid_stream
        self._tools = 0
        self._finished: Finished | None = None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        line = as_dict(parse_json(data, OllamaChat.label))
        # Not `"error": null` or "" from a look-alike server; a line with no
        # `done` and a `message` that is not a message is a proxy's error.
        stray = "done" not in line and not isinstance(line.get("message"), dict)
        if line.get("error") or (stray and error_words(line)):
            said = error_words(line) or error_excerpt(line["error"])
            where = " mid-stream" if self._mid_stream else ""
            raise ApiError(f"the server reported an error{where}: {said}", kind="provider")
        events: list[StreamEvent] = []
        message = as_dict(line.get("message"))
        if thinking := text_of(message.get("thinking")):
            events.append(ReasoningDelta(thinking))
        if content := text_of(message.get("content")):
            events.append(TextDelta(content))
        for call in as_list(message.get("tool_calls")):
            function = as_dict(as_dict(call).get("function"))
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments if arguments is not None else {})
            call_id = text_of(as_dict(call).get("id")) or None
            name = text_of(function.get("name")) or None
            events.append(ToolCallDelta(self._tools, call_id, name, arguments))
            self._tools += 1
        if line.get("done") is True:
            self.done = True
            events.append(
                Usage(
                    input_tokens=count(line.get("prompt_eval_count")),
                    output_tokens=count(line.get("eval_count")),
                )
            )
            native = text_of(line.get("done_reason")) or "stop"
            reason = normalise_finish(native, FINISH)
            if reason == "stop" and self._tools:
                reason = "tool_calls"  # Ollama says "stop" after a tool call
            self._finished = Finished(reason, native)
            events.append(self._finished)
        return events

    @property
    def stopped(self) -> bool:
        """Whether the done line came (it is the end marker too)."""
        return self._finished is not None

    def end(self) -> list[StreamEvent]:
        if self._finished is None:
            raise cut_off("with no done line")
        return []


def _auth(api_key: str | None) -> dict[str, str]:
    """Ollama itself takes no key; its cloud and proxies in front of it take a bearer."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
