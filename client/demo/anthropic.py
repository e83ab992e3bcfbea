"""Anthropic Messages as the demo server speaks it: /v1/messages, its checks and every byte.

Why a module of its own: a client written for Anthropic must cope with typed
SSE events (an `event:` line and the same `type` in the JSON), content blocks
that open and close with an `index`, a thinking block signed just before it
closes, tool input streamed as partial JSON starting with "", usage split
between `message_start` and `message_delta`, and an `overloaded_error` event
in the middle of a 200. None of that shape is the server's business: the
server and `pacing` decide when bytes go out, this module decides what they
look like, behind the `Api` and `AnswerEncoder` protocols of `encoder`.

Choices a client author should know about:

- Thinking follows the model, not the request: `demo-think` streams a
  thinking block first whether or not the request enables `thinking`, and
  `demo` never thinks even with it. The answer is planned from the neutral
  request (`plan`), so each model behaves the same whichever API asks it.
  `thinking` is still checked as Anthropic checks it (budget >= 1024 and
  below `max_tokens`).
- Signatures are a digest of the thinking text, so a thinking block sent back
  with its text or signature altered is refused with Anthropic's 400.
- `ping` and `error` events are written with a space after the colon
  (`{"type": "ping"}`), as Anthropic writes them; everything else is compact.
- The `keepalive` fault sends `ping` events (Anthropic's keep-alive), not SSE
  comments. `no_usage` zeroes `message_start`'s usage and leaves it out of
  `message_delta`, as a proxy that counts nothing would. `done_no_finish`
  sends `message_stop` with no `content_block_stop` and no `message_delta`:
  a stream that ends politely without saying why. `finish_no_end` sends the
  last `content_block_stop` and `message_delta` (stop reason, usage), then
  no `message_stop`. `error_message_only` is an `event: error` whose data is
  `{"message": ...}` alone; `nameless_tool` is a whole `tool_use` block with
  no `id` and no `name`; `bad_usage` puts the bad numbers in both usages.
- `GET /v1/models` is shared with OpenAI: `owns()` claims it for requests
  that carry `anthropic-version` or `x-api-key` (every Anthropic client
  sends one of them; OpenAI clients send neither), so one server answers
  both kinds of client with the list shape each expects.
- Refusals carry a `request-id` header and the same id in the body, as
  Anthropic's do; their ids come from a private generator because the `Api`
  methods that build refusals get no rng (answers use the server's).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import time
from collections.abc import Iterator, Mapping
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
from .h11conn import REASONS, Request
from .plan import ChatRequest, Plan

__all__ = [
    "OVERLOADED",
    "STOP_REASONS",
    "AnthropicAnswer",
    "AnthropicMessages",
    "signature_for",
]

_ALNUM = string.ascii_letters + string.digits
_MODEL_CREATED_AT = "2025-01-01T00:00:00Z"  # a fixed date so the model list is stable
_THINKING_MIN_BUDGET = 1024

#: The plan's finish reasons as Anthropic's stop reasons.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

#: The error Anthropic sends in mid-stream when it is overloaded (HTTP 529 if not streaming).
OVERLOADED = {"type": "overloaded_error", "message": "Overloaded"}

# Anthropic writes these two events with Python's default separators.
_PING = '{"type": "ping"}'
_STREAM_ERROR = json.dumps({"type": "error", "error": OVERLOADED})

#: Which content block each kind of plan event belongs to.
_BLOCK_OF = {
    "reasoning": "thinking",
    "content": "text",
    "tool_header": "tool_use",
    "args": "tool_use",
}

# Refusals are built by `Api` methods that get no rng; see the module docstring.
_refusal_ids = random.Random()


class AnthropicMessages:
    """The `Api` of Anthropic Messages: POST /v1/messages, and GET /v1/models when `owns()`."""

    _ROUTES: Mapping[str, Route] = {
        "/v1/messages": Route("chat", "POST"),
        "/v1/models": Route("models", "GET"),
    }

    def route(self, path: str) -> Route | None:
        return self._ROUTES.get(path)

    def owns(self, request: Request) -> bool:
        """Whether a request on a path shared with another API is an Anthropic client's."""
        return "anthropic-version" in request.headers or "x-api-key" in request.headers

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        if api_key is None:
            return None
        given = request.headers.get("x-api-key")
        if given is None:
            # The newest SDK sends the key as a bearer token instead.
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        if given == api_key:
            return None
        message = "x-api-key header is required" if not given else "invalid x-api-key"
        return _error_reply(401, "authentication_error", message)

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        problem = _problem(request.body, body)
        if problem is not None:
            return _error_reply(400, "invalid_request_error", problem)
        assert isinstance(body, dict)
        return ChatRequest(
            model=body["model"],
            messages=neutral_messages(body.get("system"), body["messages"]),
            tools=neutral_tools(body.get("tools")),
            max_tokens=body["max_tokens"],
            stream=body.get("stream") is True,
            include_usage=True,  # Anthropic always reports usage
            forced_tool=_forced_tool(body.get("tool_choice")),
        )

    def models(self, models: Mapping[str, str]) -> Reply:
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name.replace("-", " ").title(),
                "created_at": _MODEL_CREATED_AT,
            }
            for name in models
        ]
        ids = [entry["id"] for entry in data]
        body = {
            "data": data,
            "has_more": False,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }
        return Reply(200, _dumps(body), headers=(("request-id", _request_id(_refusal_ids)),))

    def unknown_model(self, model: str) -> Reply:
        return _error_reply(404, "not_found_error", f"model: {model}")

    def fault(self, status: int, model: str) -> Reply:
        return fault_response(status, model)

    def not_found(self, method: str, path: str) -> Reply:
        return _error_reply(404, "not_found_error", "Not Found")

    def wrong_method(self, method: str, path: str) -> Reply:
        return _error_reply(405, "invalid_request_error", "Method Not Allowed")

    def bug(self, exc: BaseException) -> Reply:
        return _error_reply(500, "api_error", f"demo server bug: {exc!r}")

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> AnthropicAnswer:
        return AnthropicAnswer(plan, options, rng)


class AnthropicAnswer:
    """The `AnswerEncoder` of one Messages answer: typed SSE events, blocks opened as they come.

    Stateful because Anthropic's stream is: each change of event kind in the
    plan closes the open content block (a thinking block with its signature
    first) and opens the next at the next `index`.
    """

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> None:
        self._plan = plan
        self._options = options
        self._id = "msg_01" + "".join(rng.choices(_ALNUM, k=22))
        self._request_id = _request_id(rng)
        self._tool_id = tool_use_id(plan)
        self._block: str | None = None  # the open block's type
        self._index = -1
        self._thinking: list[str] = []

    def headers(self) -> list[tuple[str, str]]:
        return [("Cache-Control", "no-cache"), ("request-id", self._request_id)]

    def _event(self, name: str, data: dict[str, Any] | str) -> bytes:
        nl = self._options.newline
        text = data if isinstance(data, str) else _to_json(data)
        if self._options.bad_usage:
            text = raw_numbers(text)
        return f"event: {name}{nl}data: {text}{nl}{nl}".encode()

    def opening(self) -> bytes:
        """`message_start`, the first block's start (as Anthropic sends it), then a `ping`."""
        usage = self._options.usage
        message = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._plan.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(self._plan.prompt_tokens if usage else 0, 1 if usage else 0),
        }
        if self._options.bad_usage:
            message["usage"] = _bad_usage()
        out = self._event("message_start", {"type": "message_start", "message": message})
        if self._plan.events and self._plan.events[0][0] in _BLOCK_OF:
            out += self._enter(_BLOCK_OF[self._plan.events[0][0]])
        return out + self.keepalive()

    def token(self, kind: str, piece: str) -> bytes:
        if kind == "stray_tool":
            return self._stray(piece)
        out = self._enter(_BLOCK_OF[kind])
        if kind == "reasoning":
            self._thinking.append(piece)
            delta = {"type": "thinking_delta", "thinking": piece}
        elif kind == "content":
            delta = {"type": "text_delta", "text": piece}
        elif kind == "tool_header":
            delta = {"type": "input_json_delta", "partial_json": ""}
        else:
            delta = {"type": "input_json_delta", "partial_json": piece}
        return out + self._delta(delta)

    def _stray(self, piece: str) -> bytes:
        """The `nameless_tool` fault: a whole tool_use block with no id and no name."""
        out = self._close()
        self._index += 1
        start = {
            "type": "content_block_start",
            "index": self._index,
            "content_block": {"type": "tool_use", "input": {}},
        }
        out += self._event("content_block_start", start)
        out += self._delta({"type": "input_json_delta", "partial_json": piece})
        stop = {"type": "content_block_stop", "index": self._index}
        return out + self._event("content_block_stop", stop)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return self._event("content_block_delta", event)

    def _enter(self, block: str) -> bytes:
        """Close the open block and start `block`, unless it is the open one."""
        if block == self._block:
            return b""
        out = self._close()
        self._block = block
        self._index += 1
        if block == "thinking":
            start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif block == "text":
            start = {"type": "text", "text": ""}
        else:
            start = {
                "type": "tool_use",
                "id": self._tool_id,
                "name": self._plan.tool_name,
                "input": {},
            }
        event = {"type": "content_block_start", "index": self._index, "content_block": start}
        return out + self._event("content_block_start", event)

    def _close(self) -> bytes:
        """Stop the open block; a thinking block gets its signature just before."""
        if self._block is None:
            return b""
        out = b""
        if self._block == "thinking":
            signature = signature_for("".join(self._thinking))
            out = self._delta({"type": "signature_delta", "signature": signature})
        self._block = None
        stop = {"type": "content_block_stop", "index": self._index}
        return out + self._event("content_block_stop", stop)

    def keepalive(self) -> bytes:
        return self._event("ping", _PING)

    def finish(self, sent: int) -> bytes:
        """Close the last block, then `message_delta` with the stop reason and output tokens."""
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[self._plan.finish_reason], "stop_sequence": None},
        }
        if self._options.usage:
            delta["usage"] = {"output_tokens": BAD_OUTPUT if self._options.bad_usage else sent}
        return self._close() + self._event("message_delta", delta)

    def usage(self, sent: int) -> bytes:
        return b""  # in `message_delta`, see `finish`

    def end(self) -> bytes:
        return self._event("message_stop", {"type": "message_stop"})

    def settle(self, sent: int) -> bytes:
        return self.finish(sent)

    def midstream_error(self) -> bytes:
        return self._event("error", _STREAM_ERROR)

    def message_only_error(self) -> bytes:
        return self._event("error", {"message": MESSAGE_ONLY})

    def complete(self) -> Reply:
        body = message(self._plan, self._id, include_usage=self._options.usage)
        if self._options.bad_usage and "usage" in body:
            body["usage"] = {**_bad_usage(), "output_tokens": BAD_OUTPUT}
        text = _to_json(body)
        if self._options.bad_usage:
            text = raw_numbers(text)
        headers = (("request-id", self._request_id),)
        return Reply(200, text.encode("utf-8"), headers=headers)

    def server_error(self) -> Reply:
        return _error_reply(500, "api_error", "Internal server error", self._request_id)


# ----------------------------------------------------------------- bodies


def _to_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _dumps(obj: Any) -> bytes:
    return _to_json(obj).encode("utf-8")


def _request_id(rng: random.Random) -> str:
    return "req_011C" + "".join(rng.choices(_ALNUM, k=20))


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _bad_usage() -> dict[str, Any]:
    """`message_start`'s usage under the `bad_usage` fault (`message_delta` gets BAD_OUTPUT)."""
    return {
        "input_tokens": BAD_INPUT,
        "cache_creation_input_tokens": BAD_HUGE,
        "cache_read_input_tokens": BAD_DETAIL,
        "output_tokens": BAD_TOTAL,
        "service_tier": "standard",
    }


def tool_use_id(plan: Plan) -> str | None:
    """The `toolu_...` id of the plan's tool call, made from its `call_...` id (same rng draw)."""
    if plan.tool_id is None:
        return None
    return "toolu_01" + plan.tool_id.removeprefix("call_")[:22]


def signature_for(thinking: str) -> str:
    """The signature of a thinking block: a digest of its text, so tampering shows."""
    first = hashlib.sha512(b"tokentide-demo-thinking\0" + thinking.encode("utf-8")).digest()
    return base64.b64encode(first + hashlib.sha512(first).digest()).decode("ascii")


def message(plan: Plan, message_id: str, *, include_usage: bool) -> dict[str, Any]:
    """The whole unstreamed Message for `plan`."""
    content: list[dict[str, Any]] = []
    kinds = {kind for kind, _ in plan.events}
    if "reasoning" in kinds:
        thinking = plan.text("reasoning")
        content.append(
            {"type": "thinking", "thinking": thinking, "signature": signature_for(thinking)}
        )
    if "content" in kinds:
        content.append({"type": "text", "text": plan.text("content")})
    if "tool_header" in kinds:
        try:
            arguments = json.loads(plan.text("args"))
        except ValueError:  # cut by max_tokens
            arguments = {}
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(plan),
                "name": plan.tool_name,
                "input": arguments,
            }
        )
    body: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": STOP_REASONS[plan.finish_reason],
        "stop_sequence": None,
    }
    if include_usage:
        body["usage"] = _usage(plan.prompt_tokens, plan.tokens)
    return body


def _error_body(type_: str, message: str, request_id: str) -> bytes:
    error = {"type": type_, "message": message}
    return _dumps({"type": "error", "error": error, "request_id": request_id})


def _error_reply(
    status: int,
    type_: str,
    message: str,
    request_id: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """An Anthropic error response: the body names the request id its header carries."""
    rid = request_id or _request_id(_refusal_ids)
    headers = (("request-id", rid), *extra)
    return Reply(status, _error_body(type_, message, rid), headers=headers, label=type_)


def fault_response(status: int, model: str) -> Reply:
    """The response to an injected `http:<status>` fault, as Anthropic words each status."""
    if status == 401:
        return _error_reply(401, "authentication_error", "invalid x-api-key")
    if status == 403:
        message = "Your API key does not have permission to use the specified resource."
        return _error_reply(403, "permission_error", message)
    if status == 404:
        return _error_reply(404, "not_found_error", f"model: {model}")
    if status == 413:
        return _error_reply(413, "request_too_large", "Request exceeds the maximum allowed size.")
    if status == 429:
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
        headers = (
            ("retry-after", "1"),
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", reset),
        )
        message = (
            "This request would exceed the rate limit for your organization of 50 requests "
            "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
            "You can see the response headers for current usage. Please reduce the prompt "
            "length or the maximum tokens requested, or try again later."
        )
        return _error_reply(429, "rate_limit_error", message, extra=headers)
    if status == 500:
        return _error_reply(500, "api_error", "Internal server error")
    if status == 529:
        return _error_reply(529, OVERLOADED["type"], OVERLOADED["message"])
    type_ = "api_error" if status >= 500 else "invalid_request_error"
    return _error_reply(status, type_, f"Injected HTTP {status} ({REASONS.get(status, 'error')}).")


# ----------------------------------------------------------------- requests


def _problem(raw: bytes, body: Any) -> str | None:
    """The message of the 400 Anthropic sends for this request body, else None."""
    if body is None and raw.strip():
        return "There was an issue with the request body: the body is not valid JSON."
    if not isinstance(body, dict):
        return "model: Field required" if body is None else "Input should be a valid dictionary"
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["model"], str):
        return "model: Input should be a valid string"
    limit = body["max_tokens"]
    if not isinstance(limit, int) or isinstance(limit, bool):
        return "max_tokens: Input should be a valid integer"
    if limit < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    return (
        _system_problem(body.get("system"))
        or _messages_problem(body["messages"])
        or _tools_problem(body.get("tools"))
        or _thinking_problem(body.get("thinking"), limit)
    )


def _system_problem(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        for b in system
    ):
        return None
    return "system: Input should be a valid string or a list of text blocks"


def _messages_problem(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: List should have at least 1 item after validation, not 0"
    for n, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return f"messages.{n}: Input should be a valid dictionary"
        role = msg.get("role")
        if role == "system":
            return (
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{n}.role: Input should be 'user' or 'assistant'"
        content = msg.get("content")
        if not isinstance(content, str | list):
            return f"messages.{n}.content: Field required"
        last = n == len(messages) - 1
        if not content and not (last and role == "assistant"):
            return (
                f"messages.{n}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        if isinstance(content, list):
            for m, block in enumerate(content):
                if problem := _block_problem(block, f"messages.{n}.content.{m}"):
                    return problem
    return _unanswered_tool_uses(messages)


def _block_problem(block: Any, where: str) -> str | None:
    known = ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking")
    if not isinstance(block, dict) or block.get("type") not in known:
        return f"{where}.type: Input should be one of {', '.join(repr(k) for k in known)}"
    if block["type"] != "thinking":
        return None
    signature = block.get("signature")
    if not isinstance(signature, str):
        return f"{where}.thinking.signature: Field required"
    if signature != signature_for(str(block.get("thinking", ""))):
        return f"{where}: Invalid `signature` in `thinking` block"
    return None


def _unanswered_tool_uses(messages: list[dict[str, Any]]) -> str | None:
    """Anthropic's 400 for tool_use blocks not answered by tool_result blocks right after."""
    for n, msg in enumerate(messages):
        if msg.get("role") != "assistant":
            continue
        asked = [b.get("id") for b in _blocks(msg.get("content")) if b.get("type") == "tool_use"]
        if not asked:
            continue
        following = messages[n + 1] if n + 1 < len(messages) else {}
        answered = {
            b.get("tool_use_id")
            for b in _blocks(following.get("content"))
            if b.get("type") == "tool_result"
        }
        missing = [str(i) for i in asked if i not in answered]
        if missing and n + 1 < len(messages):
            return (
                f"messages.{n + 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
    return None


def _tools_problem(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{n}.custom.name: Field required"
        if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
            return f"tools.{n}.custom.input_schema: Field required"
    return None


def _thinking_problem(thinking: Any, max_tokens: int) -> str | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in (
        "enabled",
        "disabled",
        "adaptive",
    ):
        return "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'"
    if thinking["type"] != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "thinking.enabled.budget_tokens: Field required"
    if budget < _THINKING_MIN_BUDGET:
        return (
            "thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{_THINKING_MIN_BUDGET}"
        )
    if max_tokens <= budget:
        return (
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size"
        )
    return None


# ----------------------------------------------------------------- translation


def _blocks(content: Any) -> Iterator[dict[str, Any]]:
    """The dict blocks of a content list (nothing for a string)."""
    if isinstance(content, list):
        yield from (b for b in content if isinstance(b, dict))


def _text_of(content: Any) -> str:
    """The text of a string or of a list of blocks (tool results may nest blocks)."""
    if isinstance(content, str):
        return content
    return "".join(b["text"] for b in _blocks(content) if isinstance(b.get("text"), str))


def neutral_messages(system: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic messages as OpenAI-shaped ones, which is what plans are made from.

    `system` becomes a system message; `tool_result` blocks become `tool`
    messages (before the rest of their user turn, as OpenAI orders them) so
    that a conversation ending in a tool result is seen as one; `tool_use`
    blocks become `tool_calls`; thinking and images carry no text a plan uses.
    """
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": _text_of(system)})
    for msg in messages:
        content = msg["content"]
        if isinstance(content, str):
            out.append({"role": msg["role"], "content": content})
            continue
        texts = [
            {"type": "text", "text": b["text"]}
            for b in _blocks(content)
            if b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        if msg["role"] == "assistant":
            assistant: dict[str, Any] = {"role": "assistant", "content": _text_of(texts) or None}
            calls = [
                {
                    "id": b.get("id"),
                    "type": "function",
                    "function": {
                        "name": b.get("name"),
                        "arguments": json.dumps(b.get("input", {}), ensure_ascii=False),
                    },
                }
                for b in _blocks(content)
                if b.get("type") == "tool_use"
            ]
            if calls:
                assistant["tool_calls"] = calls
            out.append(assistant)
            continue
        for b in _blocks(content):
            if b.get("type") == "tool_result":
                result = {"role": "tool", "tool_call_id": b.get("tool_use_id")}
                out.append({**result, "content": _text_of(b.get("content", ""))})
        if texts or not any(b.get("type") == "tool_result" for b in _blocks(content)):
            out.append({"role": "user", "content": texts})
    return out


def neutral_tools(tools: Any) -> list[dict[str, Any]]:
    """Anthropic's custom tools as OpenAI function tools (server tools carry no schema)."""
    if not isinstance(tools, list):
        return []
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema", {}),
            },
        }
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("input_schema"), dict)
    ]


def _forced_tool(choice: Any) -> str | None:
    """`tool_choice: {"type": "tool", "name": N}`: the model must call N (how
    clients ask Anthropic for structured output)."""
    if isinstance(choice, dict) and choice.get("type") == "tool":
        name = choice.get("name")
        return name if isinstance(name, str) else None
    return None
