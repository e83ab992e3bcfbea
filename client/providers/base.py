"""The contract every wire format implements.

A provider module is pure translation: it builds the HTTP request for a
`ChatRequest` and turns decoded wire events into unified `StreamEvent`s.
Connecting, timeouts, retries and cancellation live once, in `stream.py`, so
adding Anthropic, Responses or Ollama means adding one module like
`openai_chat.py` and nothing else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import ApiError, ConfigError
from ..events import FINISH_REASONS, StreamEvent
from ..request import ChatRequest


@dataclass
class HttpRequest:
    """Method, path (joined to the endpoint's base URL), headers and JSON body."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Framing = Literal["sse", "ndjson"]
"""How a streaming body is cut into frames (see framing.py)."""


class EventParser(Protocol):
    """Stateful translator for one response.

    `feed` gets each frame (SSE event name and data, or one NDJSON line with
    an empty name) and returns unified events; it raises `ApiError` for an
    error reported inside the stream. `done` turns true
    when the protocol says the stream is over, so the reader stops even if
    the server keeps the connection open. `stopped` turns true when the
    server has said why the answer ended: only usage and the end marker may
    follow, and the reader waits for them briefly, not for a read timeout.
    `end` is called at EOF and either returns the closing events or raises
    `errors.cut_off` when the stream ended before the answer did.
    """

    done: bool

    @property
    def stopped(self) -> bool: ...

    def feed(self, event: str, data: str) -> list[StreamEvent]: ...

    def end(self) -> list[StreamEvent]: ...


class WireFormat(Protocol):
    """A streaming protocol: how to ask, and how to read the answer."""

    label: str
    """For messages: "the base URL speaks the {label} format"."""
    framing: Framing

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest:
        """The HTTP request; a `request.prefill` the wire cannot honour
        (`can_prefill`) is a ConfigError, raised before anything is sent."""
        ...

    def can_prefill(self, request: ChatRequest) -> bool:
        """Whether the server continues a trailing assistant message for this
        model and these options, so Continue can append to the same answer."""
        ...

    def parser(self, request: ChatRequest) -> EventParser:
        """A parser for the answer to `request` (some formats answer differently
        to structured output)."""
        ...

    def models_request(self, api_key: str | None) -> HttpRequest:
        """The request that lists the models the endpoint serves."""
        ...

    def parse_models(self, body: Any) -> list[str]:
        """Model ids from the reply to `models_request`."""
        ...

    def parse_response(self, body: Any, request: ChatRequest) -> list[StreamEvent]:
        """Translate a complete non-streaming response body."""
        ...

    def error_message(self, body: Any) -> str | None:
        """The provider's own error text from an error body, if it has one."""
        ...

    def adapt(self, status: int, body: Any) -> bool:
        """After an error status: whether to send the request once more,
        because the format has learnt something about this endpoint."""
        ...


def refuse_prefill(request: ChatRequest, label: str) -> None:
    """For a wire that does not continue a trailing assistant message: most
    servers answer it as if it were a new turn (OpenAI, Gemini) or reject it,
    so a continuation is asked for with a visible user turn instead."""
    if request.prefill:
        raise ConfigError(
            f"the {label} format cannot continue an answer in place",
            fix="ask it to continue with a new message",
        )


def check_prefill(request: ChatRequest, label: str) -> None:
    """A prefill needs the answer's start as the last message."""
    if request.prefill and (not request.messages or request.messages[-1].role != "assistant"):
        raise ConfigError(f"a {label} prefill needs the answer so far as the last message")


def normalise_finish(native: str | None, words: Mapping[str, str]) -> str | None:
    """A provider's finish reason in the shared vocabulary (`FINISH_REASONS`):
    mapped by `words`, kept when it already is one, else `other`."""
    if native is None:
        return None
    if native in words:
        return words[native]
    lowered = native.lower()
    return lowered if lowered in FINISH_REASONS else "other"


def parse_json(data: str, label: str) -> Any:
    """One frame's JSON; a frame that is not JSON means the base URL speaks
    another format, and the error says so."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ApiError(
            f"the server sent data that is not JSON ({exc.msg}): {data[:80]!r}",
            kind="protocol",
            fix=f"the server does not speak the {label} format; check the base URL and wire",
        ) from None


def frame_json(event: str, data: str, label: str) -> Any:
    """One SSE frame's JSON, as `parse_json` reads it; but the data of an
    `event: error` is the server's error in whatever shape it chose - plain
    text, a JSON string, an object - and comes back as an object that at
    least has its `message`, never as a "not JSON" failure that hides it."""
    if event != "error":
        return parse_json(data, label)
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"message": body if isinstance(body, str) else data.strip()}


def error_words(body: Any, depth: int = 0) -> str | None:
    """The server's own words in an error of any common shape, or None.

    OpenAI's `{"error": {"message"}}`, Ollama's and proxies' `{"error": "..."}`,
    a bare `{"message"}` (vLLM's `{"object": "error", ...}`, gateways),
    FastAPI's `{"detail": "..."}` and `{"detail": [{"loc", "msg"}]}`: a client
    that reads only one of them shows "an error occurred" instead of the cause.
    """
    if depth > 4:
        return None
    if isinstance(body, str):
        return body.strip() or None
    if isinstance(body, list):
        words = [w for item in body[:5] if (w := _entry_words(item, depth))]
        return "; ".join(words) or None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "msg"):
            if words := error_words(body.get(key), depth + 1):
                return words
    return None


def _entry_words(item: Any, depth: int) -> str | None:
    """One entry of a list of errors; FastAPI's reads `body.model: Field required`."""
    if isinstance(item, dict) and isinstance(item.get("msg"), str):
        where = ".".join(str(part) for part in as_list(item.get("loc")))
        return f"{where}: {item['msg']}" if where else item["msg"]
    return error_words(item, depth + 1)


def error_excerpt(value: Any) -> str:
    """An error without words we know (`{"code": 503}`), shown as it was sent."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:200] or "no details"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


MAX_COUNT = 10**9
"""Far beyond any real token count (a million-token context is 10**6): a
larger one is a server's garbage, and the count is estimated instead."""


def count(value: Any) -> int | None:
    """A token count, or None for anything that is not an integer from 0 to
    `MAX_COUNT` (JSON as Python reads it also has NaN, Infinity and integers
    of any size); None makes the meter estimate the count and say so."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if 0 <= value <= MAX_COUNT else None
