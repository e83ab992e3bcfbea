"""The one exception the client raises, and how it is worded.

Every failure a user can hit while streaming (bad key, wrong model, server
down, timeout, a broken or truncated stream, an error object mid-stream)
becomes a `StreamError` whose `str()` is a single line: what happened, the
provider's own words, and the fix where one is known. Callers show that line
as is; nothing upstream needs to know about httpx exception types.

    StreamError
      kind: see ErrorKind; what a caller (a retry policy, a UI) branches on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "auth",  # 401/403: the key
    "not_found",  # 404: model name or base URL
    "rate_limit",  # 429
    "bad_request",  # 400/413/422: the request itself
    "server",  # 5xx
    "connect",  # could not reach the server
    "timeout",  # connect or idle-read timeout
    "protocol",  # the reply is not what the wire format says
    "provider",  # an error the provider reported with a 200 status
    "config",  # a setting is wrong; nothing was sent
    "internal",  # a bug on our side stopped the stream
]


@dataclass
class StreamError(Exception):
    """A request or stream failure, phrased for the person at the terminal."""

    message: str
    kind: ErrorKind = "provider"
    status: int | None = None
    fix: str | None = None
    # Provider error details, e.g. {"type": "server_error", "code": None}.
    detail: dict | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        line = self.message
        if self.fix:
            line = f"{line} — {self.fix}"
        return one_line(line)


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace and control characters so a message fits one line.

    Provider bodies can hold tracebacks, HTML and escape sequences; none of it
    may reach the terminal raw.
    """
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned
