"""Sockets for httpx: each read from its own thread, stamped as it arrives,
handed to the event loop in batches.

Why: a stream of tokens is hundreds of small reads a second, and waking the
event loop for each costs far more than the read: the loop and everything a
token goes through (h11, httpx, the parser, the view) run from a cold cache
every time. On a 4,000-token answer at 200 tok/s, `tokentide ask --raw` took
2.8-2.9 s of CPU with the loop woken for every read, 1.8 s with it woken at
most every 20 ms (the same tokens read, but stamped late: four tokens that
came 5 ms apart looked like one arrival), and 1.9-2.1 s this way. A thread
per connection does the reading: it waits on the socket, reads each arrival
as it comes (about 0.1 ms of CPU a read, against 0.25 ms for waking the
loop), stamps it, and wakes the loop at once after a quiet spell or when
`WAKE_BYTES` are waiting, else at most every `WAKE_EVERY` seconds. The meter
takes each read's stamp (`SocketStream.age`), so inter-token latency stays
what the network delivered, even while the loop is busy; the screen, which
draws at 15 frames a second, loses nothing.

Writes, connecting and TLS (an `ssl.SSLObject` over memory buffers) stay on
the event loop. httpcore is built for this: a connection pool takes any
`AsyncNetworkBackend`. Everything else (HTTP/1.1 and HTTP/2, ALPN, the pool,
proxies, which httpx mounts apart) stays httpx's and httpcore's. httpcore's
own anyio backend cost more still: its streams stop reading the socket after
every chunk and start again at the next `receive()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from .http2 import plain_http

HIGH_WATER = 1 << 20
"""Unread bytes at which the socket stops being read until the loop has taken
most of them (the server then waits on TCP's window instead of filling our
memory)."""

RECEIVE_AREA = 1 << 16
"""Bytes read at a time (httpcore asks for at most 64 KiB)."""

WAKE_EVERY = 0.02
"""The event loop is woken for new bytes at most this often (seconds); bytes
after a quieter spell wake it at once (the first token, the end)."""

WAKE_BYTES = 4096
"""Unread bytes that wake the loop at once: tokens come fast, and a wake is
worth its cost (at 200 tok/s four tokens take about 600 bytes)."""

READ_EVERY = 0.005
"""The reader thread reads at most this often while the loop has bytes to
take: at thousands of tokens a second it takes several per read, stamped to
within this, rather than waking for each."""

_clock = time.perf_counter


class _Reader:
    """One socket's reading, in a thread of its own.

    The thread appends (arrival time, bytes) pairs; the loop takes them one
    read at a time (`take`), so each keeps its own stamp. Everything shared is
    guarded by one condition, which the thread also rests on (back-pressure,
    the pause between reads), so closing wakes it at once.
    """

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.loop = loop
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.size = 0
        self.eof = False
        self.error: OSError | None = None
        self.closed = False
        self.done = threading.Event()
        self._lock = threading.Condition(threading.Lock())
        self._waiter: asyncio.Future[None] | None = None
        self._woken_at = -WAKE_EVERY
        self._due: float | None = None
        self._thread = threading.Thread(target=self._run, name="tokentide-socket", daemon=True)
        self._thread.start()

    # -- the loop's side ------------------------------------------------------

    def take(self, max_bytes: int) -> tuple[float, bytes] | None:
        """The oldest read not taken yet (up to `max_bytes` of it), or None if
        there is none and more may come; b"" at the end."""
        with self._lock:
            if self.chunks:
                at, data = self.chunks[0]
                if len(data) > max_bytes:
                    self.chunks[0] = (at, data[max_bytes:])
                    data = data[:max_bytes]
                else:
                    self.chunks.popleft()
                self.size -= len(data)
                if self.size <= HIGH_WATER // 4:
                    self._lock.notify()  # a thread held back by HIGH_WATER reads on
                return at, data
            if self.error is not None:
                raise httpcore.ReadError(str(self.error) or type(self.error).__name__)
            if self.eof:
                return _clock(), b""
            return None

    def wait(self) -> asyncio.Future[None]:
        """A future the thread resolves when there is something to `take`."""
        waiter = self.loop.create_future()
        with self._lock:
            if self.chunks or self.eof:
                waiter.set_result(None)
            else:
                self._waiter = waiter
                self._lock.notify()  # the thread may be resting: read now
        return waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        with self._lock:
            if self._waiter is waiter:
                self._waiter = None

    def close(self) -> None:
        """Stop the thread: shut the socket's reading down, so its wait on the
        socket ends. Not its writing: a FIN sent first left the close without
        the reset that unread bytes bring, and a server still writing to us
        waited for its own close forever (seen in tests/test_limits.py)."""
        with self._lock:
            self.closed = True
            self._lock.notify()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)

    # -- the thread's side ----------------------------------------------------

    def _run(self) -> None:
        area = memoryview(bytearray(RECEIVE_AREA))
        readable = _readable(self.sock)
        last_read = -READ_EVERY
        try:
            while not self.closed:
                # Read without the lock: under the GIL a stale value only
                # costs one more turn of the loop.
                if self.size > HIGH_WATER:
                    with self._lock:
                        self._wake_if_due(_clock(), now=True)  # plenty to take
                        while not self.closed and self.size > HIGH_WATER:
                            self._lock.wait()
                    continue
                due = self._due
                if not readable(None if due is None else max(0.0, due - _clock())):
                    with self._lock:
                        self._wake_if_due(_clock())
                    continue
                rest = last_read + READ_EVERY - _clock()
                if rest > 0 and self.chunks:  # bytes come fast: let a few gather
                    with self._lock:
                        if not self.closed and self._waiter is None:
                            self._lock.wait(rest)
                try:
                    size = self.sock.recv_into(area)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    self._end(exc)
                    return
                last_read = _clock()
                if not size:
                    self._end(None)
                    return
                with self._lock:
                    self.chunks.append((last_read, bytes(area[:size])))
                    self.size += size
                    self._wake_if_due(last_read)
        except (OSError, ValueError) as exc:  # the socket was closed under us
            self._end(exc if isinstance(exc, OSError) else None)
        finally:
            self.done.set()

    def _end(self, error: OSError | None) -> None:
        with self._lock:
            self.eof = True
            if not self.closed:
                self.error = error
            self._wake_if_due(_clock(), now=True)

    def _wake_if_due(self, at: float, *, now: bool = False) -> None:
        """With the lock held: wake a waiting loop if it is time, else note when."""
        self._due = None
        if self._waiter is None or not (self.chunks or self.eof):
            return
        if not now and at - self._woken_at < WAKE_EVERY and self.size < WAKE_BYTES:
            self._due = self._woken_at + WAKE_EVERY
            return
        waiter, self._waiter, self._woken_at = self._waiter, None, at
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(_wake, waiter)


def _readable(sock: socket.socket) -> Callable[[float | None], bool]:
    """Wait until `sock` has bytes (or its end) or the timeout passes (seconds;
    None: no timeout): poll(2), or select(2) where there is no poll (Windows)."""
    if not hasattr(select, "poll"):
        return lambda timeout: bool(select.select([sock], [], [], timeout)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return lambda timeout: bool(poller.poll(-1 if timeout is None else int(timeout * 1000) + 1))


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class SocketStream(httpcore.AsyncNetworkStream):
    """A connected socket read by a `_Reader`, with TLS (if started) done on
    the loop over memory buffers."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = _Reader(sock, asyncio.get_running_loop())
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._arrived_at: float | None = None
        self._closed = False

    def age(self) -> float:
        """Seconds since the bytes last read arrived (0 before any)."""
        return 0.0 if self._arrived_at is None else max(0.0, _clock() - self._arrived_at)

    async def _raw(self, max_bytes: int, timeout: float | None) -> bytes:
        reader = self._reader
        waited = False
        while (taken := reader.take(max_bytes)) is None:
            waited = True
            waiter = reader.wait()
            try:
                await _wait(waiter, timeout, httpcore.ReadTimeout)
            finally:
                reader.forget(waiter)
        if not waited:
            # The bytes were waiting: give the loop a turn all the same. A server
            # sending faster than it is parsed (or only blank lines, which make no
            # frame to hand on) kept every other task from running otherwise:
            # Ctrl-C's handler, the timeouts, the screen.
            await asyncio.sleep(0)
        at, data = taken
        if data:
            self._arrived_at = at
        return data

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._tls is None:
            return await self._raw(max_bytes, timeout)
        while True:
            try:
                return self._tls.read(max_bytes)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""  # closed, with or without close_notify: h11 knows if the body ended
            except ssl.SSLError as exc:
                raise httpcore.ReadError(str(exc)) from exc
            if not await self._pull(timeout):  # a TLS 1.3 key update may want an answer
                self._incoming.write_eof()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._tls is not None:
            try:
                self._tls.write(buffer)
            except ssl.SSLError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            await self._flush(timeout)
        else:
            await self._send(buffer, timeout)

    async def _pull(self, timeout: float | None) -> bool:
        """Send what TLS has to say, then hand it the next bytes read; False at the end."""
        await self._flush(timeout)
        data = await self._raw(RECEIVE_AREA, timeout)
        if data:
            self._incoming.write(data)
        return bool(data)

    async def _flush(self, timeout: float | None) -> None:
        if data := self._outgoing.read():
            await self._send(data, timeout)

    async def _send(self, data: bytes, timeout: float | None) -> None:
        if self._closed:
            raise httpcore.WriteError("the connection is closed")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        """Closed by the time this returns: the reader thread has stopped
        (it waits on the socket, whose number must not be reused under it)
        and the socket is closed."""
        if self._closed:
            return
        self._closed = True
        self._reader.close()
        if not self._reader.done.wait(1.0):  # at once: the shutdown ended its wait
            return  # a stuck thread keeps the socket rather than race its reuse
        self._sock.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = ssl_context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        tls.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        pass
                    if not await self._pull(None):
                        raise ConnectionError("the connection closed during the TLS handshake")
                await self._flush(None)
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, httpcore.NetworkError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc)) from exc
        self._tls = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._tls
        if info == "socket":
            return self._sock
        with contextlib.suppress(OSError):
            if info == "client_addr":
                return self._sock.getsockname()
            if info == "server_addr":
                return self._sock.getpeername()
        if info == "is_readable":  # an idle pooled connection the server closed, or spoke on
            reader = self._reader
            return bool(reader.chunks) or reader.eof
        return None


async def _wait(
    waiter: asyncio.Future[None], timeout: float | None, error: type[Exception]
) -> None:
    """Until the waiter is woken; `error` once `timeout` seconds have passed."""
    timer = None
    if timeout is not None:
        timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()


def _expire(waiter: asyncio.Future[None], error: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(error("timed out"))


async def _connect(
    family: int, address: Any, local: tuple[str, int] | None, options: Iterable[Any]
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        for option in options:
            sock.setsockopt(*option)
        if local is not None:
            sock.bind(local)
        await asyncio.get_running_loop().sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


class SocketBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        options = list(socket_options or ())
        try:
            async with asyncio.timeout(timeout):
                found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                errors: list[OSError] = []
                sock = None
                for family, _, _, _, address in found:  # in order, as asyncio's own
                    try:
                        sock = await _connect(family, address, local, options)
                        break
                    except OSError as exc:
                        errors.append(exc)
                if sock is None:
                    raise errors[0] if errors else OSError(f"no address for {host}")
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connecting timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketStream(sock)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                sock = await _connect(socket.AF_UNIX, path, None, socket_options or ())
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connecting timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return SocketStream(sock)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def on_sockets(transport: httpx.AsyncHTTPTransport) -> httpx.AsyncHTTPTransport:
    """The transport, its connection pool now opening its sockets through
    `SocketBackend`. The pool keeps its backend in one attribute (httpcore
    1.x); where a later httpcore has moved it, the transport stays as it was."""
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = SocketBackend()
    return transport


def tls_settings(base_url: str, http2: bool) -> ssl.SSLContext:
    """The TLS settings for a client of `base_url`. A plain `http://` endpoint
    never needs TLS: requests go to its paths, redirects are not followed, and
    a proxy's TLS has settings of its own. So it gets a context with no roots,
    made in a millisecond instead of the 18-30 ms of loading them (`ask` to a
    local server paid that before its request went out); should TLS ever run
    through it, it refuses every certificate rather than trusting one."""
    if plain_http(base_url):
        return _no_roots()
    return ssl_context(http2)


@functools.cache
def _no_roots() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names


def ssl_context(http2: bool) -> ssl.SSLContext:
    """The TLS settings httpx would make (certifi's roots, or SSL_CERT_FILE /
    SSL_CERT_DIR), made once per process rather than once per client: loading
    the roots takes 25-30 ms, which a race paid on the event loop for every
    lane, and the app for every model switch. HTTP/1.1 and HTTP/2 clients get
    one each, because httpcore sets the ALPN protocols on the context."""
    return _ssl_context(http2, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)
def _ssl_context(http2: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()
