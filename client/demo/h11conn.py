"""HTTP/1.1 for the demo server: one h11 state machine per client socket.

Why h11 rather than a hand-written parser: the demo server has to behave like
a real provider on a real socket (keep-alive reuse, chunked bodies written
token by token, strict parsing of what clients send), and h11 gets request
parsing, body framing and connection reuse right while leaving all I/O to us.
That matters here: the server must keep reading while it writes (to notice a
client's EOF within milliseconds) and must decide exactly when each byte goes
out, which a framework with its own I/O would hide.

This module knows nothing about any LLM API: it turns a socket into requests
and turns statuses, headers and body pieces into bytes. Standard library and
h11 only, and no textual/rich: `client` must stay importable without the UI.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import formatdate

import h11

__all__ = [
    "MAX_BODY",
    "MAX_HEAD",
    "REASONS",
    "BadRequest",
    "Disconnected",
    "HttpConnection",
    "Request",
]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
_READ_SIZE = 65536

REASONS = {
    100: "Continue",
    200: "OK",
    302: "Found",
    307: "Temporary Redirect",
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


class BadRequest(Exception):
    """A request that is not valid HTTP/1.1: answered with a plain 4xx and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Disconnected(Exception):
    """The client went away while we were writing."""


@dataclass(frozen=True)
class Request:
    """One whole request; `headers` has lower-cased names, repeated ones joined by ", "."""

    method: str
    target: str
    #: "1.1" or "1.0".
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        """Whether the client lets the connection stay open afterwards (h11's rule)."""
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        return "close" not in tokens and self.version >= "1.1"


class HttpConnection:
    """One client socket: requests in, response bytes out, EOF noticed while writing.

    Every byte read goes through the one `h11.Connection`, including bytes the
    EOF watcher reads while a response is being written (a pipelined next
    request), so nothing read early is lost for the next cycle. Methods that
    return bytes only advance h11's state: the caller writes them, so it can
    update its bookkeeping first and batch several pieces into one write.
    """

    def __init__(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.number = number
        self.reader = reader
        self.writer = writer
        #: True once the peer has closed (or reset) its side.
        self.eof = False
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._head_only = False  # a HEAD request: responses carry no body

    # ----------------------------------------------------------------- reading

    def feed(self, data: bytes) -> None:
        """Bytes read before this object existed (the server sniffs each
        connection's first bytes for the HTTP/2 preface); b"" is EOF."""
        self._h11.receive_data(data)
        if not data:
            self.eof = True

    async def _fill(self) -> int:
        """Read what the socket has into h11; 0 (and `eof`) once the peer has closed."""
        if self.eof:
            return 0
        try:
            data = await self.reader.read(_READ_SIZE)
        except (ConnectionError, OSError):
            data = b""
        self._h11.receive_data(data)
        if not data:
            self.eof = True
        return len(data)

    async def read_request(self) -> Request | None:
        """The next whole request with its body; None when the client closed between requests."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadRequest(exc.error_status_hint, str(exc)) from None
            if event is h11.NEED_DATA:
                await self._fill()
            elif isinstance(event, h11.Request):
                head = event
                self._accept_head(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise BadRequest(413, "request body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None
            else:  # PAUSED: a response is still unfinished, a caller bug
                raise RuntimeError(f"read_request() while h11 is {event!r}")

    def _accept_head(self, head: h11.Request) -> None:
        """Refuse an oversized body before reading it; otherwise let the client send it."""
        self._head_only = head.method == b"HEAD"
        for name, value in head.headers:
            if name == b"content-length" and int(value) > MAX_BODY:
                raise BadRequest(413, "request body too large")
        if self._h11.they_are_waiting_for_100_continue:
            go_on = h11.InformationalResponse(status_code=100, headers=[], reason=REASONS[100])
            self.writer.write(self._h11.send(go_on))

    async def watch_eof(self) -> None:
        """Return as soon as the peer closes (or resets) the connection, or floods us.

        Runs while a response is being written; what it reads stays queued in
        h11 for the next request on this connection.
        """
        received = 0
        while (read := await self._fill()) > 0:
            received += read
            if received > MAX_BODY:
                return

    # ----------------------------------------------------------------- writing

    def head(
        self, status: int, headers: list[tuple[str, str]], *, length: int | None, close: bool
    ) -> bytes:
        """A response's status line and headers.

        `length=None` leaves the framing to h11: chunked for an HTTP/1.1 peer.
        `close` asks for the connection to end after this response; h11 adds
        that by itself when the request asked for it.
        """
        fields = [
            ("Date", formatdate(usegmt=True)),
            ("Server", "tokentide-demo"),
            *headers,
            ("Connection", "close" if close else "keep-alive"),
        ]
        if length is not None:
            fields.append(("Content-Length", str(length)))
        response = h11.Response(status_code=status, headers=fields, reason=REASONS.get(status, ""))
        return self._h11.send(response)

    def body(self, data: bytes) -> bytes:
        """Bytes of the body under way, framed as its head declared (b"" stays b"")."""
        if not data or self._head_only:
            return b""
        return self._h11.send(h11.Data(data=data))

    def end(self) -> bytes:
        """The end of the body under way (the last chunk of a chunked one)."""
        return self._h11.send(h11.EndOfMessage())

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()

    async def write(self, data: bytes) -> None:
        """Send bytes; Disconnected if the client has gone."""
        if self.closing:
            raise Disconnected
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise Disconnected from exc

    def reject(self, exc: BadRequest) -> bytes:
        """The whole plain-text response to a request that is not valid HTTP (then close)."""
        text = f"{exc.status} {REASONS.get(exc.status, '')}: {exc.message}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        try:
            head = self.head(exc.status, headers, length=len(text), close=True)
            return head + self.body(text) + self.end()
        except h11.LocalProtocolError:  # a response had already begun: just close
            return b""

    def next_cycle(self) -> bool:
        """Get ready for the next request on this connection; False if it must close."""
        h = self._h11
        if self.eof or h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            return False
        h.start_next_cycle()
        self._head_only = False
        return True


def _request(head: h11.Request, body: bytes) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in head.headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Request(
        method=head.method.decode("latin-1"),
        target=head.target.decode("latin-1"),
        version=head.http_version.decode("latin-1"),
        headers=headers,
        body=body,
    )
