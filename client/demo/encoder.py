"""The seam between the demo server and one LLM API's wire format.

Why a seam: the server's hard parts (pacing on an absolute clock, faults,
noticing a disconnect, keep-alive) are the same whichever API a client speaks;
only the bytes differ. So the server and `pacing` never build a JSON body:
they ask an `Api` about requests (which paths, is the key right, is the body
acceptable, what does a refusal look like) and an `AnswerEncoder` for the bytes
of one answer (the opening, each token, the finish, usage, the end marker, an
error in mid-stream). Each API is one module implementing these two
protocols (`openai` for Chat Completions, `ollama` for Ollama's native NDJSON,
`gemini` for Gemini's generateContent, `anthropic` for Anthropic Messages,
`responses` for OpenAI Responses), plus one entry in the server's list of APIs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from .h11conn import Request
from .plan import ChatRequest, Plan

__all__ = [
    "BAD_DETAIL",
    "BAD_HUGE",
    "BAD_INPUT",
    "BAD_OUTPUT",
    "BAD_TOTAL",
    "MESSAGE_ONLY",
    "AnswerEncoder",
    "AnswerOptions",
    "Api",
    "Reply",
    "Route",
    "raw_numbers",
]

# The counts of the `bad_usage` fault: numbers a hostile server can write that
# Python's json module accepts. Each encoder puts them in its own fields, the
# output count always getting BAD_OUTPUT (the one a client shows).
_RAW_1E400 = "\u27e61e400\u27e7"
#: Written as the bare literal `1e400` (JSON allows it; it parses to inf): a
#: placeholder string until `raw_numbers` swaps it in, since json.dumps
#: writes an infinite float as `Infinity`.
BAD_OUTPUT = _RAW_1E400
BAD_INPUT = -12
BAD_TOTAL = float("nan")
BAD_DETAIL = float("inf")
BAD_HUGE = 10**30

#: What the `error_message_only` fault's error event says.
MESSAGE_ONLY = "Upstream model timed out after 30 s (error_message_only)"


def raw_numbers(text: str) -> str:
    """JSON text with BAD_OUTPUT's placeholder turned into the literal 1e400."""
    return text.replace(f'"{_RAW_1E400}"', "1e400")


@dataclass(frozen=True)
class Reply:
    """A whole response with a fixed-length body: a refusal, a list, an unstreamed answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    #: What the log line adds after the status, e.g. "invalid_api_key".
    label: str = ""

    @property
    def outcome(self) -> str:
        """The status and label, as the server's log line shows them."""
        return f"{self.status} {self.label}".rstrip()


@dataclass(frozen=True)
class Route:
    """What a path of an API is for, and the one method it answers."""

    kind: Literal["chat", "models"]
    method: str


@dataclass(frozen=True)
class AnswerOptions:
    """How one answer is to be written, decided by the request and any fault."""

    #: Send token counts (the client asked for them and no `no_usage` fault took them away).
    usage: bool
    #: The line ending of the framing: "\n", or "\r\n" under the `crlf` fault.
    newline: str
    #: The configured time to first token, for APIs that report processing time.
    ttft: float
    #: The `bad_usage` fault: counts that are not finite, negative or absurd.
    bad_usage: bool = False


class AnswerEncoder(Protocol):
    """The bytes of one answer in one API's format; knows nothing of time or faults.

    Streamed methods return body bytes ready to go out as they are (the HTTP
    layer frames them); b"" means the format has no such part.
    """

    #: Content type of the streamed response, e.g. "text/event-stream; charset=utf-8".
    content_type: str

    def headers(self) -> list[tuple[str, str]]:
        """Extra response headers of a streamed answer."""
        ...

    def opening(self) -> bytes:
        """What a stream starts with, sent with the headers before the first token is due."""
        ...

    def token(self, kind: str, piece: str) -> bytes:
        """One event of the plan (see `Plan.events`), including the `nameless_tool`
        fault's "stray_tool" fragment: a tool call with no name and no id."""
        ...

    def keepalive(self) -> bytes:
        """A comment that keeps the connection busy without meaning anything."""
        ...

    def finish(self, sent: int) -> bytes:
        """Says the answer is over and why (stop, length, tool_calls) after `sent` tokens.

        Formats that report counts in their final event (Anthropic, Ollama)
        put them here when `AnswerOptions.usage` is set.
        """
        ...

    def usage(self, sent: int) -> bytes:
        """Token counts as an event of their own, after the finish (OpenAI's usage chunk).

        b"" unless usage was asked for, or when `finish` already carries them.
        """
        ...

    def end(self) -> bytes:
        """The stream's end marker, e.g. `data: [DONE]`."""
        ...

    def settle(self, sent: int) -> bytes:
        """Everything after the last token short of the end marker (`finish_no_end`).

        `finish` and `usage` for most formats; where the finish *is* the
        terminal event (Responses' `response.completed`), only what comes
        before it.
        """
        ...

    def midstream_error(self) -> bytes:
        """The error a provider sends when it fails part way through a stream."""
        ...

    def message_only_error(self) -> bytes:
        """An error event whose data is `{"message": MESSAGE_ONLY}`, with no `error` key."""
        ...

    def complete(self) -> Reply:
        """The whole answer as one unstreamed response."""
        ...

    def server_error(self) -> Reply:
        """An unstreamed request's response when the provider fails before answering."""
        ...


class Api(Protocol):
    """One LLM API the demo server speaks: its paths, its checks and its refusals.

    An API that shares a path with one earlier in the server's list (Anthropic's
    `/v1/models` is also OpenAI's) may add `owns(request) -> bool`: the server
    then gives it the requests it claims (by their headers) and the rest to the
    earlier one.
    """

    def route(self, path: str) -> Route | None:
        """What `path` (without query or trailing slash) is for; None if not this API's."""
        ...

    def check_auth(self, api_key: str | None, request: Request) -> Reply | None:
        """The refusal if `api_key` is set and the request does not carry it."""
        ...

    def parse_chat(self, request: Request, body: object) -> ChatRequest | Reply:
        """The chat request in neutral form, or the 400 this API sends for it.

        `body` is the request body's JSON (None when it did not parse).
        """
        ...

    def models(self, models: Mapping[str, str]) -> Reply:
        """The model list response."""
        ...

    def unknown_model(self, model: str) -> Reply: ...

    def fault(self, status: int, model: str) -> Reply:
        """What this API (or the proxy in front of it) sends for an injected `http:<status>`."""
        ...

    def not_found(self, method: str, path: str) -> Reply: ...

    def wrong_method(self, method: str, path: str) -> Reply: ...

    def bug(self, exc: BaseException) -> Reply:
        """The 500 for an exception in the demo server itself."""
        ...

    def encoder(self, plan: Plan, options: AnswerOptions, rng: random.Random) -> AnswerEncoder:
        """The encoder for one answer; `rng` is the server's, for the answer's ids."""
        ...
