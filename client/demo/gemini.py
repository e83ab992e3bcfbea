"""Google's Gemini API as the demo server speaks it: generateContent, its SSE stream, models.

Why a module of its own: Gemini differs from the OpenAI-style APIs in ways a
client's parser must get right, so the demo reproduces them. The model is in
the URL (`/v1beta/models/{model}:streamGenerateContent?alt=sse`), the key in
an `x-goog-api-key` header or a `?key=` query; every streamed event is a whole
`GenerateContentResponse` whose `usageMetadata` is cumulative (the last one
wins); thoughts are text parts marked `"thought": true`; a function call
arrives whole, its `args` an object; there is no end marker; and errors have
Google's shape, `{"error": {"code", "message", "status", "details"?}}`.

Choices where the demo cannot be Google:

- Only `alt=sse` streams. Without it Google streams one JSON array
  progressively; the demo answers 400 (INVALID_ARGUMENT) and says why.
- Events are framed `data: {...}\\r\\n\\r\\n`, as Google's front end frames
  them (its own JavaScript SDK matches `\\r\\n\\r\\n` for that reason), so the
  `crlf` fault changes nothing here. JSON is written as Google writes it:
  `": "` after keys, `","` between items, non-ASCII as is; whole (unstreamed)
  responses and errors are indented by two spaces.
- Reasoning comes from the model, not from `thinkingConfig`: `demo-think`
  always streams its thought parts first; `includeThoughts` and
  `thinkingBudget` are accepted and not acted on. `responseMimeType` and
  response schemas are accepted and ignored.
- Each token is one event. The finish reason (`STOP`, `MAX_TOKENS`; `STOP`
  after a function call too, as Gemini does) rides on a last event of its own
  whose part is `{"text": ""}`, or the whole function call. A call cut short
  by `maxOutputTokens` is never sent.
- Counts follow proto3 JSON: a zero `candidatesTokenCount` or
  `thoughtsTokenCount` is left out. `candidatesTokenCount` counts visible
  output (text and function call), `thoughtsTokenCount` the thoughts.
- Mid-stream failure: one more `data:` event holding Google's 500 error
  object, then the body ends. The `keepalive` fault sends SSE comments (Google
  sends none; every SSE parser skips them). `no_usage` drops `usageMetadata`.
- Faults from issue 17: `finish_no_end` sends the finish event and then keeps
  the body open (no EOF, which is Gemini's only end). `args` is an object on
  this wire, so `bad_tool_args` sends the call with its unparsable arguments
  as a string, and `nameless_tool` a `functionCall` with no name whose `args`
  is a garbage string; `error_message_only` is a `data: {"message": ...}`.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

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

__all__ = ["INTERNAL_ERROR", "GeminiAnswer", "GeminiApi"]

_JSON = "application/json; charset=UTF-8"
_PREFIX = "/v1beta/models"
_METHODS = ("generateContent", "streamGenerateContent")

#: Google's 500 error object, sent mid-stream and as an unstreamed failure.
INTERNAL_ERROR = {
    "code": 500,
    "message": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "status": "INTERNAL",
}

#: The google.rpc status name of each HTTP status Google uses.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: Top-level request fields Google knows (it accepts both spellings); others are a 400.
_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "tools",
        "toolConfig",
        "tool_config",
        "safetySettings",
        "safety_settings",
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
        "cachedContent",
        "cached_content",
        "labels",
    }
)


class GeminiApi:
    """The `Api` of the Gemini API: models/{model}:(stream)generateContent and models."""

    def route(self, path: str) -> Route | None:
        if path == _PREFIX:
            return Route("models", "GET")
        if _split_model_path(path) is not None:
            return Route("chat", "POST")
        return None

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        if api_key is None:
            return None
        given = request.headers.get("x-goog-api-key") or _query(request.target).get("key")
        if given == api_key:
            return None
        if given:
            return Reply(400, _invalid_key(), _JSON, label="API_KEY_INVALID")
        if "authorization" in request.headers:
            return Reply(401, _unauthenticated(), _JSON, label="UNAUTHENTICATED")
        message = (
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API."
        )
        return Reply(403, google_error(403, message), _JSON, label="PERMISSION_DENIED")

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        path = request.target.split("?", 1)[0].rstrip("/")
        model, method = _split_model_path(path) or ("", "")
        stream = method == "streamGenerateContent"
        if stream and _query(request.target).get("alt") != "sse":
            message = (
                "This demo server streams only with alt=sse: add ?alt=sse to the URL "
                "(without it Google streams a JSON array, which the demo does not imitate)."
            )
            return Reply(400, google_error(400, message), _JSON, label="INVALID_ARGUMENT")
        problem = validate(request.body, body)
        if problem is not None:
            return Reply(400, problem, _JSON, label="INVALID_ARGUMENT")
        assert isinstance(body, dict)
        return ChatRequest(
            model=model,
            messages=neutral_messages(body),
            tools=neutral_tools(body.get("tools")),
            max_tokens=_max_output_tokens(_either(body, "generationConfig")),
            stream=stream,
            include_usage=True,
            schema=_response_schema(_either(body, "generationConfig")),
        )

    def models(self, models: Mapping[str, str]) -> Reply:
        return Reply(200, pretty(models_list(models)), _JSON)

    def unknown_model(self, model: str) -> Reply:
        return Reply(404, _model_not_found(model), _JSON, label="NOT_FOUND")

    def fault(self, status: int, model: str) -> Reply:
        return fault_response(status, model)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, google_error(404, "Method not found."), _JSON)

    def wrong_method(self, method: str, path: str) -> Reply:
        return self.not_found(method, path)

    def bug(self, exc: BaseException) -> Reply:
        return Reply(500, google_error(500, f"demo server bug: {exc!r}"), _JSON)

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> GeminiAnswer:
        return GeminiAnswer(plan, options, rng)


class GeminiAnswer:
    """The `AnswerEncoder` of one Gemini answer: SSE events, each a whole response.

    Counts are kept as tokens go out, so every event's `usageMetadata` says
    what has been generated so far. Function call pieces are held back and
    sent as one part once the call is over.
    """

    content_type = "text/event-stream"

    def __init__(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> None:
        self._plan = plan
        self._options = options
        self._id = "".join(rng.choices(string.ascii_letters + string.digits, k=23))
        self._signature = base64.b64encode(rng.randbytes(120)).decode("ascii")
        self._thoughts = 0
        self._visible = 0
        self._tool_name: str | None = None
        self._args: list[str] = []

    def headers(self) -> list[tuple[str, str]]:
        return [("X-Content-Type-Options", "nosniff")]

    def _event(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        response = generate_response(
            self._plan, self._id, parts, finish, self._usage() if self._options.usage else None
        )
        text = to_json(response)
        if self._options.bad_usage:
            text = raw_numbers(text)
        return f"data: {text}\r\n\r\n".encode()

    def _usage(self) -> dict[str, Any]:
        if self._options.bad_usage:
            return bad_usage_metadata()
        return usage_metadata(self._plan.prompt_tokens, self._visible, self._thoughts)

    def opening(self) -> bytes:
        return b""  # the first event already carries the first token

    def token(self, kind: str, piece: str) -> bytes:
        if kind == "args":
            self._visible += 1
            self._args.append(piece)
            return b""
        out = self._flush_call()
        if kind == "stray_tool":  # the nameless_tool fault: garbage, no name
            return out + self._event([{"functionCall": {"args": piece}}])
        if kind == "tool_header":
            self._tool_name = piece
            return out
        if kind == "reasoning":
            self._thoughts += 1
            return out + self._event([{"text": piece, "thought": True}])
        self._visible += 1
        return out + self._event([{"text": piece}])

    def _call_part(self) -> dict[str, Any] | None:
        """The held-back function call as a part, if it is whole; then forget it."""
        if self._tool_name is None:
            return None
        part = whole_call_part(self._plan, self._tool_name, "".join(self._args), self._signature)
        self._tool_name, self._args = None, []
        return part

    def _flush_call(self) -> bytes:
        part = self._call_part()
        return b"" if part is None else self._event([part])

    def keepalive(self) -> bytes:
        return b": keep-alive\r\n\r\n"

    def finish(self, sent: int) -> bytes:
        part = self._call_part()
        return self._event([part or {"text": ""}], finish_reason(self._plan))

    def usage(self, sent: int) -> bytes:
        return b""  # every event carries the counts so far

    def end(self) -> bytes:
        return b""  # Gemini has no end marker

    def settle(self, sent: int) -> bytes:
        return self.finish(sent)  # the finish event; the body then stays open (no EOF)

    def midstream_error(self) -> bytes:
        return f"data: {to_json({'error': INTERNAL_ERROR})}\r\n\r\n".encode()

    def message_only_error(self) -> bytes:
        return f"data: {to_json({'message': MESSAGE_ONLY})}\r\n\r\n".encode()

    def complete(self) -> Reply:
        plan = self._plan
        parts: list[dict[str, Any]] = []
        if any(kind == "reasoning" for kind, _ in plan.events):
            parts.append({"text": plan.text("reasoning"), "thought": True})
        if plan.text("content"):
            parts.append({"text": plan.text("content")})
        if plan.tool_name is not None:
            call = whole_call_part(plan, plan.tool_name, plan.text("args"), self._signature)
            if call is not None:
                parts.append(call)
        thoughts = sum(1 for kind, _ in plan.events if kind == "reasoning")
        usage = None
        if self._options.usage:
            usage = usage_metadata(plan.prompt_tokens, plan.tokens - thoughts, thoughts)
            if self._options.bad_usage:
                usage = bad_usage_metadata()
        body = generate_response(
            plan, self._id, parts or [{"text": ""}], finish_reason(plan), usage
        )
        text = pretty(body)
        if self._options.bad_usage:
            text = raw_numbers(text.decode("utf-8")).encode("utf-8")
        return Reply(200, text, _JSON)

    def server_error(self) -> Reply:
        return Reply(500, pretty({"error": INTERNAL_ERROR}), _JSON)


# ----------------------------------------------------------------- bodies


def to_json(obj: Any) -> str:
    """One-line JSON as Google's streams carry it: `": "` after keys, `","` between items."""
    return json.dumps(obj, separators=(",", ": "), ensure_ascii=False)


def pretty(obj: Any) -> bytes:
    """A whole response body as Google writes it: indented by two, ending in a newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def google_error(code: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    """Google's error body for an HTTP status, with its google.rpc status name."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return pretty({"error": error})


def generate_response(
    plan: Plan,
    response_id: str,
    parts: list[dict[str, Any]],
    finish: str | None,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """One GenerateContentResponse with one candidate holding `parts`."""
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    if finish is not None and any("functionCall" in part for part in parts):
        candidate["finishMessage"] = "Model generated function call(s)."
    response: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        response["usageMetadata"] = usage
    response["modelVersion"] = plan.model
    response["responseId"] = response_id
    return response


def usage_metadata(prompt: int, visible: int, thoughts: int) -> dict[str, Any]:
    """Counts so far; zeros left out, as proto3 JSON does."""
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if visible:
        usage["candidatesTokenCount"] = visible
    usage["totalTokenCount"] = prompt + visible + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def function_call_part(name: str, arguments: str, signature: str) -> dict[str, Any] | None:
    """A whole function call part with its args as an object; None if they are not whole."""
    try:
        args = json.loads(arguments)
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    return {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}


def bad_usage_metadata() -> dict[str, Any]:
    """`usageMetadata` under the `bad_usage` fault."""
    return {
        "promptTokenCount": BAD_INPUT,
        "candidatesTokenCount": BAD_OUTPUT,
        "totalTokenCount": BAD_TOTAL,
        "cachedContentTokenCount": BAD_HUGE,
        "thoughtsTokenCount": BAD_DETAIL,
    }


def whole_call_part(plan: Plan, name: str, arguments: str, signature: str) -> dict[str, Any] | None:
    """The call part to send once its arguments are over: `function_call_part`, or,
    for a call that finished with arguments that do not parse (the
    `bad_tool_args` fault), the call with its arguments as the string they are."""
    part = function_call_part(name, arguments, signature)
    if part is None and plan.raw_args:
        return {"functionCall": {"name": name, "args": arguments}, "thoughtSignature": signature}
    return part


def finish_reason(plan: Plan) -> str:
    """MAX_TOKENS when the limit cut the answer; STOP otherwise, function calls included."""
    return "MAX_TOKENS" if plan.finish_reason == "length" else "STOP"


def models_list(models: Mapping[str, str]) -> dict[str, Any]:
    """The GET /v1beta/models body."""
    entries = []
    for name, description in models.items():
        entry: dict[str, Any] = {
            "name": f"models/{name}",
            "version": "001",
            "displayName": name.replace("-", " ").title(),
            "description": f"tokentide demo model: {description}",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
        }
        if name == "demo-think":
            entry["thinking"] = True
        entries.append(entry)
    return {"models": entries}


# ----------------------------------------------------------------- refusals


def fault_response(status: int, model: str) -> Reply:
    """The response to an injected `http:<status>`: Google's words for the common ones."""
    extra: tuple[tuple[str, str], ...] = ()
    if status == 404:
        return Reply(404, _model_not_found(model), _JSON)
    if status == 401:
        body = _unauthenticated()
    elif status == 429:
        body = google_error(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.\n"
            "* Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_free_tier_requests, "
            f"limit: 10, model: {model}\nPlease retry in 1s.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": model},
                            "quotaValue": "10",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
            ],
        )
    elif status == 500:
        body = pretty({"error": INTERNAL_ERROR})
    elif status == 503:
        body = google_error(503, "The model is overloaded. Please try again later.")
    else:
        reason = REASONS.get(status, "error")
        body = google_error(status, f"Injected HTTP {status} ({reason}).")
    return Reply(status, body, _JSON, extra)


def _model_not_found(model: str) -> bytes:
    return google_error(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def _invalid_key() -> bytes:
    message = "API key not valid. Please pass a valid API key."
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
    ]
    return google_error(400, message, details)


def _unauthenticated() -> bytes:
    return google_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    )


# ----------------------------------------------------------------- requests


def _split_model_path(path: str) -> tuple[str, str] | None:
    """(model, method) of a `/v1beta/models/{model}:{method}` path, else None."""
    if not path.startswith(_PREFIX + "/"):
        return None
    model, sep, method = path[len(_PREFIX) + 1 :].rpartition(":")
    if not sep or not model or "/" in model or method not in _METHODS:
        return None
    return unquote(model), method


def _query(target: str) -> dict[str, str]:
    """The request's query parameters, the first value of each."""
    query = target.partition("?")[2]
    return {name: values[0] for name, values in parse_qs(query).items()}


def _either(body: dict[str, Any], name: str) -> Any:
    """A field by its camelCase name or its snake_case one (Google accepts both)."""
    if name in body:
        return body[name]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return body.get(snake)


def _bad(message: str) -> bytes:
    """Google's 400 for a field that does not parse, with its BadRequest detail."""
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"description": message}],
        }
    ]
    return google_error(400, message, details)


def validate(raw: bytes, body: Any) -> bytes | None:
    """The 400 body Google would send for this request body, else None."""
    if body is None and raw.strip():
        return _bad(_syntax_error(raw))
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return _bad(
            'Invalid JSON payload received. Unknown name "": Root element must be a message.'
        )
    for name in body:
        if name not in _REQUEST_FIELDS:
            return _bad(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    contents = body.get("contents")
    if contents is not None and not isinstance(contents, list):
        shown = json.dumps(contents, ensure_ascii=False)
        return google_error(
            400,
            "Invalid value at 'contents' "
            f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {shown}",
        )
    if not contents:
        return google_error(400, "* GenerateContentRequest.contents: contents is not specified\n")
    for n, content in enumerate(contents):
        if not isinstance(content, dict):
            return google_error(400, f"* GenerateContentRequest.contents[{n}]: must be an object\n")
        if content.get("role") not in (None, "", "user", "model", "function"):
            return google_error(400, "Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return google_error(
                400,
                f"* GenerateContentRequest.contents[{n}].parts: contents.parts must not be "
                "empty.\n",
            )
    return None


def _syntax_error(raw: bytes) -> str:
    """Google's message for a body that is not JSON: the line, and a caret under the fault."""
    text = raw.decode("utf-8", "replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        line = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
        return f"Invalid JSON payload received. Unexpected token.\n{line}\n{' ' * (exc.colno - 1)}^"
    return "Invalid JSON payload received."


def _parts_text(parts: Any) -> str:
    """The visible text of a list of parts (thoughts left out)."""
    if not isinstance(parts, list):
        return ""
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )


def neutral_messages(body: dict[str, Any]) -> list[Any]:
    """Gemini contents in the OpenAI shape plans read.

    `systemInstruction` becomes a system message, a `model` turn an assistant
    message (function calls as tool calls with string arguments), and each
    `functionResponse` part a `tool` message answering the latest call of
    that name (Gemini matches by name).
    """
    out: list[Any] = []
    system = _either(body, "systemInstruction")
    if isinstance(system, dict) and (text := _parts_text(system.get("parts"))):
        out.append({"role": "system", "content": text})
    ids: dict[str, str] = {}
    for content in body["contents"]:
        parts = [p for p in content["parts"] if isinstance(p, dict)]
        text = _parts_text(parts)
        calls = [_either(p, "functionCall") for p in parts]
        replies = [_either(p, "functionResponse") for p in parts]
        if content.get("role") == "model":
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            tool_calls = []
            for call in calls:
                if not isinstance(call, dict):
                    continue
                name = str(call.get("name", ""))
                ids[name] = f"call_{len(out)}_{len(tool_calls)}"
                arguments = json.dumps(call.get("args") or {}, ensure_ascii=False)
                tool_calls.append(
                    {
                        "id": ids[name],
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                )
            if tool_calls:
                message["tool_calls"] = tool_calls
            out.append(message)
            continue
        answered = [r for r in replies if isinstance(r, dict)]
        for reply in answered:
            name = str(reply.get("name", ""))
            result = json.dumps(reply.get("response") or {}, ensure_ascii=False)
            out.append(
                {"role": "tool", "tool_call_id": ids.get(name, ""), "name": name, "content": result}
            )
        if text or not answered:
            out.append({"role": "user", "content": text})
    return out


def neutral_tools(tools: Any) -> list[Any]:
    """Gemini function declarations as OpenAI function tools (schema types lower-cased)."""
    out: list[Any] = []
    if not isinstance(tools, list):
        return out
    for tool in tools:
        declarations = _either(tool, "functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if not isinstance(declaration, dict):
                continue
            schema = _either(declaration, "parametersJsonSchema")
            if schema is None:
                schema = declaration.get("parameters") or {}
            function = {
                "name": declaration.get("name"),
                "description": declaration.get("description", ""),
                "parameters": _lower_types(schema),
            }
            out.append({"type": "function", "function": function})
    return out


def _lower_types(schema: Any) -> Any:
    """A schema with Gemini's upper-case type names ("STRING") in JSON Schema's case."""
    if isinstance(schema, dict):
        return {
            key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def _max_output_tokens(config: Any) -> int | None:
    """`generationConfig.maxOutputTokens`, if it is a usable limit."""
    if not isinstance(config, dict):
        return None
    limit = _either(config, "maxOutputTokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return None


def _response_schema(config: Any) -> dict[str, Any] | None:
    """`responseJsonSchema` (JSON Schema) or `responseSchema` (Google's subset),
    either spelling; a JSON MIME type alone asks for any JSON."""
    if not isinstance(config, dict):
        return None
    for key in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        if isinstance(config.get(key), dict):
            return config[key]
    mime = config.get("responseMimeType", config.get("response_mime_type"))
    return {} if mime == "application/json" else None
