"""The contract every wire format implements.

A provider module is pure translation: it builds the HTTP request for a
`ChatRequest` and turns decoded wire events into unified `StreamEvent`s.
Connecting, timeouts, retries and cancellation live once, in `stream.py`, so
adding Anthropic, Responses or Ollama means adding one module like
`openai_chat.py` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..events import StreamEvent
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
    the server keeps the connection open. `end` is called at EOF and either
    returns the closing events or raises when the stream was cut short.
    """

    done: bool

    def feed(self, event: str, data: str) -> list[StreamEvent]: ...

    def end(self) -> list[StreamEvent]: ...


class WireFormat(Protocol):
    """A streaming protocol: how to ask, and how to read the answer."""

    label: str
    """For messages: "the base URL speaks the {label} format"."""
    framing: Framing

    def build_request(self, request: ChatRequest, api_key: str | None) -> HttpRequest: ...

    def parser(self) -> EventParser: ...

    def models_request(self, api_key: str | None) -> HttpRequest:
        """The request that lists the models the endpoint serves."""
        ...

    def parse_models(self, body: Any) -> list[str]:
        """Model ids from the reply to `models_request`."""
        ...

    def parse_response(self, body: Any) -> list[StreamEvent]:
        """Translate a complete non-streaming response body."""
        ...

    def error_message(self, body: Any) -> str | None:
        """The provider's own error text from an error body, if it has one."""
        ...
