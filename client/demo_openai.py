"""The JSON OpenAI's Chat Completions API sends, built the way the demo server sends it.

Why a module of its own: the demo server is only useful as a test peer if its
bodies look like OpenAI's, down to the field order, the `null`s, the error
wording and which requests get a 400. That is a lot of shape and very little
behaviour, so it lives here as plain functions (dicts and bytes out, no
sockets, no clock): completions and streaming chunks from a `Plan`, usage,
`/v1/models`, error bodies, the canned bodies of injected HTTP faults, the
API key check and request validation. `demo_server` decides when to send
what.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tokentide.client.demo_http import REASONS
from tokentide.client.demo_plan import Plan

__all__ = [
    "MIDSTREAM_ERROR",
    "auth_error",
    "completion",
    "completion_chunk",
    "dumps",
    "error",
    "fault_response",
    "models_list",
    "opening_delta",
    "to_json",
    "token_delta",
    "usage",
    "usage_chunk",
    "validate",
]

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


def usage(plan: Plan, sent: int) -> dict[str, Any]:
    """The usage object once `sent` tokens of `plan` have gone out."""
    reasoning = sum(1 for kind, _ in plan.events[:sent] if kind == "reasoning")
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": sent,
        "total_tokens": plan.prompt_tokens + sent,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def completion(plan: Plan, chat_id: str, created: int, *, include_usage: bool) -> dict[str, Any]:
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
        response["usage"] = usage(plan, plan.tokens)
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


def fault_response(status: int, model: str) -> tuple[bytes, str, list[tuple[str, str]]]:
    """Body, content type and extra headers for an injected `http:<status>` fault.

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
        body = error(
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
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
    return body, content_type, extra


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
