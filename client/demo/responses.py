"""OpenAI Responses as the demo server speaks it: /v1/responses, its checks and every byte.

Why a module of its own: the Responses API streams a different grammar from
Chat Completions over the same kind of socket. Every event is typed twice (an
`event:` line and a `type`) and numbered (`sequence_number` 0, 1, 2...), the
answer is a list of output items (reasoning, message, function_call) each
opened, filled and closed by its own events, the usage and the final status
come only in the terminal `response.completed` / `response.incomplete` /
`response.failed` event, and there is no `[DONE]`. Keys, refusals and error
bodies are OpenAI's, so those come from `openai`; this module adds the
request translation and the stream.

Choices a client author should know about:

- `demo-think` shows its reasoning as a reasoning item with a streamed
  summary, whether or not the request sets `reasoning.summary`: the answer is
  planned from the neutral request, so each model behaves the same whichever
  API asks it.
- A `max_output_tokens` cut ends with `response.incomplete`
  (`incomplete_details.reason` "max_output_tokens", the last item "incomplete").
- The `midstream_error` fault ends with `response.failed` (status "failed",
  `error.code` "server_error", `output` [] and `usage` null, as OpenAI sends
  it) rather than the bare `error` event: it is the terminal event a client
  must handle anyway, and it carries the response id.
- There is no end marker, so `end()` is b"" and the `done_no_finish` fault is
  the same as `truncate` here: the body ends with no terminal event.
- The `keepalive` fault sends SSE comments, which take no sequence number.
- `finish_no_end` closes the last item (its `.done` events) and then sends
  nothing, not even `response.completed`: the finish reason never comes.
  `error_message_only` is Responses' own `error` event (`message` at the top,
  no `error` object); `nameless_tool` adds a function_call item with no
  `name` and no `call_id`.
- The response object echoes the request's parameters (instructions, tools,
  max_output_tokens, reasoning) as their defaults, because an encoder sees
  the plan, not the request; `store` is false because nothing is stored, and
  a `previous_response_id` is refused as OpenAI refuses an unknown one.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Mapping
from typing import Any

from .encoder import (
    BAD_DETAIL,
    BAD_HUGE,
    BAD_INPUT,
    BAD_OUTPUT,
    BAD_TOTAL,
    MESSAGE_ONLY,
    AnswerOptions,
    Reply,
    Route,
    raw_numbers,
)
from .h11conn import Request
from .openai import MIDSTREAM_ERROR, OpenAIChat, dumps, error, to_json, validate
from .plan import ChatRequest, Plan, counts_as_token

__all__ = ["MIN_OUTPUT_TOKENS", "OpenAIResponses", "ResponsesAnswer", "neutral_request"]

#: The smallest `max_output_tokens` OpenAI accepts.
MIN_OUTPUT_TOKENS = 16

_HEX = "0123456789abcdef"
_ITEM_OF = {
    "reasoning": "reasoning",
    "content": "message",
    "tool_header": "function_call",
    "args": "function_call",
}
_MESSAGE_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")


class OpenAIResponses:
    """The `Api` of OpenAI Responses: POST /v1/responses, refused as Chat Completions refuses."""

    _ROUTES: Mapping[str, Route] = {"/v1/responses": Route("chat", "POST")}

    def __init__(self) -> None:
        self._chat = OpenAIChat()

    def route(self, path: str) -> Route | None:
        return self._ROUTES.get(path)

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        return self._chat.check_auth(api_key, request)

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        problem = _problem(request.body, body)
        if problem is not None:
            return Reply(400, problem, label="invalid_request_error")
        assert isinstance(body, dict)
        return neutral_request(body)

    def models(self, models: Mapping[str, str]) -> Reply:
        return self._chat.models(models)

    def unknown_model(self, model: str) -> Reply:
        return self._chat.unknown_model(model)

    def fault(self, status: int, model: str) -> Reply:
        return self._chat.fault(status, model)

    def not_found(self, method: str, path: str) -> Reply:
        return self._chat.not_found(method, path)

    def wrong_method(self, method: str, path: str) -> Reply:
        return self._chat.wrong_method(method, path)

    def bug(self, exc: BaseException) -> Reply:
        return self._chat.bug(exc)

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> ResponsesAnswer:
        return ResponsesAnswer(plan, options, rng)


class ResponsesAnswer:
    """The `AnswerEncoder` of one Responses answer: numbered, typed events of output items.

    Stateful because the stream is: each change of event kind in the plan
    closes the open output item (with its `.done` events) and adds the next
    at the next `output_index`; the terminal event carries every item.
    """

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> None:
        self._plan = plan
        self._options = options
        self._rng = rng
        self._id = "resp_" + _hex(rng)
        self._created = int(time.time())
        self._seq = 0
        #: Output items so far, each as the terminal event will show it.
        self._output: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._text: list[str] = []  # the open item's text or arguments

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-cache"),
            ("openai-processing-ms", str(int(self._options.ttft * 1000))),
        ]

    def _event(self, type_: str, **fields: Any) -> bytes:
        nl = self._options.newline
        data = to_json({"type": type_, "sequence_number": self._seq, **fields})
        if self._options.bad_usage:
            data = raw_numbers(data)
        self._seq += 1
        return f"event: {type_}{nl}data: {data}{nl}{nl}".encode()

    def _response(self, status: str, **changes: Any) -> dict[str, Any]:
        """The response object in its state `status`."""
        body: dict[str, Any] = {
            "id": self._id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "background": False,
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": self._plan.model,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
        }
        body.update(changes)
        return body

    def opening(self) -> bytes:
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    # ------------------------------------------------------------- items

    def token(self, kind: str, piece: str) -> bytes:
        if kind == "stray_tool":
            return self._stray(piece)
        out = self._enter(_ITEM_OF[kind])
        item = self._open
        assert item is not None
        index = len(self._output)
        if kind == "tool_header":
            return out
        self._text.append(piece)
        where = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            return out + self._event(
                "response.reasoning_summary_text.delta",
                **where,
                summary_index=0,
                delta=piece,
                obfuscation=self._obfuscation(),
            )
        if kind == "content":
            return out + self._event(
                "response.output_text.delta",
                **where,
                content_index=0,
                delta=piece,
                logprobs=[],
                obfuscation=self._obfuscation(),
            )
        return out + self._event(
            "response.function_call_arguments.delta",
            **where,
            delta=piece,
            obfuscation=self._obfuscation(),
        )

    def _stray(self, piece: str) -> bytes:
        """The `nameless_tool` fault: a function_call item with no name and no call_id."""
        out = self._close("completed")
        index = len(self._output)
        item = {
            "id": "fc_" + _hex(self._rng),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
        }
        out += self._event("response.output_item.added", output_index=index, item=item)
        self._open, self._text = item, [piece]
        return out + self._event(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=index,
            delta=piece,
            obfuscation=self._obfuscation(),
        )

    def _obfuscation(self) -> str:
        """Random padding, as OpenAI adds to each delta so its length says nothing."""
        return "".join(
            self._rng.choices(string.ascii_letters + string.digits, k=self._rng.randint(1, 12))
        )

    def _enter(self, item_type: str) -> bytes:
        """Close the open item and add one of `item_type`, unless that is the open one."""
        if self._open is not None and self._open["type"] == item_type:
            return b""
        out = self._close("completed")
        index = len(self._output)
        if item_type == "reasoning":
            item: dict[str, Any] = {
                "id": "rs_" + _hex(self._rng),
                "type": "reasoning",
                "summary": [],
            }
            added = self._event("response.output_item.added", output_index=index, item=item)
            part = {"type": "summary_text", "text": ""}
            added += self._event(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                part=part,
            )
        elif item_type == "message":
            item = {
                "id": "msg_" + _hex(self._rng),
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
            added = self._event("response.output_item.added", output_index=index, item=item)
            added += self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=_output_text(""),
            )
        else:
            item = {
                "id": "fc_" + _hex(self._rng),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": self._plan.tool_id,
                "name": self._plan.tool_name,
            }
            added = self._event("response.output_item.added", output_index=index, item=item)
        self._open = item
        self._text = []
        return out + added

    def _close(self, status: str) -> bytes:
        """The `.done` events of the open item, which then joins the output as `status`."""
        item = self._open
        if item is None:
            return b""
        self._open = None
        text = "".join(self._text)
        index = len(self._output)
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            part = {"type": "summary_text", "text": text}
            out = self._event(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=text
            )
            out += self._event(
                "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
            done = {"id": item["id"], "type": "reasoning", "summary": [part]}
        elif item["type"] == "message":
            out = self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            out += self._event(
                "response.content_part.done", **where, content_index=0, part=_output_text(text)
            )
            done = {**item, "status": status, "content": [_output_text(text)]}
        else:
            out = self._event("response.function_call_arguments.done", **where, arguments=text)
            done = {**item, "status": status, "arguments": text}
        self._output.append(done)
        return out + self._event("response.output_item.done", output_index=index, item=done)

    # ------------------------------------------------------------- the end

    def keepalive(self) -> bytes:
        nl = self._options.newline
        return f": keep-alive{nl}{nl}".encode()

    def _final(self, sent: int) -> tuple[bytes, dict[str, Any]]:
        """Close the last item; the terminal event's type and its response object."""
        cut = self._plan.finish_reason == "length"
        closing = self._close("incomplete" if cut else "completed")
        usage = self._usage(sent) if self._options.usage else None
        if cut:
            response = self._response(
                "incomplete",
                incomplete_details={"reason": "max_output_tokens"},
                output=self._output,
                usage=usage,
            )
            return closing + self._event("response.incomplete", response=response), response
        response = self._response(
            "completed", completed_at=int(time.time()), output=self._output, usage=usage
        )
        return closing + self._event("response.completed", response=response), response

    def finish(self, sent: int) -> bytes:
        return self._final(sent)[0]

    def _usage(self, sent: int) -> dict[str, Any]:
        if self._options.bad_usage:
            return {
                "input_tokens": BAD_INPUT,
                "input_tokens_details": {"cached_tokens": BAD_HUGE},
                "output_tokens": BAD_OUTPUT,
                "output_tokens_details": {"reasoning_tokens": BAD_DETAIL},
                "total_tokens": BAD_TOTAL,
            }
        tokens = [kind for kind, _ in self._plan.events if counts_as_token(kind)][:sent]
        return {
            "input_tokens": self._plan.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": sent,
            "output_tokens_details": {"reasoning_tokens": tokens.count("reasoning")},
            "total_tokens": self._plan.prompt_tokens + sent,
        }

    def usage(self, sent: int) -> bytes:
        return b""  # in the terminal event, see `finish`

    def end(self) -> bytes:
        return b""  # no [DONE]: the terminal event ends the stream

    def settle(self, sent: int) -> bytes:
        """The last item's `.done` events, without the terminal event (which is the end)."""
        return self._close("incomplete" if self._plan.finish_reason == "length" else "completed")

    def midstream_error(self) -> bytes:
        failure = {"code": "server_error", "message": MIDSTREAM_ERROR["message"]}
        response = self._response("failed", error=failure)
        return self._event("response.failed", response=response)

    def message_only_error(self) -> bytes:
        """Responses' own `error` event: its message at the top, no `error` object."""
        return self._event("error", code=None, message=MESSAGE_ONLY, param=None)

    def complete(self) -> Reply:
        """The whole response object, built by running the plan through this same encoder."""
        for kind, piece in self._plan.events:
            self.token(kind, piece)
        text = to_json(self._final(self._plan.tokens)[1])
        if self._options.bad_usage:
            text = raw_numbers(text)
        return Reply(200, text.encode("utf-8"))

    def server_error(self) -> Reply:
        return Reply(500, dumps({"error": MIDSTREAM_ERROR}))


def _hex(rng: random.Random) -> str:
    return "".join(rng.choices(_HEX, k=32))


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


# ----------------------------------------------------------------- requests


def _bad(message: str, param: str | None, code: str | None = None) -> bytes:
    return error(message, "invalid_request_error", code, param)


def _problem(raw: bytes, body: Any) -> bytes | None:
    """The 400 body OpenAI sends for this Responses request, else None."""
    if not isinstance(body, dict):
        return validate(raw, body)  # not JSON, or not an object: worded as Chat Completions does
    if "model" not in body:
        return _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if not isinstance(body["model"], str):
        return _bad("Invalid type for 'model': expected a string.", "model", "invalid_type")
    if isinstance(body.get("previous_response_id"), str):
        return _bad(
            f"Previous response with id '{body['previous_response_id']}' not found.",
            "previous_response_id",
            "previous_response_not_found",
        )
    limit = body.get("max_output_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            message = "Invalid type for 'max_output_tokens': expected an integer."
            return _bad(message, "max_output_tokens", "invalid_type")
        if limit < MIN_OUTPUT_TOKENS:
            return _bad(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
                f">= {MIN_OUTPUT_TOKENS}, but got {limit} instead.",
                "max_output_tokens",
                "integer_below_min_value",
            )
    return _input_problem(body.get("input")) or _tools_problem(body.get("tools"))


def _input_problem(items: Any) -> bytes | None:
    if items is None:
        return _bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    if isinstance(items, str):
        return None
    if not isinstance(items, list):
        return _bad("Invalid type for 'input': expected a string or an array.", "input")
    calls: set[Any] = set()
    for n, item in enumerate(items):
        where = f"input[{n}]"
        if not isinstance(item, dict):
            return _bad(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
        kind = item.get("type", "message" if "role" in item else None)
        if kind not in _ITEM_TYPES:
            supported = ", ".join(f"'{t}'" for t in _ITEM_TYPES)
            return _bad(
                f"Invalid value: '{kind}'. Supported values are: {supported}.",
                f"{where}.type",
                "invalid_value",
            )
        if kind == "message" and item.get("role") not in _MESSAGE_ROLES:
            roles = ", ".join(f"'{r}'" for r in _MESSAGE_ROLES)
            return _bad(
                f"Invalid value: '{item.get('role')}'. Supported values are: {roles}.",
                f"{where}.role",
                "invalid_value",
            )
        if kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    return _bad(
                        f"Missing required parameter: '{where}.{name}'.",
                        f"{where}.{name}",
                        "missing_required_parameter",
                    )
            calls.add(item["call_id"])
        if kind == "function_call_output" and item.get("call_id") not in calls:
            return _bad(
                f"No tool call found for function call output with call_id {item.get('call_id')}.",
                "input",
            )
    return None


def _tools_problem(tools: Any) -> bytes | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return _bad("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            return _bad(
                f"Missing required parameter: 'tools[{n}].type'.",
                f"tools[{n}].type",
                "missing_required_parameter",
            )
        # Chat Completions' {"type": "function", "function": {...}} is the usual mistake.
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            return _bad(
                f"Missing required parameter: 'tools[{n}].name'.",
                f"tools[{n}].name",
                "missing_required_parameter",
            )
    return None


# ----------------------------------------------------------------- translation


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def neutral_request(body: dict[str, Any]) -> ChatRequest:
    """A checked Responses request as the neutral, OpenAI-chat-shaped `ChatRequest`.

    `instructions` becomes a system message, `function_call` items assistant
    `tool_calls` (consecutive ones in one message, as Chat Completions groups
    parallel calls), `function_call_output` items `tool` messages; reasoning
    items carry nothing a plan uses and are dropped.
    """
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body["input"]
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            content = item.get("content")
            if isinstance(content, list):
                content = [{"type": "text", "text": _text_of([p])} for p in content]
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _text_of(output)}
            )
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("parameters") or {},
            },
        }
        for tool in body.get("tools") or []
        if tool.get("type") == "function"
    ]
    return ChatRequest(
        model=body["model"],
        messages=messages,
        tools=tools,
        max_tokens=body.get("max_output_tokens"),
        stream=body.get("stream") is True,
        include_usage=True,  # the terminal event always carries usage
        schema=_text_schema(body.get("text")),
    )


def _text_schema(text: Any) -> dict[str, Any] | None:
    """`text.format`: `json_schema` gives a schema, `json_object` any object."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {}
    if fmt.get("type") == "json_schema":
        return fmt["schema"] if isinstance(fmt.get("schema"), dict) else {}
    return None
