"""One request being answered: where its bytes go and what its record says.

Why one object: answering a request touches the connection, the request's
record (which must change *before* the bytes it describes go out, so a test
that has read something can rely on the record at once), the request id and
whether the connection stays open. Bundling them keeps every sender, the
routing and the pacing loop to a single argument, and keeps the "record
first, then bytes" rule in exactly one place.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .encoder import Reply
from .h2conn import H2Stream
from .h11conn import Disconnected, HttpConnection, Request
from .records import RecordBook, RequestRecord

__all__ = ["Exchange"]


@dataclass
class Exchange:
    """One HTTP request and the response under way to it."""

    #: The HTTP/1.1 connection, or the HTTP/2 stream, the response goes out on.
    conn: HttpConnection | H2Stream
    book: RecordBook
    record: RequestRecord
    request: Request
    #: The server's rng: request ids follow one sequence per seed.
    rng: random.Random
    #: Whether the connection stays open after the response; the server may clear it.
    keep_alive: bool = True
    _unsent_head: bytes = field(default=b"", init=False, repr=False)

    def update(self, **changes: Any) -> None:
        self.book.update(self.record, **changes)

    def _head(
        self,
        status: int,
        content_type: str,
        headers: Iterable[tuple[str, str]],
        length: int | None,
    ) -> bytes:
        request_id = "req_" + "".join(self.rng.choices("0123456789abcdef", k=32))
        fields = [("Content-Type", content_type), ("x-request-id", request_id), *headers]
        return self.conn.head(status, fields, length=length, close=not self.keep_alive)

    async def reply(self, reply: Reply, **final: Any) -> None:
        """Send a whole fixed-length response.

        The record is finalised (status, ended_at and any `final` fields)
        before the bytes go out.
        """
        await self._send_fixed(reply, reply.body, final)

    async def reply_cut(self, reply: Reply) -> None:
        """Declare the whole body, send half of it and close: a proxy cutting a response."""
        self.keep_alive = False
        await self._send_fixed(reply, reply.body[: len(reply.body) // 2], {}, end=False)

    async def reply_held(self, reply: Reply) -> None:
        """Declare the whole body and send all of it but the last byte, then hold
        on: a reply whose end never comes (the caller waits for the client to leave)."""
        self.keep_alive = False
        await self._send_fixed(reply, reply.body[:-1], {"held": True}, end=False, ended=False)

    async def _send_fixed(
        self,
        reply: Reply,
        body: bytes,
        final: dict[str, Any],
        *,
        end: bool = True,
        ended: bool = True,
    ) -> None:
        if self.conn.closing:
            raise Disconnected
        head = self._head(reply.status, reply.content_type, reply.headers, len(reply.body))
        data = head + self.conn.body(body) + (self.conn.end() if end else b"")
        if ended:
            final["ended_at"] = time.perf_counter()
        self.update(status=reply.status, bytes_sent=self.record.bytes_sent + len(body), **final)
        await self.conn.write(data)

    def begin_stream(self, content_type: str, headers: list[tuple[str, str]]) -> None:
        """Start a 200 whose body is sent piece by piece; the head goes with the first piece."""
        self._unsent_head = self._head(200, content_type, headers, None)
        self.update(status=200)

    async def send(self, data: bytes, *, last: bool = False, **changes: Any) -> None:
        """Send the next piece of a streamed body (and end it if `last`).

        The record gets `changes` (and `ended_at` if `last`) *before* the bytes
        go out: whatever the client has received, the record accounts for.
        """
        if self.conn.closing:
            raise Disconnected
        if last:
            changes["ended_at"] = time.perf_counter()
        if data:
            changes["bytes_sent"] = self.record.bytes_sent + len(data)
        if changes:
            self.update(**changes)
        out = self._unsent_head + self.conn.body(data) + (self.conn.end() if last else b"")
        self._unsent_head = b""
        await self.conn.write(out)
