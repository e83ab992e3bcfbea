"""The demo server itself: lifecycle, control surface, routing and disconnect detection.

Why a real server rather than a mock transport: the things tokentide exists
for (time to first token, tokens per second, Esc closing the connection so the
provider stops generating) only happen on real sockets. This server runs its
own event loop in a daemon thread so a test (or the app) can drive it from
plain synchronous code, records everything it did per request, and watches
each client's socket while it writes so that a disconnect stops generation
within milliseconds, as a real provider's would.

The other concerns live next door: `h11conn` (HTTP/1.1), `h2conn` (HTTP/2 by
prior knowledge, chosen by a connection's first bytes), `pacing` (when bytes
go out, and faults), `encoder` and `openai` (what they look like), `plan` and
`answers` (what an answer says), `records` (what happened).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from email.utils import formatdate
from typing import Any

from . import pacing
from .answers import last_user_text
from .anthropic import AnthropicMessages
from .encoder import Api, Reply, Route
from .exchange import Exchange
from .faults import (
    DATED,
    FAULT_HEADER,
    REDIRECTS,
    check_fault,
    fault_in_prompt,
    http_status,
)
from .gemini import GeminiApi
from .h2conn import PREFACE, H2Connection, H2Stream, sniff
from .h11conn import REASONS, BadRequest, Disconnected, HttpConnection, Request
from .ollama import OllamaChat
from .openai import OpenAIChat
from .plan import MODELS, ChatRequest, Plan, Script, make_plan
from .records import RecordBook, RequestRecord
from .responses import OpenAIResponses

__all__ = ["STOP_TIMEOUT", "DemoServer", "is_loopback", "serve_forever"]

STOP_TIMEOUT = 10.0
"""Seconds stop() waits for the server thread."""

RETRY_AFTER_DATE = 2.0
"""Seconds ahead of now the `http:<status>-date` faults' Retry-After date lies
(an HTTP date has whole seconds, so a client waits 1 to 2 s)."""

#: The APIs the server speaks, first match wins; the first also answers unknown paths.
_APIS: tuple[Api, ...] = (
    OpenAIChat(),
    OllamaChat(),
    GeminiApi(),
    AnthropicMessages(),
    OpenAIResponses(),
)


class DemoServer:
    """A loopback OpenAI-compatible server running its own event loop in a daemon thread.

    `tokens_per_second` and `ttft` are read at the start of each request, so a
    test (or the app's settings) can change the pace between requests.
    `script()` and `inject()` queue behaviour for the next chat requests; a
    single request can ask for a fault itself, with an `X-Demo-Fault: NAME`
    header or a prompt that starts with `/fault NAME` (the rest is the
    prompt), and then leaves the queue alone.

        with DemoServer(tokens_per_second=200, ttft=0.2) as server:
            server.script("Hello!")            # the next chat request answers exactly this
            server.inject("midstream_error")   # ... or misbehaves like this
            ... talk to server.base_url ...
            record = server.wait_for(lambda r: r.completed)

    Models: `demo` (plain Markdown answers), `demo-think` (reasoning_content
    first), `demo-tools` (one tool call with streamed JSON arguments).
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
        self._book = RecordBook()
        self._queue_lock = threading.Lock()
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
        with self._queue_lock:
            self._scripts.append(Script(text, reasoning))

    def inject(self, fault: str) -> None:
        """Queue a fault; each chat request consumes one, in order."""
        check_fault(fault)
        with self._queue_lock:
            self._faults.append(fault)

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshots of every request so far, oldest first."""
        return self._book.snapshots()

    def forget(self) -> None:
        """Drop the records of requests that have ended (their ids are not reused).

        A server answering for hours (a soak, a demo left running) would
        otherwise keep every request body it was ever sent.
        """
        self._book.forget()

    def wait_for(
        self, predicate: Callable[[RequestRecord], Any], timeout: float = 5.0
    ) -> RequestRecord:
        """Block until some request satisfies `predicate`; return a snapshot of it.

        The predicate runs under the server's lock against live records, so it
        sees each update exactly as the server makes it; keep it cheap.
        """
        return self._book.wait_for(predicate, timeout)

    async def await_for(
        self, predicate: Callable[[RequestRecord], Any], timeout: float = 5.0
    ) -> RequestRecord:
        """`wait_for` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

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
        conn = HttpConnection(self._conn_count, reader, writer)
        try:
            first = await sniff(reader)
            if first.startswith(PREFACE):  # HTTP/2 by prior knowledge: one task per stream
                await H2Connection(conn.number, reader, writer).serve(first, self._serve)
                return
            conn.feed(first)
            while True:
                try:
                    request = await conn.read_request()
                except BadRequest as exc:
                    writer.write(conn.reject(exc))
                    break
                if request is None:
                    break
                keep_alive = await self._serve(conn, request)
                if not keep_alive or not conn.next_cycle():
                    break
        except (ConnectionError, OSError, Disconnected):
            pass
        except asyncio.CancelledError:
            pass  # server stopping
        finally:
            self._conn_tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, conn: HttpConnection | H2Stream, request: Request) -> bool:
        """Answer one request; return whether the connection stays open."""
        path = request.target.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        body = _json_or_none(request.body)
        record = self._book.add(
            method=request.method,
            path=request.target,
            headers=dict(request.headers),
            body=body,
            stream=isinstance(body, dict) and body.get("stream") is True,
            received_at=time.perf_counter(),
            connection=conn.number,
            model=body.get("model") if isinstance(body, dict) else None,
            http_version=request.version,
        )
        ex = Exchange(conn, self._book, record, request, self._rng, request.keep_alive)
        api, route = _route(path, request)
        outcome = ""
        try:
            outcome = await self._dispatch(ex, api, route, path)
        except (ConnectionError, OSError, Disconnected):
            self._book.mark_disconnected(record)
            outcome = f"client disconnected after {record.tokens_sent} tokens"
            ex.keep_alive = False
        except asyncio.CancelledError:
            outcome = f"server stopped after {record.tokens_sent} tokens"
            raise
        except Exception as exc:  # a bug here must not look like a network problem
            outcome = f"500 demo server bug: {exc!r}"
            ex.keep_alive = False
            if record.status is None:
                with contextlib.suppress(Exception):
                    await ex.reply(api.bug(exc))
        finally:
            if record.ended_at is None:
                self._book.update(record, ended_at=time.perf_counter())
            model = f" model={record.model}" if record.model else ""
            stream = " stream" if record.stream else ""
            fault = f" [fault {record.fault}]" if record.fault else ""
            self._emit(f"{request.method} {path}{model}{stream}{fault} → {outcome}")
        return ex.keep_alive and record.disconnected_at is None

    async def _dispatch(self, ex: Exchange, api: Api, route: Route | None, path: str) -> str:
        """Answer with the endpoint `route` names, or refuse; returns the log outcome."""
        method = ex.request.method
        if route is None:
            return await self._refuse(ex, api.not_found(method, path))
        if method != route.method:
            return await self._refuse(ex, api.wrong_method(method, path))
        if route.kind == "chat":
            return await self._chat(ex, api)
        if (denied := api.check_auth(self.api_key, ex.request)) is not None:
            return await self._refuse(ex, denied)
        models = api.models(MODELS)
        await ex.reply(models, completed=True)
        return models.outcome

    @staticmethod
    async def _refuse(ex: Exchange, reply: Reply) -> str:
        await ex.reply(reply)
        return reply.outcome

    # ----------------------------------------------------------------- chat

    async def _chat(self, ex: Exchange, api: Api) -> str:
        """Handle a chat request: fault, key, body and model checks, then the answer.

        The body is read first (a prompt may ask for a fault) but refused, if
        it must be, only after the fault and the key: a fault answers before
        anything else, as a proxy in front of the API would.
        """
        chat = api.parse_chat(ex.request, ex.record.body)
        fault, unknown = self._fault_for(ex.request, chat)
        if unknown is not None:
            return await self._refuse(ex, unknown)
        if fault is not None:
            ex.update(fault=fault)
        if (refusal := self._fault_reply(api, fault, ex)) is not None:
            return await self._refuse(ex, refusal)
        if (denied := api.check_auth(self.api_key, ex.request)) is not None:
            return await self._refuse(ex, denied)
        if isinstance(chat, Reply):
            return await self._refuse(ex, chat)
        # Some APIs name the model in the path or stream by default: record what was meant.
        ex.update(model=chat.model, stream=chat.stream)
        if chat.model not in MODELS:
            return await self._refuse(ex, api.unknown_model(chat.model))
        plan = self._plan(chat, fault)
        # Read the pace once per request, as documented.
        ttft = max(0.0, float(self.ttft))
        pace = pacing.Pace(float(self.tokens_per_second), ttft, asyncio.get_running_loop().time())
        encoder = api.encoder(plan, pacing.options(chat, fault, ttft), self._rng)
        answer = pacing.Answer(ex, plan, encoder, fault, pace)
        return await self._watching(
            ex, pacing.stream(answer) if chat.stream else pacing.complete(answer)
        )

    def _plan(self, chat: ChatRequest, fault: str | None) -> Plan:
        """Decide the whole answer, using up the next scripted one if any."""
        with self._queue_lock:
            scripted = self._scripts.popleft() if self._scripts else None
        return make_plan(chat, scripted, seed=self.seed, rng=self._rng, fault=fault)

    def _fault_for(
        self, request: Request, chat: ChatRequest | Reply
    ) -> tuple[str | None, Reply | None]:
        """The fault this request gets, or the 400 for a misspelt one it asked for.

        The request's own (the X-Demo-Fault header, else a prompt starting
        `/fault NAME`) wins and leaves the queue for the next request;
        otherwise the next queued fault, if any, is used up.
        """
        asked, where = request.headers.get(FAULT_HEADER), "the X-Demo-Fault header"
        if asked is None and isinstance(chat, ChatRequest):
            asked, where = fault_in_prompt(last_user_text(chat.messages))[0], "/fault in the prompt"
        if asked is not None:
            asked = asked.strip()
            try:
                check_fault(asked)
            except ValueError as exc:
                text = f"demo server: {exc} (asked for by {where})\n"
                return None, Reply(400, text.encode(), "text/plain; charset=utf-8", label="fault?")
            return asked, None
        with self._queue_lock:
            return (self._faults.popleft() if self._faults else None), None

    def _fault_reply(self, api: Api, fault: str | None, ex: Exchange) -> Reply | None:
        """The refusal a fault answers with before any answer, if it is one of those.

        `http:<status>` is the API's own refusal (`-date`: with a Retry-After
        that is an HTTP date); a redirect is what the proxy in front sends:
        nginx's page and a Location naming the same path and query elsewhere
        (another port on this address, or another host name for this port).
        """
        status = http_status(fault)
        if fault is not None and status is not None:
            reply = api.fault(status, str(ex.record.model or "demo"))
            if fault.endswith(DATED):
                when = formatdate(time.time() + RETRY_AFTER_DATE, usegmt=True)
                kept = tuple((k, v) for k, v in reply.headers if k.lower() != "retry-after")
                reply = dataclasses.replace(reply, headers=(*kept, ("Retry-After", when)))
            return reply
        if fault not in REDIRECTS:
            return None
        status = REDIRECTS[fault]
        host = f"[{self.host}]" if ":" in self.host else self.host
        if fault == "redirect":
            other = self.port + 1 if self.port < 65535 else self.port - 1
            location = f"http://{host}:{other}{ex.request.target}"
        else:
            location = f"http://localhost:{self.port}{ex.request.target}"
        title = f"{status} {REASONS[status]}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        headers = (("Location", location),)
        return Reply(status, page.encode(), "text/html", headers, label=f"→ {location}")

    async def _watching(self, ex: Exchange, work: Coroutine[Any, Any, str]) -> str:
        """Run `work` while watching the socket for EOF; cancel it at once on disconnect.

        Waiting for the next write to fail would notice a disconnect only at the
        next token (or never, for a stalled stream); reading concurrently sees
        the FIN within a loop iteration.
        """
        work_task = asyncio.ensure_future(work)
        watch_task = asyncio.ensure_future(ex.conn.watch_eof())
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
                return self._disconnect_outcome(ex.record, None)
        noticed = time.perf_counter()
        self._book.mark_disconnected(ex.record, noticed)
        work_task.cancel()
        await asyncio.wait({work_task})  # as above: our own cancellation must get through
        with contextlib.suppress(asyncio.CancelledError, Disconnected, ConnectionError, OSError):
            work_task.result()
        stopped = time.perf_counter() - noticed
        ex.conn.eof = True
        return self._disconnect_outcome(ex.record, stopped)

    def _disconnect_outcome(self, record: RequestRecord, stopped: float | None) -> str:
        self._book.mark_disconnected(record)
        text = f"client disconnected after {record.tokens_sent} tokens"
        if stopped is not None:
            text += f"; stopped generating in {stopped * 1000:.0f} ms"
        return text


def _route(path: str, request: Request) -> tuple[Api, Route | None]:
    """The API that serves `path` and what for; the first API refuses unknown paths.

    Two APIs may serve one path (`/v1/models` is OpenAI's and Anthropic's): the
    first serves it unless a later one's optional `owns(request)` claims the
    request by its headers.
    """
    found: tuple[Api, Route] | None = None
    for api in _APIS:
        if (route := api.route(path)) is None:
            continue
        owns = getattr(api, "owns", None)
        if owns is not None and owns(request):
            return api, route
        found = found or (api, route)
    return found or (_APIS[0], None)


def _json_or_none(raw: bytes) -> Any:
    """The request body's JSON, or None if it is empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        check_fault(fault)
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
