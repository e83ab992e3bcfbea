"""HTTP/2 for the demo server, by prior knowledge on loopback: many answers, one socket.

Why the demo server speaks it: on HTTP/2 a client that stops one answer
cannot close the socket (its other answers share it); it resets that one
stream (RST_STREAM), and a provider stops generating that answer alone. The
client's `--http2` has to prove it does exactly that, against a server that
notices a reset per stream the way it notices EOF per HTTP/1.1 connection.

Why prior knowledge only: the server has no TLS, so no ALPN; a connection
whose first bytes are the HTTP/2 preface is served here, any other by
`h11conn`, and the `tokentide demo-server` command needs no flag. The `h2`
package is imported only when a preface arrives.

This module offers the server and `Exchange` what `h11conn.HttpConnection`
does, per stream (`H2Stream`): requests come in whole, each is answered in its
own task, concurrently, and `watch_eof()` returns when *that* stream is reset
(or the whole connection goes). One difference: `head`, `body` and `end` queue
frames and return b"", and `write()` sends what was queued, because HTTP/2
frames must be encoded in the order they go out (HPACK) and wait for flow
control, which bytes built in advance could not do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from .h11conn import MAX_BODY, REASONS, Disconnected, Request

if TYPE_CHECKING:
    import h2.connection

__all__ = ["PREFACE", "H2Connection", "H2Stream", "sniff"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""What an HTTP/2 client sends first (RFC 9113 §3.4)."""

_READ_SIZE = 65536
_CONNECTION_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade"})
_INTERNAL_ERROR = 0x2


async def sniff(reader: asyncio.StreamReader) -> bytes:
    """A connection's first bytes: enough to tell the HTTP/2 preface from an
    HTTP/1.1 request line (one read for any HTTP/1.1 method), b"" at EOF."""
    data = b""
    while len(data) < len(PREFACE) and PREFACE.startswith(data):
        try:
            chunk = await reader.read(_READ_SIZE)
        except (ConnectionError, OSError):
            chunk = b""
        if not chunk:
            break
        data += chunk
    return data


Handler = Callable[["H2Stream", Request], Awaitable[Any]]
"""Answers one request on its stream (`DemoServer._serve`)."""


class H2Stream:
    """One request's stream: the `conn` of its `Exchange`."""

    def __init__(self, conn: H2Connection, stream_id: int, headers: list[tuple[bytes, bytes]]):
        self._conn = conn
        self.stream_id = stream_id
        #: The TCP connection's number: every stream of a connection shares it.
        self.number = conn.number
        #: True once the stream is reset or the connection gone (the server sets it too).
        self.eof = False
        self._gone = asyncio.Event()
        self._headers = headers
        self._body = bytearray()
        self._queued: list[tuple[str, Any]] = []
        self._head_only = False
        self.ended = False  # our side of the stream is over
        self.too_large = False  # the request body went past MAX_BODY

    def request(self) -> Request:
        """The whole request as HTTP/1.1 requests are given to the server: version
        "2", `:authority` as the Host header, no pseudo-headers."""
        pseudo = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in self._headers if k[:1] == b":"
        }
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._headers:
            if raw_name.startswith(b":"):
                continue
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "host" not in headers and ":authority" in pseudo:
            headers["host"] = pseudo[":authority"]
        method = pseudo.get(":method", "GET")
        self._head_only = method == "HEAD"
        return Request(method, pseudo.get(":path", "/"), "2", headers, bytes(self._body))

    # -------------------------------------------------- what Exchange calls

    def head(
        self,
        status: int,
        headers: list[tuple[str, str]],
        *,
        length: int | None,
        close: bool = False,
    ) -> bytes:
        """Queue the response's HEADERS (`close` has no meaning per stream); returns b""."""
        fields = [
            (":status", str(status)),
            ("date", formatdate(usegmt=True)),
            ("server", "tokentide-demo"),
            *((n.lower(), v) for n, v in headers if n.lower() not in _CONNECTION_HEADERS),
        ]
        if length is not None and not self._head_only:  # h2 would hold HEAD to it
            fields.append(("content-length", str(length)))
        self._queued.append(("head", fields))
        return b""

    def body(self, data: bytes) -> bytes:
        """Queue DATA; returns b"" (see the module docstring)."""
        if data and not self._head_only:
            self._queued.append(("data", data))
        return b""

    def end(self) -> bytes:
        """Queue the end of the stream; returns b""."""
        self._queued.append(("end", None))
        return b""

    @property
    def closing(self) -> bool:
        return self._gone.is_set() or self._conn.closing

    async def write(self, data: bytes) -> None:
        """Send what head/body/end queued (`data` is what they returned: b"")."""
        if data:
            raise ValueError("HTTP/2 frames are queued by head/body/end, not passed as bytes")
        queued, self._queued = self._queued, []
        if self.closing:
            raise Disconnected
        await self._conn.send(self, queued)

    async def watch_eof(self) -> None:
        """Return once the client resets this stream or the connection ends."""
        await self._gone.wait()

    def reject(self, status: int, message: str) -> None:
        """A plain-text refusal sent before the request is handled (body too large)."""
        text = f"{status} {REASONS.get(status, '')}: {message}\n".encode()
        self.head(status, [("content-type", "text/plain; charset=utf-8")], length=len(text))
        self.body(text)
        self.end()

    def _gone_now(self) -> None:
        self.eof = True
        self._gone.set()


class H2Connection:
    """One client socket speaking HTTP/2: one h2 state machine, one task per request.

    The read loop feeds every byte to h2 and writes what h2 wants sent at
    once (settings, pings, window updates); each request, once whole, is
    answered by `handler` in a task of its own. All writes go through the one
    state machine and leave in the order they were encoded.
    """

    def __init__(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        import h2.config
        import h2.connection

        self.number = number
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self._h2: h2.connection.H2Connection = h2.connection.H2Connection(config)
        self._streams: dict[int, H2Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._window = asyncio.Event()  # set whenever a flow-control window may have opened

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()

    async def serve(self, received: bytes, handler: Handler) -> None:
        """Serve the connection until the client closes it; `received` is what
        was read before (at least the preface)."""
        import h2.exceptions

        self._h2.initiate_connection()
        data = received
        try:
            while data:
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self._h2.close_connection(error_code=0x1)  # PROTOCOL_ERROR
                    self._flush()
                    return
                for event in events:
                    self._event(event, handler)
                self._flush()
                try:
                    data = await self.reader.read(_READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
        finally:
            current = asyncio.current_task()
            tasks = list(self._tasks)
            if current is not None and current.cancelling():
                for task in tasks:
                    task.cancel()  # the server is stopping: so do its answers
            else:
                for stream in self._streams.values():
                    stream._gone_now()  # EOF: every answer's client is gone
                self._window.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                self._h2.close_connection()
                self._flush()

    def _event(self, event: Any, handler: Handler) -> None:
        import h2.events

        if isinstance(event, h2.events.RequestReceived):
            self._streams[event.stream_id] = H2Stream(self, event.stream_id, event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None and not stream.too_large:
                stream._body += event.data
                if len(stream._body) > MAX_BODY:
                    stream.too_large = True  # read to the end, kept no more
                    stream._body.clear()
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None and stream.too_large:
                self._refuse(stream, 413, "request body too large")
            elif stream is not None and not stream.ended:
                task = asyncio.ensure_future(self._answer(stream, handler))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                stream.ended = True
                stream._gone_now()  # that answer's client left: only that answer stops
            self._window.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window.set()

    def _refuse(self, stream: H2Stream, status: int, message: str) -> None:
        """Answer a request without handling it.

        Only once the client has sent all of it: a reset while it is still
        sending (RFC 9113 §8.1 allows one) leaves httpcore waiting for flow
        control until its timeout instead of reading the answer.
        """
        stream.reject(status, message)
        queued, stream._queued = stream._queued, []
        with contextlib.suppress(Exception):
            self._encode(stream, queued)
        stream.ended = True
        self._streams.pop(stream.stream_id, None)

    async def _answer(self, stream: H2Stream, handler: Handler) -> None:
        """One request, start to end; its stream never stays open after."""
        import h2.exceptions

        try:
            await handler(stream, stream.request())
        finally:
            self._streams.pop(stream.stream_id, None)
            if not stream.ended and not self.closing:
                # Cut short (a truncated body, a bug): end this stream the way
                # closing the connection would end an HTTP/1.1 response.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.reset_stream(stream.stream_id, error_code=_INTERNAL_ERROR)
                    self._flush()

    # -------------------------------------------------- sending

    async def send(self, stream: H2Stream, queued: list[tuple[str, Any]]) -> None:
        """Encode and send a stream's queued frames; Disconnected if it is gone."""
        import h2.exceptions

        try:
            for kind, value in queued:
                if kind == "data":
                    await self._send_data(stream, value)
                else:
                    self._encode(stream, [(kind, value)])
            self._flush()
            await self.writer.drain()
        except (h2.exceptions.ProtocolError, ConnectionError, OSError) as exc:
            raise Disconnected from exc

    def _encode(self, stream: H2Stream, queued: list[tuple[str, Any]]) -> None:
        """Encode frames at once; DATA only as far as the windows allow (a refusal's
        few bytes: `send` waits for flow control instead)."""
        for kind, value in queued:
            if kind == "head":
                self._h2.send_headers(stream.stream_id, value)
            elif kind == "data":
                size = self._h2.max_outbound_frame_size
                for start in range(0, len(value), size):
                    self._h2.send_data(stream.stream_id, value[start : start + size])
            elif kind == "end":
                self._h2.end_stream(stream.stream_id)
                stream.ended = True

    async def _send_data(self, stream: H2Stream, data: bytes) -> None:
        """DATA frames as the client's flow-control windows allow."""
        while data:
            size = min(
                self._h2.local_flow_control_window(stream.stream_id),
                self._h2.max_outbound_frame_size,
            )
            if size <= 0:
                self._flush()
                if stream.closing:
                    raise Disconnected
                self._window.clear()
                await self._window.wait()
                continue
            self._h2.send_data(stream.stream_id, data[:size])
            data = data[size:]

    def _flush(self) -> None:
        """Hand what h2 has encoded to the socket, in encoding order."""
        data = self._h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
