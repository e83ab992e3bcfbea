"""Bytes off the wire -> frames: SSE events or NDJSON lines, each bounded.

A frame is `(event name, data)`: the SSE `event:` field ("message" when
absent, as the spec says) and its `data:`, or an empty name and one JSON
line. Wire-format parsers
(`providers/`) take frames and know nothing of how they were cut.

Lines are cut here, from `response.aiter_bytes()`, and never grow past a
limit: httpx-sse's own reader (`aiter_sse`) keeps a line in memory until it
ends, so one line that never ends took the process to 1.35 GB in 3 s. The
bytes of the event being read are counted while its line is still growing,
so the limit trips before the memory is spent, not after. SSE lines end at
CR, LF or CRLF (a CRLF split over two reads is one line end) and are then
decoded by httpx-sse's `SSEDecoder` (fields, comments, multi-line data); a
leading byte order mark is dropped, as the spec says. NDJSON is cut on b"\\n"
only: httpx's `aiter_lines` also splits on U+2028 and other Unicode line
breaks, which JSON allows raw inside a string, so one object could arrive as
two broken halves.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
from httpx_sse._decoders import SSEDecoder  # not re-exported; pinned in pyproject.toml

from .config import Limits
from .errors import no_events, too_large

Frame = tuple[str, str]

DEFAULT_EVENT_BYTES = Limits.event_bytes

_SSE_LINE_END = re.compile(rb"\r\n|\r|\n")
_NDJSON_LINE_END = re.compile(rb"\n")
_BOM = b"\xef\xbb\xbf"
"""A byte order mark opening the stream is not part of its first line."""


NO_EVENT_BYTES = 4 << 20
"""Bytes with no event in them after which a stream is stopped (or the event
limit, if higher). Keep-alive comments are a few bytes every few seconds; this
many is a server sending nothing but blank lines, which no read timeout ends."""


def _nothing() -> None:
    pass


def frames(
    response: httpx.Response,
    framing: str,
    *,
    limit: int = DEFAULT_EVENT_BYTES,
    on_read: Callable[[], None] = _nothing,
) -> AsyncIterator[Frame]:
    """The frames of a streaming response whose Content-Type was checked;
    an event over `limit` bytes ends them with the limit's ApiError.
    `on_read` is called as each read arrives, before its frames are parsed:
    the meter stamps the tokens of one read with the moment it came in, so
    parsing time never shows up as latency between them."""
    if framing == "sse":
        return sse_frames(response, limit=limit, on_read=on_read)
    if framing == "ndjson":
        return ndjson_frames(response, limit=limit, on_read=on_read)
    raise ValueError(f"unknown framing {framing!r}")


class Lines:
    """Bytes -> lines, with no line (nor event) allowed past `limit` bytes.

    `held` is what the caller still holds of the event being read (the SSE
    data lines before its blank line); it counts against the same limit, so
    an event of endless short `data:` lines trips it too. A CR at the end of
    a read ends its line at once (so a stream that ends lines with CR alone
    is not held back a read); a LF opening the next read is then the second
    half of that CRLF, not an empty line.
    """

    __slots__ = ("_cr", "_ends", "_pending", "held", "idle", "limit")

    def __init__(self, ends: re.Pattern[bytes], limit: int) -> None:
        self._ends = ends
        self.limit = limit
        self.held = 0
        self.idle = 0
        """Bytes fed since the caller last made a frame (`framed`)."""
        self._pending = bytearray()
        self._cr = False

    def framed(self) -> None:
        self.idle = 0

    def check_idle(self) -> None:
        """After a read: a stream of only blank lines or comments is stopped at
        `NO_EVENT_BYTES` (or the event limit, if higher), since no read timeout
        ends it."""
        most = max(self.limit, NO_EVENT_BYTES)
        if self.idle > most:
            raise no_events(most)

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        self.idle += len(chunk)
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._cr = False
        start = 0
        for end in self._ends.finditer(chunk):
            piece = chunk[start : end.start()]
            if self._pending:
                self._pending += piece
                line = bytes(self._pending)
                self._pending.clear()
            else:
                line = piece
            self._check(len(line))
            yield line
            start = end.end()
            self._cr = end.group() == b"\r" and start == len(chunk)
        if start < len(chunk):
            self._check(len(self._pending) + len(chunk) - start)
            self._pending += chunk[start:]

    def _check(self, size: int) -> None:
        if self.held + size > self.limit:
            raise too_large("event", self.limit)

    def rest(self) -> bytes:
        """The last line, if the stream ended without ending it."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest


async def sse_frames(
    response: httpx.Response,
    *,
    limit: int = DEFAULT_EVENT_BYTES,
    on_read: Callable[[], None] = _nothing,
) -> AsyncIterator[Frame]:
    # UTF-8 always, whatever charset the header claims (SSE spec). CR and LF
    # never occur inside a multi-byte UTF-8 sequence, so a line decodes alone.
    lines = Lines(_SSE_LINE_END, limit)
    decoder = SSEDecoder()
    first = True
    async for chunk in response.aiter_bytes():
        on_read()
        for raw in lines.feed(chunk):
            if first:
                raw, first = raw.removeprefix(_BOM), False
            line = raw.decode("utf-8", "replace")
            if not line:
                lines.held = 0
            elif not line.startswith(":"):
                lines.held += len(raw)  # comments are not kept: they do not count
            sse = decoder.decode(line)
            if sse is not None and sse.data:  # SSEDecoder dispatches empty events too
                lines.framed()
                yield sse.event or "message", sse.data
        lines.check_idle()
    # An event the stream ended without its blank line is discarded (the spec).


async def ndjson_frames(
    response: httpx.Response,
    *,
    limit: int = DEFAULT_EVENT_BYTES,
    on_read: Callable[[], None] = _nothing,
) -> AsyncIterator[Frame]:
    lines = Lines(_NDJSON_LINE_END, limit)
    first = True
    async for chunk in response.aiter_bytes():
        on_read()
        for raw in lines.feed(chunk):
            if first:
                raw, first = raw.removeprefix(_BOM), False
            if line := _decode(raw):
                lines.framed()
                yield "", line
        lines.check_idle()
    rest = lines.rest()
    if line := _decode(rest.removeprefix(_BOM) if first else rest):
        yield "", line


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "replace").strip()


async def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body, or its first `limit` bytes and True when there was more
    (reading stops there: the rest is never held)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > limit:
            body += chunk[: limit - len(body)]
            return bytes(body), True
        body += chunk
    return bytes(body), False
