"""A real loopback HTTP/1.1 server that speaks OpenAI Chat Completions, for demos and tests.

Why a real server rather than a mock transport: the things tokentide exists
for (time to first token, tokens per second, Esc closing the connection so the
provider stops generating) only happen on real sockets. This server paces its
deltas on an absolute clock, notices a client's EOF within milliseconds while
it is streaming, records everything it did per request with perf_counter
timestamps, and can be told to misbehave the way real servers do (HTTP errors,
errors mid-stream, truncated bodies, stalls, keep-alive comments, CRLF framing).

This module is the server itself: its lifecycle and control surface, routing,
pacing, faults and the request records. It leans on small helpers that each
hold one concern: `demo_http` (HTTP/1.1 framing on a socket), `demo_plan`
(what an answer will contain), `demo_openai` (the JSON bodies OpenAI sends)
and `demo_answers` (the canned words).

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
import json
import random
import signal
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tokentide.client.demo_http import (
    LAST_CHUNK,
    BadRequest,
    Connection,
    Disconnected,
    Request,
    bad_request_response,
    encode_chunk,
    is_loopback,
    response_head,
    wants_keep_alive,
)
from tokentide.client.demo_openai import (
    MIDSTREAM_ERROR,
    auth_error,
    completion,
    completion_chunk,
    dumps,
    error,
    fault_response,
    models_list,
    opening_delta,
    to_json,
    token_delta,
    usage,
    usage_chunk,
    validate,
)
from tokentide.client.demo_plan import Plan, Script, make_plan

__all__ = ["FAULTS", "MODELS", "DemoServer", "RequestRecord", "serve_forever"]

#: Models the server knows, with what each one does differently.
MODELS: dict[str, str] = {
    "demo": "plain Markdown answers",
    "demo-think": "streams reasoning_content first, then the answer",
    "demo-tools": "answers with a streamed tool call",
}

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

_MIDSTREAM_FAULTS = frozenset({"midstream_error", "truncate", "done_no_finish", "stall"})
_FAULT_AFTER = 5  # tokens written before a mid-stream fault strikes
_KEEPALIVE_EVERY = 7  # with the "keepalive" fault, one comment per this many events
_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"


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


STOP_TIMEOUT = 10.0
"""Seconds stop() waits for the server thread."""


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
        if not is_loopback(host):
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
        self._scripts: deque[Script] = deque()
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
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            # A bug, loudly: a test suite must fail here, not hang until CI's limit.
            raise RuntimeError(f"the demo server did not stop within {STOP_TIMEOUT:g} s")
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
            self._scripts.append(Script(text, reasoning))

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
        conn = Connection(self._conn_count, reader, writer)
        try:
            while True:
                try:
                    request = await conn.read_request()
                except BadRequest as exc:
                    writer.write(bad_request_response(exc))
                    break
                if request is None:
                    break
                keep_alive = await self._serve(conn, request)
                if not keep_alive or conn.eof:
                    break
        except (ConnectionError, OSError, Disconnected):
            pass
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            self._conn_tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _request_id(self) -> str:
        return "req_" + "".join(self._rng.choices("0123456789abcdef", k=32))

    async def _send(
        self,
        conn: Connection,
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
        head = response_head(status, content_type, keep_alive, len(body), headers)
        if conn.writer.is_closing():
            raise Disconnected
        self._update(record, status=status, ended_at=time.perf_counter(), **final)
        conn.writer.write(head + body)
        await conn.writer.drain()

    async def _serve(self, conn: Connection, request: Request) -> bool:
        """Answer one request; return whether the connection stays open."""
        keep_alive = wants_keep_alive(request)
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
                    models = dumps(models_list(MODELS))
                    await self._send(conn, record, 200, models, keep_alive, completed=True)
                    outcome = "200"
            elif path in (_CHAT_PATH, _MODELS_PATH):
                message = f"Invalid method for URL ({request.method} {path})"
                await self._send(
                    conn, record, 405, error(message, "invalid_request_error", None), keep_alive
                )
                outcome = "405"
            else:
                message = f"Invalid URL ({request.method} {path})"
                await self._send(
                    conn, record, 404, error(message, "invalid_request_error", None), keep_alive
                )
                outcome = "404"
        except (ConnectionError, OSError, Disconnected):
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
                    bug = error(f"demo server bug: {exc!r}", "server_error", None)
                    await self._send(conn, record, 500, bug, False)
        finally:
            if record.ended_at is None:
                self._update(record, ended_at=time.perf_counter())
            model = f" model={record.model}" if record.model else ""
            stream = " stream" if record.stream else ""
            fault = f" [fault {record.fault}]" if record.fault else ""
            self._emit(f"{request.method} {path}{model}{stream}{fault} → {outcome}")
        return keep_alive and record.disconnected_at is None

    def _auth_error(self, request: Request) -> bytes | None:
        """The 401 body if an api_key is configured and the request does not carry it."""
        return auth_error(self.api_key, request.headers.get("authorization", ""))

    # ----------------------------------------------------------------- chat

    async def _chat(
        self, conn: Connection, record: RequestRecord, request: Request, keep_alive: bool
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
            payload, content_type, extra = fault_response(status, str(model or "demo"))
            await self._send(conn, record, status, payload, keep_alive, content_type, extra)
            return f"{status}"
        if (denied := self._auth_error(request)) is not None:
            await self._send(conn, record, 401, denied, keep_alive)
            return "401 invalid_api_key"
        problem = validate(request.body, body)
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
                error(message, "invalid_request_error", "model_not_found"),
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
        self, conn: Connection, record: RequestRecord, work: Coroutine[Any, Any, str]
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
            # asyncio.wait, not `suppress(CancelledError)`: a server stop that
            # arrives right now must cancel us, not be swallowed with the
            # watcher's own cancellation (the handler would then wait forever
            # on a keep-alive connection and stop() would hang).
            await asyncio.wait({watch_task})
            try:
                return work_task.result()
            except Disconnected:
                return self._disconnect_outcome(record, None)
        noticed = time.perf_counter()
        with self._cond:
            if record.disconnected_at is None:
                record.disconnected_at = noticed
            self._cond.notify_all()
        work_task.cancel()
        await asyncio.wait({work_task})  # as above: our own cancellation must get through
        with contextlib.suppress(asyncio.CancelledError, Disconnected, ConnectionError, OSError):
            work_task.result()
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

    def _plan(self, body: dict[str, Any]) -> Plan:
        """Decide the whole answer, using up the next scripted one if any."""
        with self._cond:
            scripted = self._scripts.popleft() if self._scripts else None
        return make_plan(body, scripted, seed=self.seed, rng=self._rng)

    def _ids(self) -> tuple[str, int]:
        chat_id = "chatcmpl-" + "".join(
            self._rng.choices(string.ascii_letters + string.digits, k=29)
        )
        return chat_id, int(time.time())

    async def _complete(
        self,
        conn: Connection,
        record: RequestRecord,
        plan: Plan,
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
            await self._send(conn, record, 500, dumps({"error": MIDSTREAM_ERROR}), keep_alive)
            return "500 (non-streaming midstream_error)"
        await asyncio.sleep(max(0.0, start + delay - loop.time()))
        if fault == "empty_200":
            await self._send(conn, record, 200, b"", keep_alive)
            return "200 empty body"
        chat_id, created = self._ids()
        response = completion(plan, chat_id, created, include_usage=fault != "no_usage")
        data = dumps(response)
        if fault == "truncate":
            # A proxy cut: the declared length is never reached and the socket closes.
            head = response_head(200, "application/json", False, len(data))
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

    async def _stream(
        self,
        conn: Connection,
        record: RequestRecord,
        body: dict[str, Any],
        plan: Plan,
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
            obj = completion_chunk(
                chat_id, created, plan.model, delta, finish, null_usage=include_usage
            )
            return event(to_json(obj))

        async def write(data: bytes, last: bool = False, **record_changes: Any) -> None:
            """Send body bytes as one HTTP chunk (plus the terminating chunk if `last`).

            The record is updated *before* the bytes go out: whatever the client
            has received, the record already accounts for.
            """
            if writer.is_closing():
                raise Disconnected
            if last:
                record_changes["ended_at"] = time.perf_counter()
            if record_changes:
                self._update(record, **record_changes)
            writer.write((encode_chunk(data) if data else b"") + (LAST_CHUNK if last else b""))
            try:
                await writer.drain()
            except (ConnectionError, OSError) as exc:
                raise Disconnected from exc

        headers = [
            ("Cache-Control", "no-cache"),
            ("x-request-id", self._request_id()),
            ("openai-processing-ms", str(int(ttft * 1000))),
        ]
        head = response_head(200, "text/event-stream; charset=utf-8", keep_alive, None, headers)
        self._update(record, status=200)
        if fault == "empty_200":
            self._update(record, ended_at=time.perf_counter())
            writer.write(head + LAST_CHUNK)
            await writer.drain()
            return "200 empty body"

        writer.write(head + encode_chunk(comment * 2 + chunk(opening_delta(plan))))
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
                batch += chunk(token_delta(kind, piece, plan))
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
            await write(event(to_json({"error": MIDSTREAM_ERROR})), last=True)
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
            counts = usage(plan, sent)
            tail += event(to_json(usage_chunk(chat_id, created, plan.model, counts)))
        tail += event("[DONE]")
        await write(bytes(tail), last=True, completed=True)
        took = time.perf_counter() - record.received_at
        return f"200, {sent} tokens in {took:.1f} s"


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
