"""Typed SSE streams from the demo server, as a client sees them, for the per-API tests.

Anthropic Messages and OpenAI Responses both name every event (`event:`) and
repeat the name as the JSON `type`; these helpers read a whole stream over a
real socket, keep its raw bytes (to check framing) and decode it with
httpx-sse, the parser tokentide itself uses.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent


@dataclass
class Streamed:
    """Everything one streamed request produced on the client side."""

    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[ServerSentEvent]

    @property
    def types(self) -> list[str]:
        return [e.event for e in self.events]

    @property
    def data(self) -> list[dict[str, Any]]:
        return [e.json() for e in self.events]

    def of(self, type_: str) -> list[dict[str, Any]]:
        """The JSON of every event of this type, in order."""
        return [e.json() for e in self.events if e.event == type_]


def decode(raw: bytes) -> list[ServerSentEvent]:
    """The events in a whole SSE body, decoded by httpx-sse."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=raw)
    return list(EventSource(response).iter_sse())


async def post_stream(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> Streamed:
    raw = bytearray()
    async with client.stream("POST", url, json=body, headers=headers) as response:
        async for piece in response.aiter_raw():
            raw += piece
    return Streamed(response.status_code, response.headers, bytes(raw), decode(bytes(raw)))


def collapsed(types: list[str], *, skip: tuple[str, ...] = ()) -> list[str]:
    """Event types with runs of one type written once: a stream's grammar, not its length."""
    return [t for t, _ in itertools.groupby(t for t in types if t not in skip)]


def shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (lists by their first element), without values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def compact(data: str) -> bool:
    """Whether a JSON text is written without optional spaces (as re-dumping it compactly)."""
    return data == json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False)
