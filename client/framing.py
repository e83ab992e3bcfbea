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
from typing import Literal

import httpx
from httpx_sse import EventSource

Framing = Literal["sse", "ndjson"]
Frame = tuple[str, str]


def frames(response: httpx.Response, framing: Framing) -> AsyncIterator[Frame]:
    """The frames of a streaming response, in order."""
    if framing == "sse":
        return sse_frames(response)
    if framing == "ndjson":
        return ndjson_frames(response)
    raise ValueError(f"unknown framing {framing!r}")


async def sse_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    events = EventSource(response).aiter_sse()
    try:
        async for sse in events:
            if sse.data:  # httpx-sse dispatches empty events that the spec drops
                yield sse.event, sse.data
    finally:
        await events.aclose()


async def ndjson_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    pending = bytearray()
    async for chunk in response.aiter_bytes():
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = _decode(pending[start:end])
            start = end + 1
            if line:
                yield "", line
        del pending[:start]
    if line := _decode(pending):
        yield "", line


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "replace").strip()
