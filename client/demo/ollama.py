"""Ollama's native API as the demo server speaks it: /api/chat in NDJSON, /api/tags.

Why a module of its own: Ollama's native API shares nothing with OpenAI's on
the wire. It streams by default (`"stream": false` turns it off), frames an
answer as one JSON object a line with no SSE and no end marker, sends a tool
call whole with its arguments as a JSON *object*, reports counts and
nanosecond durations on a final `done: true` line, and has no keys at all.
Those are exactly the differences a client's Ollama parser must get right, so
this module reproduces them (shapes from Ollama's `docs/api.md`,
`docs/api/errors.mdx`, `api/types.go` and `server/routes.go`).

Choices where the demo cannot be Ollama:

- No auth: local Ollama has none, so the server's `api_key` is ignored on
  these paths and any `Authorization` header is accepted.
- Reasoning comes from the model, not from `think`: `demo-think` always
  streams `message.thinking` first (as a thinking model does when `think` is
  absent); `think` is checked for a valid value and otherwise not acted on.
  `format` and `options` other than `num_predict` are accepted and ignored.
- Models are listed as `demo:latest` etc., as Ollama names them; a chat may
  use either spelling and is answered as the bare name.
- A tool call is buffered and sent whole once its arguments are complete (the
  tokens still count as generated, as they do in Ollama). A call cut short by
  `num_predict` is never sent: the final line says `done_reason: "length"`.
  Ollama reports `done_reason: "stop"` after a tool call, and so does this.
- NDJSON has no comment syntax, so the `keepalive` fault sends nothing, and
  `done_no_finish` (no end marker to send) ends the body like `truncate`.
  `finish_no_end` sends the `done: true` line and then keeps the body open.
  Arguments are an object on this wire, so `bad_tool_args` sends the call
  with its unparsable arguments as a string, and `nameless_tool` a call with
  no name whose arguments are a garbage string; `error_message_only` is a
  line `{"message": "..."}`.
  `no_usage` drops the counts and durations from the final line. `crlf` ends
  each line with `\\r\\n` instead of `\\n` (a client must strip the `\\r`).
- Durations are measured: `eval_duration` is the time from the configured
  time to first token until the final line, so `eval_count / eval_duration`
  is the pace the server kept.
- No `/api/version`: the server's routes know chats and model lists only.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
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
from .plan import MODELS, ChatRequest, Plan

__all__ = ["MIDSTREAM_ERROR", "OllamaAnswer", "OllamaChat"]

#: What Ollama writes as the last line when generation fails after output began.
MIDSTREAM_ERROR = "an error was encountered while running the model"

_JSON = "application/json; charset=utf-8"
_MODIFIED_AT = "2025-01-01T00:00:00Z"  # fixed, so /api/tags is stable
_THINK_LEVELS = frozenset({"high", "medium", "low", "max"})
#: Characters Go's json.Marshal escapes even inside strings (they never occur outside one).
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)

#: The share of the time to first token Ollama would report as loading the model.
_LOAD_SHARE = 0.1


class OllamaChat:
    """The `Api` of Ollama's native API: POST /api/chat and GET /api/tags."""

    _ROUTES: Mapping[str, Route] = {
        "/api/chat": Route("chat", "POST"),
        "/api/tags": Route("models", "GET"),
    }

    def route(self, path: str) -> Route | None:
        return self._ROUTES.get(path)

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        return None  # Ollama has no keys; see the module docstring

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        problem = validate(request.body, body)
        if problem is not None:
            return Reply(400, error(problem), _JSON, label="bad request")
        assert isinstance(body, dict)
        model = model_name(body["model"])
        messages = body.get("messages") or []
        if not messages:
            # Ollama loads the model and says so instead of answering.
            if model not in MODELS:
                return self.unknown_model(body["model"])
            return Reply(200, dumps(load_response(body["model"])), _JSON, label="load")
        tools = body.get("tools")
        return ChatRequest(
            model=model,
            messages=neutral_messages(messages),
            tools=tools if isinstance(tools, list) else [],
            max_tokens=_num_predict(body.get("options")),
            stream=body.get("stream") is not False,
            include_usage=True,
            schema=body["format"]
            if isinstance(body.get("format"), dict)
            else ({} if body.get("format") == "json" else None),
        )

    def models(self, models: Mapping[str, str]) -> Reply:
        return Reply(200, dumps(tags(models)), _JSON)

    def unknown_model(self, model: str) -> Reply:
        return Reply(404, error(f"model '{model}' not found"), _JSON, label="model not found")

    def fault(self, status: int, model: str) -> Reply:
        return Reply(status, error(fault_message(status, model)), _JSON)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, b"404 page not found", "text/plain")

    def wrong_method(self, method: str, path: str) -> Reply:
        # Gin, Ollama's router, answers a known path with another method like an unknown one.
        return self.not_found(method, path)

    def bug(self, exc: BaseException) -> Reply:
        return Reply(500, error(f"demo server bug: {exc!r}"), _JSON)

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> OllamaAnswer:
        return OllamaAnswer(plan, options)


class OllamaAnswer:
    """The `AnswerEncoder` of one /api/chat answer: one JSON object a line.

    Tool call pieces are held back and sent as one line with the call's
    arguments parsed into an object, before the next event of another kind or
    with the finish.
    """

    content_type = "application/x-ndjson"

    def __init__(self, plan: Plan, options: AnswerOptions) -> None:
        self._plan = plan
        self._options = options
        self._started = time.perf_counter_ns()
        self._tool_name: str | None = None
        self._args: list[str] = []

    def headers(self) -> list[tuple[str, str]]:
        return []

    def _line(self, obj: dict[str, Any]) -> bytes:
        text = to_json(obj)
        if self._options.bad_usage:
            text = raw_numbers(text)
        return (text + self._options.newline).encode("utf-8")

    def _message(self, message: dict[str, Any]) -> bytes:
        return self._line(
            {
                "model": self._plan.model,
                "created_at": created_at(),
                "message": {"role": "assistant", **message},
                "done": False,
            }
        )

    def opening(self) -> bytes:
        return b""  # Ollama's first line already carries the first token

    def token(self, kind: str, piece: str) -> bytes:
        if kind == "tool_header":
            out = self._flush_call()
            self._tool_name = piece
            return out
        if kind == "args":
            self._args.append(piece)
            return b""
        out = self._flush_call()
        if kind == "stray_tool":  # the nameless_tool fault
            return out + self._message({"content": "", "tool_calls": [stray_call(piece)]})
        if kind == "reasoning":
            return out + self._message({"content": "", "thinking": piece})
        return out + self._message({"content": piece})

    def _flush_call(self) -> bytes:
        """The held-back tool call as one line, if it is whole; b"" otherwise."""
        if self._tool_name is None:
            return b""
        call = whole_call(self._plan, self._tool_name, "".join(self._args))
        self._tool_name, self._args = None, []
        if call is None:
            return b""  # cut short (num_predict): Ollama's parser would not emit it either
        return self._message({"content": "", "tool_calls": [call]})

    def keepalive(self) -> bytes:
        return b""  # NDJSON has no comments

    def finish(self, sent: int) -> bytes:
        call = self._flush_call()
        final: dict[str, Any] = {
            "model": self._plan.model,
            "created_at": created_at(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": done_reason(self._plan),
        }
        if self._options.usage:
            final.update(self._metrics(sent))
        return call + self._line(final)

    def _metrics(self, sent: int) -> dict[str, Any]:
        if self._options.bad_usage:
            return {
                "total_duration": BAD_TOTAL,
                "load_duration": BAD_HUGE,
                "prompt_eval_count": BAD_INPUT,
                "prompt_eval_duration": BAD_INPUT,
                "eval_count": BAD_OUTPUT,
                "eval_duration": BAD_DETAIL,
            }
        return metrics(self._plan, sent, time.perf_counter_ns() - self._started, self._options.ttft)

    def usage(self, sent: int) -> bytes:
        return b""  # the final line carries the counts

    def end(self) -> bytes:
        return b""  # the done line is the end

    def settle(self, sent: int) -> bytes:
        return self.finish(sent)  # the done line; the body then stays open

    def midstream_error(self) -> bytes:
        return self._line({"error": MIDSTREAM_ERROR})

    def message_only_error(self) -> bytes:
        return self._line({"message": MESSAGE_ONLY})

    def complete(self) -> Reply:
        message: dict[str, Any] = {"role": "assistant", "content": self._plan.text("content")}
        if any(kind == "reasoning" for kind, _ in self._plan.events):
            message["thinking"] = self._plan.text("reasoning")
        if self._plan.tool_name is not None:
            call = whole_call(self._plan, self._plan.tool_name, self._plan.text("args"))
            if call is not None:
                message["tool_calls"] = [call]
        body: dict[str, Any] = {
            "model": self._plan.model,
            "created_at": created_at(),
            "message": message,
            "done": True,
            "done_reason": done_reason(self._plan),
        }
        if self._options.usage:
            body.update(self._metrics(self._plan.tokens))
        text = to_json(body)
        if self._options.bad_usage:
            text = raw_numbers(text)
        return Reply(200, text.encode("utf-8"), _JSON)

    def server_error(self) -> Reply:
        return Reply(500, error(MIDSTREAM_ERROR), _JSON)


# ----------------------------------------------------------------- bodies


def to_json(obj: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: non-ASCII as is, except that
    <, >, & and the line separators U+2028/U+2029 are escaped (json.Marshal's
    HTML-safe default, which Ollama keeps)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.translate(_GO_ESCAPES)


def dumps(obj: Any) -> bytes:
    return to_json(obj).encode("utf-8")


def error(message: str) -> bytes:
    """Ollama's error body: one string, no code or type."""
    return dumps({"error": message})


def created_at() -> str:
    """Now as Go marshals a time.Time: RFC 3339, fraction without trailing zeros."""
    now = datetime.now(UTC)
    fraction = f"{now.microsecond:06d}".rstrip("0")
    return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def model_name(name: str) -> str:
    """The demo model a name means: Ollama's default tag `:latest` may be spelt out."""
    return name.removesuffix(":latest")


def tags(models: Mapping[str, str]) -> dict[str, Any]:
    """The /api/tags body listing `models` as locally pulled models."""
    entries = []
    for name in models:
        digest = hashlib.sha256(name.encode()).hexdigest()
        entries.append(
            {
                "name": f"{name}:latest",
                "model": f"{name}:latest",
                "modified_at": _MODIFIED_AT,
                "size": 4_920_753_328,
                "digest": digest,
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "demo",
                    "families": ["demo"],
                    "parameter_size": "8.0B",
                    "quantization_level": "Q4_K_M",
                },
            }
        )
    return {"models": entries}


def load_response(model: str) -> dict[str, Any]:
    """What /api/chat answers to a request with no messages: the model is loaded."""
    return {
        "model": model,
        "created_at": created_at(),
        "message": {"role": "assistant", "content": ""},
        "done_reason": "load",
        "done": True,
    }


def tool_call(name: str, arguments: str) -> dict[str, Any] | None:
    """A whole tool call with its arguments as an object; None if they are not whole."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return {"function": {"index": 0, "name": name, "arguments": parsed}}


def whole_call(plan: Plan, name: str, arguments: str) -> dict[str, Any] | None:
    """The call to send once its arguments are over: `tool_call`, or, for a call
    that finished with arguments that do not parse (the `bad_tool_args` fault),
    the call with its arguments as the string they are."""
    call = tool_call(name, arguments)
    if call is None and plan.raw_args:
        return {"function": {"index": 0, "name": name, "arguments": arguments}}
    return call


def stray_call(arguments: str) -> dict[str, Any]:
    """The `nameless_tool` fault's call: garbage arguments, no name."""
    return {"function": {"arguments": arguments}}


def done_reason(plan: Plan) -> str:
    """ "length" when the token limit cut the answer; "stop" otherwise, tool calls included."""
    return "length" if plan.finish_reason == "length" else "stop"


def metrics(plan: Plan, sent: int, elapsed_ns: int, ttft: float) -> dict[str, int]:
    """The counts and nanosecond durations of the final line, from the time really taken.

    The configured time to first token is the prompt phase (a tenth of it
    reported as loading); the rest, up to now, is generation.
    """
    first = min(elapsed_ns, int(ttft * 1e9))
    load = int(first * _LOAD_SHARE)
    return {
        "total_duration": elapsed_ns,
        "load_duration": load,
        "prompt_eval_count": plan.prompt_tokens,
        "prompt_eval_duration": first - load,
        "eval_count": sent,
        "eval_duration": elapsed_ns - first,
    }


def fault_message(status: int, model: str) -> str:
    """The error text for an injected `http:<status>`: Ollama's own where it has one."""
    if status == 404:
        return f"model '{model}' not found"
    if status == 401:
        return "unauthorized"
    if status == 500:
        return "llama runner process has terminated: exit status 2"
    if status == 503:
        return "server busy, please try again.  maximum pending requests exceeded"
    return f"injected HTTP {status} ({REASONS.get(status, 'error')})"


# ----------------------------------------------------------------- requests


def neutral_messages(messages: list[Any]) -> list[Any]:
    """Ollama messages in the OpenAI shape plans read.

    Tool calls get their arguments as a JSON string and an id; a `tool`
    message answers the latest call of its `tool_name` (Ollama matches by
    name, OpenAI by id).
    """
    out: list[Any] = []
    ids: dict[str, str] = {}
    for message in messages:
        role = message.get("role") or ""
        converted: dict[str, Any] = {"role": role, "content": message.get("content") or ""}
        calls = message.get("tool_calls")
        if role == "assistant" and isinstance(calls, list) and calls:
            converted["tool_calls"] = []
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict):
                    continue
                name = str(function.get("name", ""))
                call_id = f"call_{len(out)}_{len(converted['tool_calls'])}"
                ids[name] = call_id
                arguments = function.get("arguments", {})
                converted["tool_calls"].append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                )
        if role == "tool":
            name = message.get("tool_name")
            if isinstance(name, str):
                converted["name"] = name
                converted["tool_call_id"] = ids.get(name, "")
        out.append(converted)
    return out


def _go_type(value: Any) -> str:
    """The JSON type name Go's decoder puts in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _unmarshal(value: Any, where: str, want: str) -> str:
    return f"json: cannot unmarshal {_go_type(value)} into Go struct field {where} of type {want}"


# Top-level fields whose JSON type Go's decoder checks, with the Go type it names.
_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "model": (str, "string"),
    "messages": (list, "[]api.Message"),
    "stream": (bool, "bool"),
    "tools": (list, "api.Tools"),
    "options": (dict, "map[string]interface {}"),
}


def validate(raw: bytes, body: Any) -> str | None:
    """The 400 message Ollama would send for this /api/chat body, else None."""
    if not raw.strip():
        return "missing request body"
    if body is None:
        return _syntax_error(raw)
    if not isinstance(body, dict):
        return f"json: cannot unmarshal {_go_type(body)} into Go value of type api.ChatRequest"
    for name, (kind, go_type) in _FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not isinstance(value, kind):
            return _unmarshal(value, f"ChatRequest.{name}", go_type)
    if not body.get("model"):
        return "model is required"
    think = body.get("think")
    if think is not None and not isinstance(think, bool) and think not in _THINK_LEVELS:
        shown = json.dumps(think, ensure_ascii=False)
        return f'invalid think value: {shown} (must be "high", "medium", "low", true, or false)'
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            return _unmarshal(message, "ChatRequest.messages", "api.Message")
        for name in ("role", "content", "tool_name"):
            value = message.get(name)
            if value is not None and not isinstance(value, str):
                return _unmarshal(value, f"ChatRequest.messages.{name}", "string")
    return None


def _syntax_error(raw: bytes) -> str:
    """Go's wording for a body that is not JSON, near enough."""
    text = raw.decode("utf-8", "replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            return "unexpected EOF"
        char = text[exc.pos]
        if exc.msg.startswith("Expecting property name"):
            return f"invalid character {char!r} looking for beginning of object key string"
        return f"invalid character {char!r} looking for beginning of value"
    return "invalid request body"


def _num_predict(options: Any) -> int | None:
    """The token limit in `options.num_predict`; negative (-1 infinite, -2 fill) is none."""
    if not isinstance(options, dict):
        return None
    limit = options.get("num_predict")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return None
