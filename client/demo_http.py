"""The demo server's HTTP/1.1 side: reading requests off a socket and framing responses.

Why a hand-written HTTP layer: the demo server exists to behave like a real
provider on a real socket (keep-alive reuse, chunked bodies written token by
token, a client's EOF noticed within milliseconds), and the standard library
has no asyncio HTTP server. This module is the part of that which knows
nothing about OpenAI: one `Connection` per client socket that parses requests
(including chunked request bodies and `Expect: 100-continue`) and watches for
the peer closing, plus the helpers that build a response head and chunked
body frames. `demo_server` decides what to answer and when.

Standard library only, and no textual/rich: `client` must stay importable
without the UI.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from email.utils import formatdate

__all__ = [
    "LAST_CHUNK",
    "MAX_BODY",
    "MAX_HEAD",
    "REASONS",
    "BadRequest",
    "Connection",
    "Disconnected",
    "Request",
    "bad_request_response",
    "encode_chunk",
    "is_loopback",
    "response_head",
    "wants_keep_alive",
]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: The chunk that ends a chunked body (no trailers).
LAST_CHUNK = b"0\r\n\r\n"


class BadRequest(Exception):
    """A request that is not valid HTTP/1.1: answered with a plain 4xx and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Disconnected(Exception):
    """The client went away while we were writing."""


@dataclass
class Request:
    """One parsed request; `headers` has lower-cased names, repeated ones joined by ", "."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


class Connection:
    """One client socket with its own read buffer.

    The buffer is ours (not just the StreamReader's) because the disconnect
    watcher reads while a response is being written: any bytes it gets (a
    pipelined next request) must stay available to the request parser.
    """

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def watch_eof(self) -> None:
        """Return as soon as the peer closes (or resets) the connection."""
        while await self._fill():
            if len(self.buf) > MAX_BODY:  # a client flooding us mid-response
                return

    async def read_request(self) -> Request | None:
        """Parse the next request; None when the client closed between requests."""
        while True:
            while self.buf[:2] == b"\r\n":  # tolerate stray CRLFs between requests
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEAD:
                raise BadRequest(431, "request header too large")
            if not await self._fill():
                if self.buf:
                    raise BadRequest(400, "incomplete request")
                return None
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(400, f"malformed request line {lines[0][:80]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest(400, f"malformed header line {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        return Request(method, target, version, headers, body)

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._read_chunked()
        raw = headers.get("content-length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            raise BadRequest(400, f"bad content-length {raw!r}") from None
        if length < 0 or length > MAX_BODY:
            raise BadRequest(413, "request body too large")
        return await self._read_exactly(length)

    async def _read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise BadRequest(400, "request body ended early")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def _read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD or not await self._fill():
                raise BadRequest(400, "bad chunked body")
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = (await self._read_line()).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size") from None
            if size == 0:
                while await self._read_line():  # trailers, up to the blank line
                    pass
                return bytes(body)
            body += await self._read_exactly(size)
            if len(body) > MAX_BODY:
                raise BadRequest(413, "request body too large")
            await self._read_exactly(2)


def response_head(
    status: int,
    content_type: str,
    keep_alive: bool,
    length: int | None,
    extra: list[tuple[str, str]] | None = None,
) -> bytes:
    """A response's status line and headers; `length=None` means a chunked body."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Date: {formatdate(usegmt=True)}",
        "Server: tokentide-demo",
        f"Content-Type: {content_type}",
    ]
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    lines.extend(f"{name}: {value}" for name, value in extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def bad_request_response(exc: BadRequest) -> bytes:
    """The whole plain-text response to a request that is not valid HTTP (connection closes)."""
    body = f"{exc.status} {REASONS.get(exc.status, '')}: {exc.message}\n".encode()
    return response_head(exc.status, "text/plain; charset=utf-8", False, len(body)) + body


def encode_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def wants_keep_alive(request: Request) -> bool:
    """Whether the client lets the connection stay open after this request."""
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if "close" in tokens:
        return False
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return True


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
