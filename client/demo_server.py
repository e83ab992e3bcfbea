"""A real loopback HTTP/1.1 server that speaks OpenAI Chat Completions, for demos and tests.

Why a real server rather than a mock transport: the things tokentide exists
for (time to first token, tokens per second, Esc closing the connection so the
provider stops generating) only happen on real sockets. This server paces its
deltas on an absolute clock, notices a client's EOF within milliseconds while
it is streaming, records everything it did per request with perf_counter
timestamps, and can be told to misbehave the way real servers do (HTTP errors,
errors mid-stream, truncated bodies, stalls, keep-alive comments, CRLF framing).

Standard library only (asyncio streams), and no textual/rich: `client` must
stay importable without the UI.

    with DemoServer(tokens_per_second=200, ttft=0.2) as server:
        server.script("Hello!")            # the next chat request answers exactly this
        server.inject("midstream_error")   # ... or misbehaves like this
        ... talk to server.base_url ...
        record = server.wait_for(lambda r: r.completed)

Models: `demo` (plain Markdown answers), `demo-think` (reasoning_content first),
`demo-tools` (one tool call with streamed JSON arguments).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import random
import signal
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from tokentide.client.demo_answers import (
    choose_answer,
    last_user_text,
    message_chars,
    reasoning_for,
    split_tokens,
    tool_arguments,
)

__all__ = ["FAULTS", "MODELS", "DemoServer", "RequestRecord", "serve_forever"]

#: Models the server knows, with what each one does differently.
MODELS: dict[str, str] = {
    "demo": "plain Markdown answers",
    "demo-think": "streams reasoning_content first, then the answer",
    "demo-tools": "answers with a streamed tool call",
}
_MODEL_CREATED = 1735689600  # 2025-01-01, a fixed "created" so /v1/models is stable

#: Faults that `inject()` accepts besides "http:<status>".
FAULTS: frozenset[str] = frozenset(
    {
        "midstream_error",
        "truncate",
        "done_no_finish",
        "empty_200",
        "stall",
        "no_usage",
        "keepalive",
        "crlf",
    }
)

_FAULT_AFTER = 5  # tokens written before a mid-stream fault strikes
_KEEPALIVE_EVERY = 7  # with the "keepalive" fault, one comment per this many events
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"

_REASONS = {
    200: "OK",
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

_MIDSTREAM_ERROR = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}

_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class RequestRecord:
    """What the server saw and did for one HTTP request.

    Timestamps are `time.perf_counter()` values, comparable with the test
    process's own perf_counter readings (same clock in every thread).
    `headers` has lower-cased names. Records handed out by the server are
    snapshots: they do not change after you get them.

    The server updates a record *before* handing the corresponding bytes to
    the socket, so once a client has read something (the last token, the end
    of the body) the record already accounts for it: no waiting needed to
    check `completed` or `tokens_sent` after a response has been read.
    """

    id: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    stream: bool = False
    received_at: float = 0.0
    first_token_at: float | None = None
    tokens_sent: int = 0
    disconnected_at: float | None = None
    completed: bool = False
    ended_at: float | None = None
    #: Which TCP connection carried the request (1, 2, ...): shows keep-alive reuse.
    connection: int = 0
    #: The fault this request consumed, if any.
    fault: str | None = None
    #: The model the request asked for (None if the body had none).
    model: str | None = None


@dataclass
class _Script:
    text: str
    reasoning: str | None


@dataclass
class _Plan:
    """Everything one chat answer will contain, decided before any byte is sent."""

    model: str
    # (kind, piece): kind is "reasoning", "content", "tool_header" or "args";
    # every kind except "tool_header" counts as one token.
    events: list[tuple[str, str]]
    finish_reason: str
    prompt_tokens: int
    tool_id: str | None = None
    tool_name: str | None = None

    @property
    def tokens(self) -> int:
        return sum(1 for kind, _ in self.events if kind != "tool_header")

    def text(self, kind: str) -> str:
        return "".join(piece for k, piece in self.events if k == kind)


class _BadRequest(Exception):
    """A request that is not valid HTTP/1.1: answered with a plain 4xx and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


class _Connection:
    """One client socket with its own read buffer.

    The buffer is ours (not just the StreamReader's) because the disconnect
    watcher reads while a response is being written: any bytes it gets (a
    pipelined next request) must stay available to the request parser.
    """

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def watch_eof(self) -> None:
        """Return as soon as the peer closes (or resets) the connection."""
        while await self._fill():
            if len(self.buf) > _MAX_BODY:  # a client flooding us mid-response
                return

    async def read_request(self) -> _Request | None:
        """Parse the next request; None when the client closed between requests."""
        while True:
            while self.buf[:2] == b"\r\n":  # tolerate stray CRLFs between requests
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > _MAX_HEAD:
                raise _BadRequest(431, "request header too large")
            if not await self._fill():
                if self.buf:
                    raise _BadRequest(400, "incomplete request")
                return None
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, f"malformed request line {lines[0][:80]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, f"malformed header line {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        return _Request(method, target, version, headers, body)

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._read_chunked()
        raw = headers.get("content-length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            raise _BadRequest(400, f"bad content-length {raw!r}") from None
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest(413, "request body too large")
        return await self._read_exactly(length)

    async def _read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise _BadRequest(400, "request body ended early")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def _read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > _MAX_HEAD or not await self._fill():
                raise _BadRequest(400, "bad chunked body")
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = (await self._read_line()).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size == 0:
                while await self._read_line():  # trailers, up to the blank line
                    pass
                return bytes(body)
            body += await self._read_exactly(size)
            if len(body) > _MAX_BODY:
                raise _BadRequest(413, "request body too large")
            await self._read_exactly(2)


class _Disconnected(Exception):
    """The client went away while we were writing."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: keep a prefix and the last 4."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}...{key[-4:]}"


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return _dumps(body)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"


class DemoServer:
    """A loopback OpenAI-compatible server running its own event loop in a daemon thread.

    `tokens_per_second` and `ttft` are read at the start of each request, so a
    test (or the app's settings) can change the pace between requests.
    `script()` and `inject()` queue behaviour for the next chat requests.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens_per_second: float = 60.0,
        ttft: float = 0.35,
        api_key: str | None = None,
        seed: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"DemoServer only listens on loopback addresses, not {host!r} "
                "(it has no authentication worth the name and answers anyone)"
            )
        # "localhost" can resolve to both 127.0.0.1 and ::1, and with port 0 each
        # would get a different port; bind one address so base_url is exact.
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.tokens_per_second = tokens_per_second
        self.ttft = ttft
        self.api_key = api_key
        self.seed = seed
        self.log = log
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._records: list[RequestRecord] = []
        self._scripts: deque[_Script] = deque()
        self._faults: deque[str] = deque()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._conn_count = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> DemoServer:
        """Start listening; returns once the socket is bound (so `port` is real)."""
        if self._thread is not None:
            raise RuntimeError("DemoServer already started")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._thread_main, name="tokentide-demo-server")
        self._thread.daemon = True
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then join the thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:  # pragma: no cover - a bug in the server loop
                raise

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = await asyncio.start_server(self._handle_connection, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            server.close()
            tasks = list(self._conn_tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

    # ----------------------------------------------------------------- control

    def script(self, text: str, *, reasoning: str | None = None) -> None:
        """Queue an exact answer (and reasoning) for the next chat request that gets an answer.

        A request that fails first (injected HTTP error, bad key, unknown model)
        does not consume it, so a client's retry still gets the scripted text.
        """
        with self._cond:
            self._scripts.append(_Script(text, reasoning))

    def inject(self, fault: str) -> None:
        """Queue a fault; each chat request consumes one, in order."""
        _check_fault(fault)
        with self._cond:
            self._faults.append(fault)

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshots of every request so far, oldest first."""
        with self._cond:
            return [dataclasses.replace(r) for r in self._records]

    def wait_for(
        self, predicate: Callable[[RequestRecord], Any], timeout: float = 5.0
    ) -> RequestRecord:
        """Block until some request satisfies `predicate`; return a snapshot of it.

        The predicate runs under the server's lock against live records, so it
        sees each update exactly as the server makes it; keep it cheap.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self._records:
                    if predicate(record):
                        return dataclasses.replace(record)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no request matched within {timeout} s")
                self._cond.wait(remaining)

    async def await_for(
        self, predicate: Callable[[RequestRecord], Any], timeout: float = 5.0
    ) -> RequestRecord:
        """`wait_for` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def _update(self, record: RequestRecord, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def _emit(self, line: str) -> None:
        if self.log is not None:
            with contextlib.suppress(Exception):
                self.log(line)

    # ----------------------------------------------------------------- HTTP

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        self._conn_count += 1
        conn = _Connection(self._conn_count, reader, writer)
        try:
            while True:
                try:
                    request = await conn.read_request()
                except _BadRequest as exc:
                    body = f"{exc.status} {_REASONS.get(exc.status, '')}: {exc.message}\n"
                    head = self._head(exc.status, "text/plain; charset=utf-8", False, len(body))
                    writer.write(head + body.encode())
                    break
                if request is None:
                    break
                keep_alive = await self._serve(conn, request)
                if not keep_alive or conn.eof:
                    break
        except (ConnectionError, OSError, _Disconnected):
            pass
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            self._conn_tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _head(
        self,
        status: int,
        content_type: str,
        keep_alive: bool,
        length: int | None,
        extra: list[tuple[str, str]] | None = None,
    ) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: tokentide-demo",
            f"Content-Type: {content_type}",
        ]
        if length is None:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {length}")
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        lines.extend(f"{name}: {value}" for name, value in extra or [])
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _request_id(self) -> str:
        return "req_" + "".join(self._rng.choices("0123456789abcdef", k=32))

    async def _send(
        self,
        conn: _Connection,
        record: RequestRecord,
        status: int,
        body: bytes,
        keep_alive: bool,
        content_type: str = "application/json",
        extra: list[tuple[str, str]] | None = None,
        **final: Any,
    ) -> None:
        """Write a complete fixed-length response.

        The record is finalised (status, ended_at and any `final` fields)
        before the bytes go out, so a client that has read the response can
        rely on the record already saying so.
        """
        headers = [("x-request-id", self._request_id()), *(extra or [])]
        head = self._head(status, content_type, keep_alive, len(body), headers)
        if conn.writer.is_closing():
            raise _Disconnected
        self._update(record, status=status, ended_at=time.perf_counter(), **final)
        conn.writer.write(head + body)
        await conn.writer.drain()

    async def _serve(self, conn: _Connection, request: _Request) -> bool:
        """Answer one request; return whether the connection stays open."""
        keep_alive = _wants_keep_alive(request)
        path = request.target.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                body = None
        with self._cond:
            record = RequestRecord(
                id=len(self._records) + 1,
                method=request.method,
                path=request.target,
                headers=dict(request.headers),
                body=body,
                stream=isinstance(body, dict) and body.get("stream") is True,
                received_at=time.perf_counter(),
                connection=conn.number,
                model=body.get("model") if isinstance(body, dict) else None,
            )
            self._records.append(record)
            self._cond.notify_all()
        outcome = ""
        try:
            if path == _CHAT_PATH and request.method == "POST":
                outcome = await self._chat(conn, record, request, keep_alive)
            elif path == _MODELS_PATH and request.method == "GET":
                if (denied := self._auth_error(request)) is not None:
                    await self._send(conn, record, 401, denied, keep_alive)
                    outcome = "401 invalid_api_key"
                else:
                    models = _dumps(self._models())
                    await self._send(conn, record, 200, models, keep_alive, completed=True)
                    outcome = "200"
            elif path in (_CHAT_PATH, _MODELS_PATH):
                message = f"Invalid method for URL ({request.method} {path})"
                await self._send(
                    conn, record, 405, _error(message, "invalid_request_error", None), keep_alive
                )
                outcome = "405"
            else:
                message = f"Invalid URL ({request.method} {path})"
                await self._send(
                    conn, record, 404, _error(message, "invalid_request_error", None), keep_alive
                )
                outcome = "404"
        except (ConnectionError, OSError, _Disconnected):
            if record.disconnected_at is None:
                self._update(record, disconnected_at=time.perf_counter())
            outcome = outcome or f"client disconnected after {record.tokens_sent} tokens"
            keep_alive = False
        except asyncio.CancelledError:
            outcome = f"server stopped after {record.tokens_sent} tokens"
            raise
        except Exception as exc:  # a bug here must not look like a network problem
            outcome = f"500 demo server bug: {exc!r}"
            keep_alive = False
            if record.status is None:
                with contextlib.suppress(Exception):
                    error = _error(f"demo server bug: {exc!r}", "server_error", None)
                    await self._send(conn, record, 500, error, False)
        finally:
            if record.ended_at is None:
                self._update(record, ended_at=time.perf_counter())
            model = f" model={record.model}" if record.model else ""
            stream = " stream" if record.stream else ""
            fault = f" [fault {record.fault}]" if record.fault else ""
            self._emit(f"{request.method} {path}{model}{stream}{fault} → {outcome}")
        return keep_alive and record.disconnected_at is None

    def _models(self) -> dict[str, Any]:
        data = [
            {"id": name, "object": "model", "created": _MODEL_CREATED, "owned_by": "tokentide"}
            for name in MODELS
        ]
        return {"object": "list", "data": data}

    def _auth_error(self, request: _Request) -> bytes | None:
        """The 401 body if an api_key is configured and the request does not carry it."""
        if self.api_key is None:
            return None
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        given = given.strip()
        if scheme.lower() == "bearer" and given == self.api_key:
            return None
        if scheme.lower() != "bearer" or not given:
            return _error(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                "invalid_api_key",
            )
        return _error(
            f"Incorrect API key provided: {_mask_key(given)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )

    # ----------------------------------------------------------------- chat

    async def _chat(
        self, conn: _Connection, record: RequestRecord, request: _Request, keep_alive: bool
    ) -> str:
        """Handle POST /v1/chat/completions; returns the log outcome."""
        with self._cond:
            fault = self._faults.popleft() if self._faults else None
        body = record.body
        model = body.get("model") if isinstance(body, dict) else None
        if fault is not None:
            self._update(record, fault=fault)
        if fault is not None and fault.startswith("http:"):
            status = int(fault[5:])
            await self._send_fault_status(conn, record, status, str(model or "demo"), keep_alive)
            return f"{status}"
        if (denied := self._auth_error(request)) is not None:
            await self._send(conn, record, 401, denied, keep_alive)
            return "401 invalid_api_key"
        problem = _validate(request.body, body)
        if problem is not None:
            await self._send(conn, record, 400, problem, keep_alive)
            return "400 invalid_request_error"
        assert isinstance(body, dict)
        if model not in MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            await self._send(
                conn,
                record,
                404,
                _error(message, "invalid_request_error", "model_not_found"),
                keep_alive,
            )
            return "404 model_not_found"
        plan = self._plan(body)
        # Read the pace once per request, as documented.
        tps = float(self.tokens_per_second)
        ttft = max(0.0, float(self.ttft))
        loop = asyncio.get_running_loop()
        start = loop.time()
        if record.stream:
            work = self._stream(conn, record, body, plan, fault, keep_alive, tps, ttft, start)
        else:
            work = self._complete(conn, record, plan, fault, keep_alive, tps, ttft, start)
        return await self._watching(conn, record, work)

    async def _watching(
        self, conn: _Connection, record: RequestRecord, work: Coroutine[Any, Any, str]
    ) -> str:
        """Run `work` while watching the socket for EOF; cancel it at once on disconnect.

        Waiting for the next write to fail would notice a disconnect only at the
        next token (or never, for a stalled stream); reading concurrently sees
        the FIN within a loop iteration.
        """
        work_task = asyncio.ensure_future(work)
        watch_task = asyncio.ensure_future(conn.watch_eof())
        try:
            await asyncio.wait({work_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            work_task.cancel()
            watch_task.cancel()
            await asyncio.gather(work_task, watch_task, return_exceptions=True)
            raise
        if work_task.done():
            watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch_task
            try:
                return work_task.result()
            except _Disconnected:
                return self._disconnect_outcome(record, None)
        noticed = time.perf_counter()
        with self._cond:
            if record.disconnected_at is None:
                record.disconnected_at = noticed
            self._cond.notify_all()
        work_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, _Disconnected, ConnectionError, OSError):
            await work_task
        stopped = time.perf_counter() - noticed
        conn.eof = True
        return self._disconnect_outcome(record, stopped)

    def _disconnect_outcome(self, record: RequestRecord, stopped: float | None) -> str:
        with self._cond:
            if record.disconnected_at is None:
                record.disconnected_at = time.perf_counter()
            self._cond.notify_all()
        text = f"client disconnected after {record.tokens_sent} tokens"
        if stopped is not None:
            text += f"; stopped generating in {stopped * 1000:.0f} ms"
        return text

    def _plan(self, body: dict[str, Any]) -> _Plan:
        """Decide the whole answer: script > /echo > model behaviour."""
        model = str(body["model"])
        messages = body["messages"]
        prompt = last_user_text(messages)
        with self._cond:
            scripted = self._scripts.popleft() if self._scripts else None
        events: list[tuple[str, str]] = []
        finish = "stop"
        tool_id = tool_name = None
        if scripted is not None:
            reasoning, text = scripted.reasoning, scripted.text
        else:
            reasoning = reasoning_for(prompt) if model == "demo-think" else None
            text = self._answer_text(model, messages, prompt)
        if reasoning:
            events += [("reasoning", p) for p in split_tokens(reasoning, self.seed)]
        wants_tool = (
            scripted is None
            and model == "demo-tools"
            and not prompt.startswith("/echo ")
            and not _after_tool_result(messages)
        )
        if wants_tool:
            tools = body.get("tools")
            first = tools[0] if isinstance(tools, list) and tools else None
            function = first.get("function") if isinstance(first, dict) else None
            tool_name = "get_weather"
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                tool_name = function["name"]
            tool_id = "call_" + "".join(
                self._rng.choices(string.ascii_letters + string.digits, k=24)
            )
            events.append(("tool_header", tool_name))
            args = tool_arguments(prompt, first)
            events += [("args", p) for p in split_tokens(args, self.seed)]
            finish = "tool_calls"
        else:
            events += [("content", p) for p in split_tokens(text, self.seed)]
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
            kept: list[tuple[str, str]] = []
            count = 0
            for kind, piece in events:
                if kind != "tool_header":
                    if count == limit:
                        finish = "length"
                        break
                    count += 1
                kept.append((kind, piece))
            events = kept
        return _Plan(
            model=model,
            events=events,
            finish_reason=finish,
            prompt_tokens=max(1, -(-message_chars(messages) // 4)),
            tool_id=tool_id,
            tool_name=tool_name,
        )

    def _answer_text(self, model: str, messages: list[Any], prompt: str) -> str:
        if model == "demo-tools" and _after_tool_result(messages):
            result = messages[-1].get("content")
            if not isinstance(result, str):
                result = json.dumps(result, ensure_ascii=False)
            return (
                "Here is what the tool returned:\n\n"
                f"```json\n{result}\n```\n\n"
                "In short: the call **succeeded**, and the values above are current."
            )
        return choose_answer(prompt)

    def _ids(self) -> tuple[str, int]:
        chat_id = "chatcmpl-" + "".join(
            self._rng.choices(string.ascii_letters + string.digits, k=29)
        )
        return chat_id, int(time.time())

    async def _complete(
        self,
        conn: _Connection,
        record: RequestRecord,
        plan: _Plan,
        fault: str | None,
        keep_alive: bool,
        tps: float,
        ttft: float,
        start: float,
    ) -> str:
        """A non-streaming answer, delayed as long as generating it would take."""
        loop = asyncio.get_running_loop()
        delay = ttft + (plan.tokens / tps if tps > 0 else 0.0)
        if fault == "stall":
            await asyncio.Event().wait()  # until the client leaves or the server stops
        if fault == "midstream_error":
            await asyncio.sleep(max(0.0, start + ttft - loop.time()))
            await self._send(conn, record, 500, _dumps({"error": _MIDSTREAM_ERROR}), keep_alive)
            return "500 (non-streaming midstream_error)"
        await asyncio.sleep(max(0.0, start + delay - loop.time()))
        if fault == "empty_200":
            await self._send(conn, record, 200, b"", keep_alive)
            return "200 empty body"
        chat_id, created = self._ids()
        message: dict[str, Any] = {"role": "assistant", "content": plan.text("content") or None}
        if any(kind == "reasoning" for kind, _ in plan.events):
            message["reasoning_content"] = plan.text("reasoning")
        if plan.tool_id is not None:
            message["tool_calls"] = [
                {
                    "id": plan.tool_id,
                    "type": "function",
                    "function": {"name": plan.tool_name, "arguments": plan.text("args")},
                }
            ]
        elif message["content"] is None:
            message["content"] = ""
        message["refusal"] = None
        response: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion",
            "created": created,
            "model": plan.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": plan.finish_reason,
                }
            ],
            "system_fingerprint": "fp_tokentide",
        }
        if fault != "no_usage":
            response["usage"] = self._usage(plan, plan.tokens)
        data = _dumps(response)
        if fault == "truncate":
            # A proxy cut: the declared length is never reached and the socket closes.
            head = self._head(200, "application/json", False, len(data))
            self._update(record, status=200, ended_at=time.perf_counter())
            conn.writer.write(head + data[: len(data) // 2])
            await conn.writer.drain()
            conn.eof = True  # forces the connection closed after this response
            return "200 truncated body, connection closed"
        await self._send(
            conn,
            record,
            200,
            data,
            keep_alive,
            first_token_at=time.perf_counter(),
            tokens_sent=plan.tokens,
            completed=True,
        )
        return f"200, {plan.tokens} tokens in {time.perf_counter() - record.received_at:.1f} s"

    def _usage(self, plan: _Plan, completion: int) -> dict[str, Any]:
        reasoning = sum(1 for kind, _ in plan.events[:completion] if kind == "reasoning")
        return {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": plan.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    async def _send_fault_status(
        self, conn: _Connection, record: RequestRecord, status: int, model: str, keep_alive: bool
    ) -> None:
        extra: list[tuple[str, str]] = []
        content_type = "application/json"
        if status == 401:
            body = _error(
                "Incorrect API key provided: sk-...abcd. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        elif status == 404:
            body = _error(
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        elif status == 429:
            body = _error(
                f"Rate limit reached for {model} in organization org-tokentide on requests per "
                "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                "rate_limit_exceeded",
            )
            extra = [
                ("retry-after", "1"),
                ("x-ratelimit-limit-requests", "3"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "1s"),
            ]
        elif status == 500:
            body = _dumps({"error": _MIDSTREAM_ERROR})
        elif status == 502:
            body = _NGINX_502.encode()
            content_type = "text/html"
        elif status == 503:
            body = _error(
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
            )
        else:
            body = _error(
                f"Injected HTTP {status} ({_REASONS.get(status, 'error')}).",
                "server_error" if status >= 500 else "invalid_request_error",
                None,
            )
        await self._send(conn, record, status, body, keep_alive, content_type, extra)

    async def _stream(
        self,
        conn: _Connection,
        record: RequestRecord,
        body: dict[str, Any],
        plan: _Plan,
        fault: str | None,
        keep_alive: bool,
        tps: float,
        ttft: float,
        start: float,
    ) -> str:
        """Write the SSE answer on an absolute schedule: token i is due at start+ttft+i/tps.

        Computing each due time from the start (not from the previous write)
        keeps the pace exact however long writes take; when several tokens are
        due in one loop tick (high rates) they go out in one write, each still
        its own SSE event.
        """
        loop = asyncio.get_running_loop()
        writer = conn.writer
        nl = "\r\n" if fault == "crlf" else "\n"
        include_usage = (
            isinstance(body.get("stream_options"), dict)
            and body["stream_options"].get("include_usage") is True
            and fault != "no_usage"
        )
        chat_id, created = self._ids()
        comment = f": keep-alive{nl}{nl}".encode() if fault == "keepalive" else b""

        def event(data: str) -> bytes:
            return f"data: {data}{nl}{nl}".encode()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj: dict[str, Any] = {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": plan.model,
                "system_fingerprint": "fp_tokentide",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return event(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

        async def write(data: bytes, last: bool = False, **record_changes: Any) -> None:
            """Send body bytes as one HTTP chunk (plus the terminating chunk if `last`).

            The record is updated *before* the bytes go out: whatever the client
            has received, the record already accounts for.
            """
            if writer.is_closing():
                raise _Disconnected
            if last:
                record_changes["ended_at"] = time.perf_counter()
            if record_changes:
                self._update(record, **record_changes)
            writer.write((_chunk(data) if data else b"") + (_LAST_CHUNK if last else b""))
            try:
                await writer.drain()
            except (ConnectionError, OSError) as exc:
                raise _Disconnected from exc

        headers = [
            ("Cache-Control", "no-cache"),
            ("x-request-id", self._request_id()),
            ("openai-processing-ms", str(int(ttft * 1000))),
        ]
        head = self._head(200, "text/event-stream; charset=utf-8", keep_alive, None, headers)
        self._update(record, status=200)
        if fault == "empty_200":
            self._update(record, ended_at=time.perf_counter())
            writer.write(head + _LAST_CHUNK)
            await writer.drain()
            return "200 empty body"

        first_delta: dict[str, Any] = {"role": "assistant", "content": ""}
        if plan.tool_id is not None:
            first_delta = {"role": "assistant", "content": None}
        writer.write(head + _chunk(comment * 2 + chunk(first_delta)))
        await writer.drain()

        fault_at = min(_FAULT_AFTER, plan.tokens) if fault in _MIDSTREAM_FAULTS else None
        interval = 1.0 / tps if tps > 0 else 0.0
        due0 = start + ttft
        events = plan.events
        sent = 0  # tokens written
        i = 0  # events written
        while i < len(events) and sent != fault_at:
            now = loop.time()
            if due0 + i * interval > now:
                await asyncio.sleep(due0 + i * interval - now)
                now = loop.time()
            batch = bytearray()
            batch_tokens = 0
            while (
                i < len(events) and due0 + i * interval <= now and sent + batch_tokens != fault_at
            ):
                kind, piece = events[i]
                if comment and i and i % _KEEPALIVE_EVERY == 0:
                    batch += comment
                batch += chunk(_delta(kind, piece, plan))
                i += 1
                if kind != "tool_header":
                    batch_tokens += 1
            if not batch:
                continue  # woke a hair early
            changes: dict[str, Any] = {"tokens_sent": sent + batch_tokens}
            if record.first_token_at is None:
                changes["first_token_at"] = time.perf_counter()
            sent += batch_tokens
            await write(bytes(batch), **changes)

        if fault == "midstream_error":
            error = json.dumps({"error": _MIDSTREAM_ERROR}, separators=(",", ":"))
            await write(event(error), last=True)
            return f"200, error event after {sent} tokens"
        if fault == "truncate":
            await write(b"", last=True)
            return f"200, body ended after {sent} tokens without finish_reason or [DONE]"
        if fault == "done_no_finish":
            await write(event("[DONE]"), last=True)
            return f"200, [DONE] without finish_reason after {sent} tokens"
        if fault == "stall":
            await asyncio.Event().wait()  # until the client leaves or the server stops

        tail = bytearray(comment + chunk({}, plan.finish_reason))
        if include_usage:
            usage_chunk: dict[str, Any] = {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": plan.model,
                "system_fingerprint": "fp_tokentide",
                "choices": [],
                "usage": self._usage(plan, sent),
            }
            tail += event(json.dumps(usage_chunk, separators=(",", ":"), ensure_ascii=False))
        tail += event("[DONE]")
        await write(bytes(tail), last=True, completed=True)
        took = time.perf_counter() - record.received_at
        return f"200, {sent} tokens in {took:.1f} s"


_MIDSTREAM_FAULTS = frozenset({"midstream_error", "truncate", "done_no_finish", "stall"})


def _delta(kind: str, piece: str, plan: _Plan) -> dict[str, Any]:
    if kind == "content":
        return {"content": piece}
    if kind == "reasoning":
        return {"reasoning_content": piece}
    if kind == "tool_header":
        call = {
            "index": 0,
            "id": plan.tool_id,
            "type": "function",
            "function": {"name": piece, "arguments": ""},
        }
        return {"tool_calls": [call]}
    return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}


def _after_tool_result(messages: list[Any]) -> bool:
    """True when the conversation ends with a tool result the model should now answer."""
    return bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"


def _wants_keep_alive(request: _Request) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if "close" in tokens:
        return False
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return True


def _validate(raw: bytes, body: Any) -> bytes | None:
    """The 400 body for a chat request OpenAI would reject, else None."""
    if body is None and raw.strip():
        try:
            json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                "invalid_request_error",
                None,
            )
    if body is None:
        return _error("you must provide a model parameter", "invalid_request_error", None)
    if not isinstance(body, dict):
        return _error(
            "Invalid type for request body: expected an object.",
            "invalid_request_error",
            "invalid_type",
        )
    if "model" not in body:
        return _error("you must provide a model parameter", "invalid_request_error", None)
    if not isinstance(body["model"], str):
        return _error(
            "Invalid type for 'model': expected a string.",
            "invalid_request_error",
            "invalid_type",
            "model",
        )
    messages = body.get("messages")
    if messages is None:
        return _error(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "missing_required_parameter",
            "messages",
        )
    if not isinstance(messages, list):
        return _error(
            "Invalid type for 'messages': expected an array.",
            "invalid_request_error",
            "invalid_type",
            "messages",
        )
    if not messages:
        return _error(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "invalid_request_error",
            "empty_array",
            "messages",
        )
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return _error(
                f"Missing required parameter: 'messages[{n}].role'.",
                "invalid_request_error",
                "missing_required_parameter",
                f"messages[{n}].role",
            )
    return _unanswered_tool_calls(messages)


def _unanswered_tool_calls(messages: list[dict[str, Any]]) -> bytes | None:
    """OpenAI's 400 for an assistant turn whose tool calls get no `tool` replies."""
    for n, message in enumerate(messages):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not isinstance(calls, list) or not calls:
            continue
        answered = set()
        for reply in messages[n + 1 :]:
            if reply.get("role") != "tool":
                break
            answered.add(reply.get("tool_call_id"))
        missing = [
            call.get("id")
            for call in calls
            if isinstance(call, dict) and call.get("id") not in answered
        ]
        if missing:
            return _error(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(str(m) for m in missing)}",
                "invalid_request_error",
                None,
                f"messages.[{n + 1}].role",
            )
    return None


def _check_fault(fault: str) -> None:
    if fault.startswith("http:"):
        code = fault[5:]
        if code.isdigit() and 400 <= int(code) <= 599:
            return
        raise ValueError(f"bad HTTP fault {fault!r}: expected http:<400-599>")
    if fault not in FAULTS:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault {fault!r}: expected http:<status> or one of {known}")


def serve_forever(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tokens_per_second: float = 60.0,
    ttft: float = 0.35,
    api_key: str | None = None,
    faults: list[str] | tuple[str, ...] = (),
    ready: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = print,
) -> None:
    """Run a DemoServer in the foreground until Ctrl-C or SIGTERM (`tokentide demo-server`).

    `faults` are applied in order to successive chat requests. `ready` gets the
    base URL once the socket is listening, so a parent process can wait for it
    instead of polling the port.
    """
    for fault in faults:
        _check_fault(fault)
    server = DemoServer(
        host, port, tokens_per_second=tokens_per_second, ttft=ttft, api_key=api_key, log=log
    )
    for fault in faults:
        server.inject(fault)
    done = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    server.start()
    try:
        if ready is not None:
            ready(server.base_url)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
