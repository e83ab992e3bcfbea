"""A loopback HTTP server that replays canned response bytes.

The wire-fixture tests need a peer that sends exactly the bytes of a recorded
stream - split into small chunks so no parser can rely on one chunk = one
event - over a real socket, and that records what the client sent. `{bearer}`
in a canned body is replaced by the bearer token the request carried: a
server that echoes the key back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Canned:
    body: bytes
    status: int = 200
    content_type: str = "text/event-stream"
    chunk_size: int = 7
    seed: int | None = None
    """Pieces of random sizes (1 to 2 * chunk_size bytes) from this seed, instead
    of equal ones: no parser may rely on where a read happens to end."""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    """Keep the connection open after the body, without ending it, until the
    client hangs up: a server that never sends its end marker."""
    close_early: bool = False
    """Close the connection after the body without its last chunk: the
    connection broke mid-answer."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class LoopbackServer:
    """An asyncio server on 127.0.0.1 (an ephemeral port) in a thread of its
    own, so a test's client and the server never share an event loop; a
    subclass answers in `_handle`."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ssl)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class ReplayServer(LoopbackServer):
    def __init__(self, *, tls: bool = False) -> None:
        """`tls`: HTTPS, with the certificate of tests/fixtures/loopback-cert.pem
        (127.0.0.1 and localhost; trust it with SSL_CERT_FILE)."""
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(FIXTURES / "loopback-cert.pem", FIXTURES / "loopback-key.pem")
        super().__init__(context)
        self.queue: list[Canned] = []
        self.seen: list[Seen] = []

    @property
    def base_url(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def reply(self, canned: Canned) -> None:
        self.queue.append(canned)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    key, value = line.split(":", 1)
                    headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            raw = await reader.readexactly(length) if length else b""
            self.seen.append(Seen(method, path, headers, json.loads(raw) if raw else None))
            canned = self.queue.pop(0) if self.queue else Canned(b"", status=500)
            extra = "".join(f"{k}: {v}\r\n" for k, v in canned.headers.items())
            writer.write(
                (
                    f"HTTP/1.1 {canned.status} X\r\nContent-Type: {canned.content_type}\r\n"
                    f"Transfer-Encoding: chunked\r\nConnection: close\r\n{extra}\r\n"
                ).encode()
            )
            # A server that echoes the key back, as OpenAI's 401 does.
            token = headers.get("authorization", "").removeprefix("Bearer ")
            body = canned.body.replace(b"{bearer}", token.encode())
            for piece in _pieces(body, canned):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
                if canned.delay:
                    await asyncio.sleep(canned.delay)
            if canned.hold:
                await reader.read()  # until the client closes the connection
                return
            if canned.close_early:
                return
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _pieces(body: bytes, canned: Canned) -> list[bytes]:
    if canned.seed is None:
        size = canned.chunk_size
        return [body[i : i + size] for i in range(0, len(body), size)]
    rng = random.Random(canned.seed)
    pieces, i = [], 0
    while i < len(body):
        n = rng.randint(1, 2 * canned.chunk_size)
        pieces.append(body[i : i + n])
        i += n
    return pieces


class Pieces(httpx.AsyncByteStream):
    """A body in given pieces, for httpx.MockTransport: where reads end is up
    to the test (see `split_at`), not to a socket."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self):
        for piece in self._pieces:
            yield piece


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    """`body` cut at each of `cuts` (clamped, deduplicated, in order)."""
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]
