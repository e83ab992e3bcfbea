"""OpenAI Chat Completions as the demo server speaks it: paths, checks and every byte.

Why all of it in one place: the demo server is only useful as a test peer if
what it sends looks like OpenAI's, down to the field order, the `null`s, the
SSE framing, the error wording and which requests get a 400. That is a lot of
shape and very little behaviour, so it lives here, behind the `Api` and
`AnswerEncoder` protocols of `encoder`: the server and `pacing` decide when
to send what, this module decides what it looks like. Plain functions build
the bodies (dicts and bytes out, no sockets, no clock); the two classes wire
them to the protocols.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Iterable, Mapping
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

__all__ = ["MIDSTREAM_ERROR", "OpenAIAnswer", "OpenAIChat"]

_MODEL_CREATED = 1735689600  # 2025-01-01, a fixed "created" so /v1/models is stable

#: The error OpenAI sends when it fails mid-answer (also its plain 500 body).
MIDSTREAM_ERROR = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}

_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class OpenAIChat:
    """The `Api` of OpenAI Chat Completions: /v1/chat/completions and /v1/models."""

    _ROUTES: Mapping[str, Route] = {
        "/v1/chat/completions": Route("chat", "POST"),
        "/v1/models": Route("models", "GET"),
    }

    def route(self, path: str) -> Route | None:
        return self._ROUTES.get(path)

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        denied = auth_error(api_key, request.headers.get("authorization", ""))
        return None if denied is None else Reply(401, denied, label="invalid_api_key")

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        problem = validate(request.body, body)
        if problem is not None:
            return Reply(400, problem, label="invalid_request_error")
        assert isinstance(body, dict)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        tools = body.get("tools")
        return ChatRequest(
            model=body["model"],
            messages=body["messages"],
            tools=tools if isinstance(tools, list) else [],
            max_tokens=_max_tokens(body),
            stream=stream,
            # Unstreamed answers always carry usage; streams only when asked.
            include_usage=asked or not stream,
            schema=response_schema(body.get("response_format")),
        )

    def models(self, models: Mapping[str, str]) -> Reply:
        return Reply(200, dumps(models_list(models)))

    def unknown_model(self, model: str) -> Reply:
        return Reply(404, _model_not_found(model), label="model_not_found")

    def fault(self, status: int, model: str) -> Reply:
        return fault_response(status, model)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, error(f"Invalid URL ({method} {path})", "invalid_request_error", None))

    def wrong_method(self, method: str, path: str) -> Reply:
        message = f"Invalid method for URL ({method} {path})"
        return Reply(405, error(message, "invalid_request_error", None))

    def bug(self, exc: BaseException) -> Reply:
        return Reply(500, error(f"demo server bug: {exc!r}", "server_error", None))

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> OpenAIAnswer:
        return OpenAIAnswer(plan, options, rng)


class OpenAIAnswer:
    """The `AnswerEncoder` of one Chat Completions answer: SSE `data:` events of chunks.

    One id and `created` for the whole answer, as OpenAI does; with usage
    asked for, every chunk carries `"usage": null` and a last chunk the counts.
    """

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> None:
        self._plan = plan
        self._options = options
        self._id = "chatcmpl-" + "".join(rng.choices(string.ascii_letters + string.digits, k=29))
        self._created = int(time.time())

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-cache"),
            ("openai-processing-ms", str(int(self._options.ttft * 1000))),
        ]

    def _event(self, data: str) -> bytes:
        nl = self._options.newline
        if self._options.bad_usage:
            data = raw_numbers(data)
        return f"data: {data}{nl}{nl}".encode()

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = completion_chunk(
            self._id,
            self._created,
            self._plan.model,
            delta,
            finish,
            null_usage=self._options.usage,
        )
        return self._event(to_json(chunk))

    def opening(self) -> bytes:
        return self._chunk(opening_delta(self._plan))

    def token(self, kind: str, piece: str) -> bytes:
        return self._chunk(token_delta(kind, piece, self._plan))

    def keepalive(self) -> bytes:
        nl = self._options.newline
        return f": keep-alive{nl}{nl}".encode()

    def finish(self, sent: int) -> bytes:
        return self._chunk({}, self._plan.finish_reason)

    def usage(self, sent: int) -> bytes:
        if not self._options.usage:
            return b""
        counts = usage_counts(self._plan, sent, bad=self._options.bad_usage)
        return self._event(to_json(usage_chunk(self._id, self._created, self._plan.model, counts)))

    def end(self) -> bytes:
        return self._event("[DONE]")

    def settle(self, sent: int) -> bytes:
        return self.finish(sent) + self.usage(sent)

    def midstream_error(self) -> bytes:
        return self._event(to_json({"error": MIDSTREAM_ERROR}))

    def message_only_error(self) -> bytes:
        return self._event(to_json({"message": MESSAGE_ONLY}))

    def complete(self) -> Reply:
        options = self._options
        body = completion(
            self._plan, self._id, self._created, include_usage=options.usage, bad=options.bad_usage
        )
        text = to_json(body)
        return Reply(200, (raw_numbers(text) if options.bad_usage else text).encode())

    def server_error(self) -> Reply:
        return Reply(500, dumps({"error": MIDSTREAM_ERROR}))


# ----------------------------------------------------------------- bodies


def to_json(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is: what OpenAI puts on the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    """`to_json` as UTF-8 bytes, for a response body."""
    return to_json(obj).encode("utf-8")


def error(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    """An OpenAI error body."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return dumps(body)


def models_list(names: Iterable[str]) -> dict[str, Any]:
    """The `/v1/models` body listing `names`."""
    data = [
        {"id": name, "object": "model", "created": _MODEL_CREATED, "owned_by": "tokentide"}
        for name in names
    ]
    return {"object": "list", "data": data}


# ----------------------------------------------------------------- answers


def usage_counts(plan: Plan, sent: int, *, bad: bool = False) -> dict[str, Any]:
    """The usage object once `sent` tokens of `plan` have gone out (`bad`: the
    `bad_usage` fault's numbers instead, see `encoder`)."""
    if bad:
        return {
            "prompt_tokens": BAD_INPUT,
            "completion_tokens": BAD_OUTPUT,
            "total_tokens": BAD_TOTAL,
            "prompt_tokens_details": {"cached_tokens": BAD_HUGE},
            "completion_tokens_details": {"reasoning_tokens": BAD_DETAIL},
        }
    reasoning = sum(1 for kind, _ in plan.events[:sent] if kind == "reasoning")
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": sent,
        "total_tokens": plan.prompt_tokens + sent,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def completion(
    plan: Plan, chat_id: str, created: int, *, include_usage: bool, bad: bool = False
) -> dict[str, Any]:
    """The whole non-streaming `chat.completion` body for `plan`."""
    message: dict[str, Any] = {"role": "assistant", "content": plan.text("content") or None}
    if any(kind == "reasoning" for kind, _ in plan.events):
        message["reasoning_content"] = plan.text("reasoning")
    if plan.tool_id is not None:
        message["tool_calls"] = [
            {
                "id": plan.tool_id,
                "type": "function",
                "function": {"name": plan.tool_name, "arguments": plan.text("args")},
            }
        ]
    elif message["content"] is None:
        message["content"] = ""
    message["refusal"] = None
    response: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
        ],
        "system_fingerprint": "fp_tokentide",
    }
    if include_usage:
        response["usage"] = usage_counts(plan, plan.tokens, bad=bad)
    return response


def completion_chunk(
    chat_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    *,
    null_usage: bool = False,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; `null_usage` adds the `"usage": null` that
    OpenAI puts on every chunk when `stream_options.include_usage` is set."""
    obj: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_tokentide",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if null_usage:
        obj["usage"] = None
    return obj


def usage_chunk(chat_id: str, created: int, model: str, counts: dict[str, Any]) -> dict[str, Any]:
    """The final chunk of an `include_usage` stream: no choices, just usage."""
    return {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_tokentide",
        "choices": [],
        "usage": counts,
    }


def opening_delta(plan: Plan) -> dict[str, Any]:
    """The first delta of a stream: the role, and empty (or, before a tool call, null) content."""
    if plan.tool_id is not None:
        return {"role": "assistant", "content": None}
    return {"role": "assistant", "content": ""}


def token_delta(kind: str, piece: str, plan: Plan) -> dict[str, Any]:
    """The delta that carries one event of `plan` (see `Plan.events`)."""
    if kind == "content":
        return {"content": piece}
    if kind == "reasoning":
        return {"reasoning_content": piece}
    if kind == "stray_tool":  # the nameless_tool fault: arguments of no call at all
        return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
    if kind == "tool_header":
        call = {
            "index": 0,
            "id": plan.tool_id,
            "type": "function",
            "function": {"name": piece, "arguments": ""},
        }
        return {"tool_calls": [call]}
    return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}


# ----------------------------------------------------------------- refusals


def fault_response(status: int, model: str) -> Reply:
    """The response to an injected `http:<status>` fault.

    The common statuses get what OpenAI (or, for 502, the nginx in front of
    it) really sends; any other status gets a generic OpenAI error body.
    """
    extra: list[tuple[str, str]] = []
    content_type = "application/json"
    if status == 401:
        body = error(
            "Incorrect API key provided: sk-...abcd. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    elif status == 404:
        body = _model_not_found(model)
    elif status == 429:
        body = error(
            f"Rate limit reached for {model} in organization org-tokentide on requests per "
            "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            "requests",
            "rate_limit_exceeded",
        )
        extra = [
            ("retry-after", "1"),
            ("x-ratelimit-limit-requests", "3"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ]
    elif status == 500:
        body = dumps({"error": MIDSTREAM_ERROR})
    elif status == 502:
        body = _NGINX_502.encode()
        content_type = "text/html"
    elif status == 503:
        body = error(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        )
    else:
        body = error(
            f"Injected HTTP {status} ({REASONS.get(status, 'error')}).",
            "server_error" if status >= 500 else "invalid_request_error",
            None,
        )
    return Reply(status, body, content_type, tuple(extra))


def auth_error(api_key: str | None, authorization: str) -> bytes | None:
    """The 401 body if `api_key` is set and the Authorization header does not carry it."""
    if api_key is None:
        return None
    scheme, _, given = authorization.partition(" ")
    given = given.strip()
    if scheme.lower() == "bearer" and given == api_key:
        return None
    if scheme.lower() != "bearer" or not given:
        return error(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            "invalid_api_key",
        )
    return error(
        f"Incorrect API key provided: {_mask_key(given)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def _mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: keep a prefix and the last 4."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}...{key[-4:]}"


def validate(raw: bytes, body: Any) -> bytes | None:
    """The 400 body for a chat request OpenAI would reject, else None.

    `raw` is the request body as received and `body` its parsed JSON (None
    when it did not parse).
    """
    if body is None and raw.strip():
        try:
            json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                "invalid_request_error",
                None,
            )
    if body is None:
        return error("you must provide a model parameter", "invalid_request_error", None)
    if not isinstance(body, dict):
        return error(
            "Invalid type for request body: expected an object.",
            "invalid_request_error",
            "invalid_type",
        )
    if "model" not in body:
        return error("you must provide a model parameter", "invalid_request_error", None)
    if not isinstance(body["model"], str):
        return error(
            "Invalid type for 'model': expected a string.",
            "invalid_request_error",
            "invalid_type",
            "model",
        )
    messages = body.get("messages")
    if messages is None:
        return error(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "missing_required_parameter",
            "messages",
        )
    if not isinstance(messages, list):
        return error(
            "Invalid type for 'messages': expected an array.",
            "invalid_request_error",
            "invalid_type",
            "messages",
        )
    if not messages:
        return error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "invalid_request_error",
            "empty_array",
            "messages",
        )
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return error(
                f"Missing required parameter: 'messages[{n}].role'.",
                "invalid_request_error",
                "missing_required_parameter",
                f"messages[{n}].role",
            )
    return _unanswered_tool_calls(messages)


def _unanswered_tool_calls(messages: list[dict[str, Any]]) -> bytes | None:
    """OpenAI's 400 for an assistant turn whose tool calls get no `tool` replies."""
    for n, message in enumerate(messages):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not isinstance(calls, list) or not calls:
            continue
        answered = set()
        for reply in messages[n + 1 :]:
            if reply.get("role") != "tool":
                break
            answered.add(reply.get("tool_call_id"))
        missing = [
            call.get("id")
            for call in calls
            if isinstance(call, dict) and call.get("id") not in answered
        ]
        if missing:
            return error(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(str(m) for m in missing)}",
                "invalid_request_error",
                None,
                f"messages.[{n + 1}].role",
            )
    return None


def _model_not_found(model: str) -> bytes:
    return error(
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    )


def response_schema(response_format: Any) -> dict[str, Any] | None:
    """`response_format`'s schema: `json_schema` gives one, `json_object` any object."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return {}
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else {}
    return None


def _max_tokens(body: dict[str, Any]) -> int | None:
    """The token limit the client set (the newer name wins), if it is a usable one."""
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return None
