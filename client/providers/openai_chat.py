"""OpenAI Chat Completions streaming (`POST /chat/completions`, `stream: true`).

One format covers OpenAI itself and the servers that copy it: Ollama's /v1,
vLLM, llama.cpp's llama-server, LM Studio, OpenRouter, Groq, DeepSeek. The
copies differ in small ways this parser tolerates on purpose: reasoning as
`reasoning_content` or `reasoning`, usage on a chunk with empty `choices` or
with an empty delta, nulls for every absent field, tool-call `id`/`name`
repeated on every fragment, `[DONE]` with no finish reason, an `error`
object sent as an ordinary data line after the 200 status, and Mistral's
content as a list of typed chunks (text, thinking), streamed or not.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ApiError, cut_off
from ..events import (
    Finished,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from ..request import ChatRequest, Tool
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    count,
    error_excerpt,
    error_words,
    frame_json,
    normalise_finish,
    refuse_prefill,
)

FINISH = {"function_call": "tool_calls", "eos": "stop", "end_turn": "stop", "error": "error"}
"""OpenAI's own words pass through; a few copies use others."""


class OpenAIChat:
    """The wire format object; stateless, one per endpoint."""

    label = "OpenAI Chat Completions"
    framing = "sse"

    def __init__(self) -> None:
        self.stream_options = True
        """False once the endpoint refused `stream_options` (Cohere)."""

    def can_prefill(self, request: ChatRequest) -> bool:
        """Never: OpenAI answers a trailing assistant message as a new turn, and
        which compatible server continues one (llama.cpp does; vLLM only with
        its own `continue_final_message`) cannot be told from the URL."""
        return False

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        refuse_prefill(request, self.label)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": to_wire_messages(request.system, request.messages),
            "stream": request.stream,
        }
        if request.stream and self.stream_options:
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [function_tool(tool) for tool in request.tools]
        if request.output_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.output_schema.name,
                    "schema": request.output_schema.schema,
                },
            }
        if request.thinking is not None:
            body["reasoning_effort"] = request.thinking.effort()
        return HttpRequest("POST", "/chat/completions", body, _auth(api_key))

    def adapt(self, status: int, body: Any) -> bool:
        """After a refusal: whether the request should go out again, changed.

        Only for `stream_options`, which Cohere's compatibility API rejects
        with a 400 naming it; the retry happens once, before anything was
        shown, and the endpoint is remembered.
        """
        said = error_text(body) or ""
        if status == 400 and self.stream_options and "stream_options" in said:
            self.stream_options = False
            return True
        return False

    def parser(self, request: ChatRequest | None = None) -> OpenAIChatParser:
        return OpenAIChatParser()

    def models_request(self, api_key: str | None) -> HttpRequest:
        return HttpRequest("GET", "/models", None, _auth(api_key))

    def parse_models(self, body: Any) -> list[str]:
        items = as_list(as_dict(body).get("data"))
        return sorted(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)

    def parse_response(self, body: Any, request: ChatRequest | None = None) -> list[StreamEvent]:
        if not isinstance(body, dict):
            raise ApiError("the server's reply is not a JSON object", kind="protocol")
        if body.get("error"):
            raise error_in_stream(body["error"], mid_stream=False)
        events: list[StreamEvent] = []
        choices = as_list(body.get("choices"))
        reason = None
        if choices:
            choice = as_dict(choices[0])
            message = as_dict(choice.get("message"))
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            content = message.get("content")
            if isinstance(content, str) and content:
                events.append(TextDelta(content))
            elif isinstance(content, list):  # Mistral's typed chunks, unstreamed too
                events += typed_chunks(content)
            for i, call in enumerate(as_list(message.get("tool_calls"))):
                call = as_dict(call)
                fn = as_dict(call.get("function"))
                arguments = fn.get("arguments")
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments) if arguments is not None else ""
                index = call.get("index", i)
                index = index if isinstance(index, int) and not isinstance(index, bool) else i
                events.append(
                    ToolCallDelta(index, _str(call.get("id")), _str(fn.get("name")), arguments)
                )
            reason = _str(choice.get("finish_reason"))
        if usage := parse_usage(body.get("usage")):
            events.append(usage)
        events.append(finished(reason))
        return events

    def error_message(self, body: Any) -> str | None:
        return error_text(body)


class OpenAIChatParser:
    """Turns `data:` payloads of one response into unified events."""

    def __init__(self) -> None:
        self.done = False
        self.finish_reason: str | None = None

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            self.done = True
            return []
        chunk = frame_json(event, data, OpenAIChat.label)
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            raise error_in_stream(chunk["error"])
        if event == "error" or chunk.get("object") == "error" or _stray_error(chunk):
            # An error in another shape: vLLM's {"object": "error", "message"},
            # a gateway's {"message"} or {"detail"}, an `event: error` line.
            raise error_in_stream(chunk)
        events: list[StreamEvent] = []
        for choice in as_list(chunk.get("choices")):
            # With n > 1 choices differ only by index; we show the first.
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta"))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.append(TextDelta(content))
            elif isinstance(content, list):
                events += typed_chunks(content)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                events.append(TextDelta(refusal))
            for call in as_list(delta.get("tool_calls")):
                if not isinstance(call, dict):
                    continue
                fn = as_dict(call.get("function"))
                index = call.get("index", 0)
                arguments = fn.get("arguments")
                events.append(
                    ToolCallDelta(
                        index=index if isinstance(index, int) else 0,
                        id=_str(call.get("id")),
                        name=_str(fn.get("name")),
                        arguments=arguments if isinstance(arguments, str) else "",
                    )
                )
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self.finish_reason = reason
        if usage := parse_usage(chunk.get("usage")):
            events.append(usage)
        return events

    @property
    def stopped(self) -> bool:
        """Whether the server said why the answer ended."""
        return self.finish_reason is not None

    def end(self) -> list[StreamEvent]:
        if self.finish_reason is None:
            # llama-cpp-python ends a preempted answer with a bare [DONE].
            raise cut_off(
                "with [DONE] but no finish reason" if self.done else "with no finish reason"
            )
        return [finished(self.finish_reason)]


def finished(native: str | None) -> Finished:
    return Finished(normalise_finish(native, FINISH), native)


def typed_chunks(content: list[Any]) -> list[StreamEvent]:
    """Mistral's list of typed content chunks: text, and thinking (itself a
    list of text chunks) from its reasoning models."""
    events: list[StreamEvent] = []
    for chunk in content:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("type") == "text" and isinstance(text := chunk.get("text"), str) and text:
            events.append(TextDelta(text))
        elif chunk.get("type") == "thinking":
            parts = chunk.get("thinking")
            parts = parts if isinstance(parts, list) else [{"text": parts}]
            for part in parts:
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str) and text:
                    events.append(ReasoningDelta(text))
    return events


def function_tool(tool: Tool) -> dict[str, Any]:
    """A tool as Chat Completions (and Ollama) declare one."""
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def to_wire_messages(system: str | None, messages: list[Message]) -> list[dict[str, Any]]:
    """Chat messages in OpenAI's shape, system prompt first."""
    wire: list[dict[str, Any]] = []
    if system:
        wire.append({"role": "system", "content": system})
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.text}
        if message.tool_calls:
            item["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_raw},
                }
                for call in message.tool_calls
            ]
        wire.append(item)
    return wire


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    details = usage.get("completion_tokens_details")
    return Usage(
        input_tokens=count(usage.get("prompt_tokens")),
        output_tokens=count(usage.get("completion_tokens")),
        reasoning_tokens=(
            count(details.get("reasoning_tokens")) if isinstance(details, dict) else None
        ),
    )


def error_text(body: Any) -> str | None:
    """The words of an error body (`base.error_words`: OpenAI's, Ollama's,
    vLLM's, FastAPI's shapes); None when the body is not a JSON object."""
    return error_words(body) if isinstance(body, dict) else None


def _stray_error(chunk: dict[str, Any]) -> bool:
    """A frame with none of a chunk's own keys that says what went wrong."""
    return "choices" not in chunk and "usage" not in chunk and error_words(chunk) is not None


def error_in_stream(error: Any, mid_stream: bool = True) -> ApiError:
    """An `error` object sent with a 200 status: as a data line, or as the body."""
    detail = error if isinstance(error, dict) else {"message": str(error)}
    message = error_words(error) or error_excerpt(error)
    kind_name = detail.get("type") or detail.get("code")
    label = "the server reported an error" + (" mid-stream" if mid_stream else "")
    if isinstance(kind_name, str) and kind_name:
        label = f"{label} ({kind_name})"
    return ApiError(f"{label}: {message}", kind="provider", detail=detail)
