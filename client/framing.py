"""Bytes off the wire -> frames: SSE events or NDJSON lines.

A frame is `(event name, data)`: the SSE `event:` field ("message" when
absent, as the spec says) and its `data:`, or an empty name and one JSON
line. Wire-format parsers
(`providers/`) take frames and know nothing of how they were cut.

SSE is httpx-sse's job (CR, LF and CRLF line ends, comments, multi-line
data). NDJSON is cut here, on b"\\n" only: httpx's `aiter_lines` also splits
on U+2028 and other Unicode line breaks, which JSON allows raw inside a
string, so one object could arrive as two broken halves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource

Frame = tuple[str, str]


def frames(response: httpx.Response, framing: str) -> AsyncIterator[Frame]:
    """The frames of a streaming response whose Content-Type was checked."""
    if framing == "sse":
        return sse_frames(response)
    if framing == "ndjson":
        return ndjson_frames(response)
    raise ValueError(f"unknown framing {framing!r}")


class _CheckedEventSource(EventSource):
    """httpx-sse compares the Content-Type case-sensitively; the client has
    already checked it (case-insensitively, as RFC 9110 says), so it is not
    checked twice with two answers."""

    def _check_content_type(self) -> None:
        pass


async def sse_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    response.encoding = "utf-8"  # always, whatever charset the header claims (SSE spec)
    events = _CheckedEventSource(response).aiter_sse()
    try:
        async for sse in events:
            if sse.data:  # httpx-sse dispatches empty events that the spec drops
                yield sse.event, sse.data
    finally:
        await events.aclose()


async def ndjson_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    pending = bytearray()
    async for chunk in response.aiter_bytes():
        searched = len(pending)  # a long line is searched once, not once per chunk
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", searched)) >= 0:
            line = _decode(pending[start:end])
            start = searched = end + 1
            if line:
                yield "", line
        del pending[:start]
    if line := _decode(pending):
        yield "", line


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "replace").strip()
