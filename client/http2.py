"""HTTP/2 for the client: stop one answer without touching the connection it shares.

Why this module exists: on HTTP/1.1 an answer owns its connection, so a stop
shuts the socket down and the server sees EOF. On HTTP/2 one connection
carries every answer of the client, so a stop must reset only its own stream
(RST_STREAM) and leave the socket alone. httpcore 1.0 does not do that:
closing an HTTP/2 response early (`_response_closed`) only frees httpcore's
own bookkeeping and sends nothing, so the server would go on generating (and
billing) into a stream nobody reads (encode/httpcore#943, closed as won't
fix). The reset is therefore sent here, through httpcore's own h2 state
machine, so that both ends agree the stream is closed and its frames go out in
order with everyone else's.

That means touching httpcore internals; every such access is in this module,
guarded (a missing attribute means "cannot reset", never a crash), and
tests/test_http2.py proves against a real server that the reset arrives.

Nothing here imports `h2` at module level: HTTP/1.1 users must not pay for it
(`without_h2` even keeps httpcore from importing it behind their back).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["StreamHandle", "find_stream", "plain_http", "without_h2"]

_CANCEL = 0x8  # RFC 9113 error code CANCEL: "the stream is no longer needed"


def plain_http(base_url: str) -> bool:
    """No TLS: HTTP/2 is then spoken by prior knowledge (there is no ALPN to
    agree on it, and h2c upgrades are not worth a round trip), and a client
    needs no certificate roots (client/netio.py)."""
    return urlsplit(base_url).scheme.lower() == "http"


@contextlib.contextmanager
def without_h2() -> Iterator[None]:
    """Import httpcore (if it is not yet) without letting it import `h2`.

    httpcore's package `__init__` imports its HTTP/2 connection eagerly when
    `h2` is installed (13-25 ms of a cold start), although it only needs it
    for HTTP/2 connections, which import it themselves, lazily. So while an
    HTTP/1.1 client is built, `import h2` fails on purpose: httpcore falls
    back to a placeholder for the package-level name it never uses, and a
    later HTTP/2 client in the same process still gets the real thing.
    """
    if "httpcore" in sys.modules or "h2" in sys.modules:
        yield
        return
    sys.modules["h2"] = None  # type: ignore[assignment]  # `import h2` raises ImportError
    try:
        import httpcore  # noqa: F401

        yield
    finally:
        if sys.modules.get("h2", "") is None:
            del sys.modules["h2"]


@dataclass
class StreamHandle:
    """One request's HTTP/2 stream, as httpcore's connection knows it."""

    connection: Any  # httpcore._async.http2.AsyncHTTP2Connection
    stream_id: int
    request: Any  # the httpcore Request, for its write timeout

    def reset(self) -> bool:
        """Queue RST_STREAM(CANCEL) if the stream is still open; True if queued.

        Synchronous, so it can run from a loop callback: the frame goes out
        with the next write on the connection, or with `flush()`.
        """
        from h2.exceptions import ProtocolError

        try:
            state = self.connection._h2_state
            stream = state.streams.get(self.stream_id)
            if stream is None or stream.closed:
                return False  # finished (or never opened): nothing to stop
            state.reset_stream(self.stream_id, error_code=_CANCEL)
        except (ProtocolError, AttributeError):
            return False  # the connection is closed, or httpcore changed
        return True

    async def flush(self) -> None:
        """Write what the connection has queued (the reset) now; never raises:
        a connection that broke meanwhile has stopped the stream anyway."""
        with contextlib.suppress(Exception):
            await self.connection._write_outgoing_data(self.request)


def find_stream(http: Any, request: Any, stream_id: int) -> StreamHandle | None:
    """The stream `request` was just given, from the httpx client `http`.

    Called from httpcore's trace as the request's headers go out, when the
    pool still lists the request with the connection it was assigned to: an
    exact match, whichever of several connections carries it. None when the
    client does not use httpcore's pool (a custom transport, a proxy) or
    httpcore has changed.
    """
    try:
        from httpcore._async.http2 import AsyncHTTP2Connection

        pool = http._transport._pool
        for pooled in pool._requests:
            if pooled.request is request:
                connection = getattr(pooled.connection, "_connection", None)
                if isinstance(connection, AsyncHTTP2Connection):
                    return StreamHandle(connection, stream_id, request)
    except (AttributeError, ImportError):
        pass
    return None
