"""Open a completion stream, check it, read it, and close it the moment we stop.

    async with ChatClient(endpoint) as client:
        async with client.stream(request) as answer:
            async for event in answer:        # unified StreamEvents
                ...
        answer.state, answer.message, answer.metrics()

One answer has one lifecycle, settled in one place (`_settle`):

    pending -> connecting -> streaming -> finished | cancelled | failed

`connecting` covers everything before the first event (connect, status,
content type): that is where retries belong, because nothing has been shown
yet. Leaving the `async with` early - `break`, a cancelled task (Esc in the
app), Ctrl-C - closes the httpx response. On HTTP/1.1 httpcore then closes
the TCP connection (it keeps only a connection whose response was read to
the end), so the server sees EOF at once and stops generating; the answer is
`cancelled` and its metrics carry the tokens-saved estimate. `abort()` does
the same from another thread, before the event loop gets to it.

On HTTP/2 (`Endpoint.http2`) one connection carries every answer, so a stop
never touches the socket: it resets only its own stream (RST_STREAM, sent by
`http2.StreamHandle`, as httpcore does not), the server stops that answer and
the others go on. `abort()` then cannot act before the event loop does: it
asks the loop to reset the stream and to interrupt the read in progress.

The request is sent when iteration starts, and an answer streams once:
iterating it again raises instead of sending a second request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx

from .accumulate import Accumulator
from .config import Endpoint, Limits, Timeouts
from .errors import (
    ApiError,
    Redactor,
    Secrets,
    bad_encoding,
    out_of_credit,
    redirected,
    status_error,
    too_large,
    too_many_tool_calls,
    transport_error,
    try_json,
    unexpected_body,
    unreadable,
)
from .events import (
    Finished,
    Message,
    ReasoningDelta,
    Replay,
    Retrying,
    Started,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from .framing import Frame, frames, read_bounded
from .http2 import StreamHandle, find_stream, plain_http, without_h2
from .lifecycle import State
from .meter import Expectation, Meter, Metrics, expectation
from .providers import EventParser, WireFormat, wire_format
from .request import ChatRequest
from .text import Surrogates, valid

USER_AGENT = "tokentide/0.1"

_CONTENT_TYPES = {"sse": ("text/event-stream",), "ndjson": ("application/x-ndjson", "json")}
"""What a streaming response's Content-Type must contain, by framing."""

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
"""Refusals worth sending again: timeouts, conflicts, rate limits, a server or
a gateway failing, and Anthropic's 529 overloaded."""
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
"""Seconds; a longer `Retry-After` is waited for this long at most."""

MAX_TOOL_CALLS = 256
"""Tool calls in one answer, at most. Models make a handful at once; a call
costs a few bytes of the answer's budget but an object here and a widget in
the app, so thousands of empty ones would take the memory the budget guards."""

FINISH_GRACE = 2.0
"""Seconds to wait for usage and the end marker after the finish reason."""

DRAIN_SECONDS = 0.1
"""How long a server may keep talking after the end marker before we hang up."""


def _decoders() -> list[str]:
    """httpx's table of decoders, which lists `br` and `zstd` only when their
    package is installed; the three it always has if the table moves."""
    try:
        from httpx._decoders import SUPPORTED_DECODERS
    except ImportError:  # pragma: no cover - a later httpx
        return ["identity", "gzip", "deflate"]
    return list(SUPPORTED_DECODERS)


class ChatClient:
    """One long-lived httpx client per endpoint, so connections are reused."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeouts: Timeouts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 2,
        limits: Limits | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self.limits = limits or Limits()
        """How large one event and one answer may grow before the stream is stopped."""
        self.retries = max(0, retries)
        """How many times a refused or unconnected request goes out again (0: never)."""
        self.wire: WireFormat = wire_format(endpoint.wire)
        self.secrets = endpoint.secrets
        # HTTP/2 by prior knowledge on http:// (no TLS, so no ALPN to offer it);
        # on https:// ALPN picks, and a server may still answer in HTTP/1.1.
        self.prior_knowledge = endpoint.http2 and plain_http(endpoint.base_url)
        with contextlib.nullcontext() if endpoint.http2 else without_h2():
            self._http = self._client(endpoint, transport)

    def _client(
        self, endpoint: Endpoint, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        from .netio import on_sockets, tls_settings  # imports httpcore: inside `without_h2`

        client = httpx.AsyncClient(
            base_url=endpoint.base_url,
            params=list(endpoint.params),
            timeout=httpx.Timeout(
                connect=self.timeouts.connect,
                read=self.timeouts.read,
                write=self.timeouts.read,
                pool=self.timeouts.connect,
            ),
            headers={"User-Agent": USER_AGENT, **endpoint.headers},
            transport=transport,
            verify=tls_settings(endpoint.base_url, endpoint.http2),
            follow_redirects=False,
            http1=not self.prior_knowledge,
            http2=endpoint.http2,
        )
        if transport is None:
            # httpx's own transport (a transport passed in would turn off the
            # proxies of HTTP_PROXY / HTTPS_PROXY), its sockets read by a
            # thread each: each read stamped, the loop woken less (client/netio.py).
            on_sockets(client._transport)
        return client

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def stream(self, request: ChatRequest, *, expected: Expectation | None = None) -> AnswerStream:
        """An answer stream for `request`; nothing is sent until iteration starts."""
        return AnswerStream(self, request, expected or expectation(request.max_tokens))

    async def list_models(self) -> list[str]:
        """The model ids the endpoint serves; failures are one-line ApiErrors."""
        try:
            spec = self.wire.models_request(self.endpoint.api_key)
            request = self._http.build_request(
                spec.method, spec.path.lstrip("/"), headers=spec.headers
            )
            try:
                response = await self._http.send(request, stream=True)
                try:
                    refuse_unreadable(response, self.endpoint)
                    body, more = await read_bounded(response, self.limits.event_bytes)
                    if more and response.status_code < 400:  # an error is quoted from its start
                        raise too_large("reply", self.limits.event_bytes)
                except httpx.DecodingError as exc:
                    raise decoding_error(exc, response) from None
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise transport_error(exc, self.endpoint, self.timeouts) from None
            if response.status_code >= 400:
                raise self._status_error(response, body)
            return self.wire.parse_models(self._json(response, body))
        except ApiError as exc:
            raise exc.scrubbed(self.secrets) from None

    def _status_error(self, response: httpx.Response, body: bytes) -> ApiError:
        parsed = try_json(body)
        said = self.wire.error_message(parsed) if parsed is not None else None
        return status_error(
            response.status_code,
            response.reason_phrase or "",
            response.headers,
            body,
            parsed,
            said,
            self.endpoint,
        )

    def _json(self, response: httpx.Response, body: bytes) -> Any:
        parsed = try_json(body)
        if parsed is None:
            raise unexpected_body(
                "JSON",
                response.headers.get("content-type", ""),
                response.status_code,
                body,
                self.endpoint,
                self.wire.label,
            )
        return parsed


class AnswerStream:
    """The events of one answer, folded into `message` and timed by `metrics()`."""

    def __init__(self, client: ChatClient, request: ChatRequest, expected: Expectation) -> None:
        self._client = client
        self.request = request
        self.expected = expected
        self.state = State.PENDING
        self.error: ApiError | None = None
        """Why the answer failed, already scrubbed of secrets."""
        self.started: Started | None = None
        """Status and headers (rate limits, request ids), once they are in."""
        self._accumulator = Accumulator(model=request.model)
        self._budget = _Budget(client.limits.answer_bytes)
        self._meter = Meter(expected, streaming=request.stream)
        self._cleanup = _Cleanup(client.secrets)
        self._entered = False
        self._events: Any = None  # the async generator of the one iteration
        self._response: httpx.Response | None = None
        self._socket: socket.socket | None = None
        self._network: Any = None
        """The connection's network stream: how long ago its last read arrived."""
        self._abort_requested = False
        self.http_version: str | None = None
        """"HTTP/1.1" or "HTTP/2", once the response has begun."""
        # HTTP/2: the stream to reset on a stop, and what abort() needs to get
        # the event loop to do it (see `_interrupt`).
        self._h2: StreamHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pausing = False  # waiting to send again (see `_pause`)
        self._frames = 0  # frames of the answer received so far
        self._waiting: asyncio.Task[Any] | None = None
        self._interrupting: int | None = None  # the task's cancel count before ours
        self._flushing: asyncio.Task[None] | None = None

    @property
    def message(self) -> Message:
        """The answer so far (joined when read: read it at frame rate, not per delta)."""
        return self._accumulator.message

    def metrics(self) -> Metrics:
        return self._meter.snapshot()

    def gaps(self) -> list[tuple[float, int]]:
        """Inter-token gaps as (seconds per token, tokens): see `Meter.gaps`."""
        return self._meter.gaps()

    # -- the one iteration ----------------------------------------------------

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if not self._entered:
            raise RuntimeError(
                "iterate an answer inside `async with client.stream(...) as answer:`, "
                "so its connection is closed however the loop ends"
            )
        if self.state is not State.PENDING:
            raise RuntimeError(
                f"an answer streams once, and this one is {self.state.value}: "
                "call ChatClient.stream() again for a new request"
            )
        self.state = State.CONNECTING
        self._events = self._run()
        return self._events

    async def _run(self) -> AsyncIterator[StreamEvent]:
        self._loop = asyncio.get_running_loop()
        if self._abort_requested:
            self._settle(State.CANCELLED)  # stopped before anything was sent
            return
        try:
            attempt = 0
            while True:
                try:
                    response = await self._connect()
                    break
                except (ApiError, httpx.TransportError) as exc:
                    delay = self._retry_delay(exc, attempt)
                    if delay is None:
                        raise
                    reason = _retry_reason(exc)
                attempt += 1
                await self._close_response()
                yield Retrying(attempt, self._client.retries, delay, reason)
                await self._pause(delay)
            self.state = State.STREAMING
            assert self.started is not None
            if not self._abort_requested:
                yield self.started
            async for raw in self._read(response):
                if self._abort_requested:
                    self._settle(State.CANCELLED)  # aborted: nothing more reaches the caller
                    return
                self._meter.add(raw)
                for event in self._cleanup(raw):
                    self._budget.spend(event)
                    self._accumulator.add(event)
                    if isinstance(event, Finished):
                        # Complete from here on: a stop while the connection
                        # drains is not a stop.
                        self._settle(State.FINISHED)
                    yield event
        except _Interrupted:
            self._settle(State.CANCELLED)  # abort() on HTTP/2: the wait was cut short
        except httpx.DecodingError as exc:
            self._fail_or_stop(decoding_error(exc, self._response), exc)
        except httpx.HTTPError as exc:
            client = self._client
            began = self._frames > 0  # a break before any event is a failure, not a cut
            error = transport_error(exc, client.endpoint, client.timeouts, streaming=began)
            self._fail_or_stop(error, exc)
        except ApiError as exc:
            self._fail_or_stop(exc, exc.origin or exc)
        except Exception as exc:
            bug = ApiError(f"stopped by an internal error ({type(exc).__name__})", kind="internal")
            self._fail_or_stop(bug, exc)
        if not self.state.ended:
            # A non-streaming reply or a wire format without a closing event.
            self._settle(State.FINISHED)

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before sending again, or None: not worth it, no
        tries left, or the user stopped. Nothing has been received yet (this
        is before the first event), so nothing is ever replayed."""
        if attempt >= self._client.retries or self._abort_requested:
            return None
        if isinstance(exc, ApiError):
            if exc.status not in RETRY_STATUSES:
                return None
            said = f"{exc.message} {exc.detail or ''}"
            if exc.status == 429 and out_of_credit(said, exc.retry_after):
                return None
            if exc.retry_after is not None:
                return min(exc.retry_after, MAX_RETRY_AFTER)
        elif not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return None  # a read or write failed: the server may be generating already
        backoff = min(MAX_RETRY_DELAY, INITIAL_RETRY_DELAY * 2**attempt)
        return backoff * (1 - 0.25 * random.random())

    async def _pause(self, delay: float) -> None:
        """Wait before the next try; a stop (Esc, Ctrl-C, `abort()`) ends the
        wait at once. Nothing is in flight meanwhile: no socket to shut, and
        no tokens generated, so a stop here saves none."""
        self._socket = None
        self._meter.sent_at = None
        self._pausing = True
        try:
            # abort() sets its flag, then looks at `_pausing`; this sets
            # `_pausing`, then looks at the flag: one of the two sees the other.
            if not self._abort_requested:
                await self._wait(asyncio.sleep(delay))
        finally:
            self._pausing = False
        if self._abort_requested:
            raise _Interrupted

    def _fail_or_stop(self, error: ApiError, origin: BaseException) -> None:
        """A failure that follows `abort()` is the stop the user asked for, and
        one after the answer finished (a connection dropped while draining)
        changes nothing. The error raised is the scrubbed one, with nothing
        chained; `origin` is kept on it for `--debug`."""
        if self.state.ended:
            return
        if self._abort_requested:
            self._settle(State.CANCELLED)
            return
        self._settle(State.CUT_OFF if error.kind == "cut_off" else State.FAILED, error)
        assert self.error is not None
        self.error.origin = origin
        raise self.error from None

    async def _connect(self) -> httpx.Response:
        """Send the request and check the reply up to its first byte of body.

        A refusal the wire format can adapt to (an endpoint that rejects an
        optional field) is sent once more, changed: nothing has been shown yet.
        """
        try:
            return await self._send()
        except _Adapted:
            await self._close_response()
            return await self._send(adapted=True)

    async def _send(self, *, adapted: bool = False) -> httpx.Response:
        client = self._client
        spec = client.wire.build_request(self.request, client.endpoint.api_key)
        headers = dict(spec.headers)
        if self.request.stream:
            headers["Accept"] = "text/event-stream"
            headers["Cache-Control"] = "no-store"
        http_request = client._http.build_request(
            spec.method,
            spec.path.lstrip("/"),
            json=spec.json,
            headers=headers,
            extensions={"trace": self._trace},
        )
        self._meter.request_sent()
        response = await self._wait(client._http.send(http_request, stream=True))
        self._response = response
        self.http_version = response.http_version
        if self._socket is None:  # a pooled connection: no connect to trace
            self._take_socket(response.extensions.get("network_stream"))
        self._meter.headers_received()
        scrub = self._client.secrets.scrub
        headers = {name: scrub(value) for name, value in response.headers.items()}
        self.started = Started(response.status_code, headers)
        refuse_unreadable(response, client.endpoint)
        if response.status_code >= 400:
            body, _ = await read_bounded(response, client.limits.event_bytes)
            if not adapted and client.wire.adapt(response.status_code, try_json(body)):
                raise _Adapted
            raise client._status_error(response, body)
        if self.request.stream:
            await self._check_content_type(response)
        return response

    async def _trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace: the socket the moment it is connected, so a stop
        while the server is slow to answer shuts it down at once."""
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._take_socket(info.get("return_value"))
        elif name == "http2.send_request_headers.started":
            self._h2 = find_stream(self._client._http, info["request"], info["stream_id"])

    def _read_arrived(self) -> None:
        """A read came in: stamped with when its bytes arrived, which may be
        well before the event loop took them (it is woken at most every
        `WAKE_EVERY`, and may be busy drawing; client/netio.py)."""
        age = getattr(self._network, "age", None)
        self._meter.read_arrived(age() if age is not None else 0.0)

    def _take_socket(self, network_stream: Any) -> None:
        if network_stream is not None and not self.state.ended:
            self._network = network_stream
            if self._shared(network_stream):
                self._socket = None  # HTTP/2: other answers' connection too
                return
            self._socket = network_stream.get_extra_info("socket")
            if self._abort_requested:
                self._shutdown()  # the stop came while we were connecting

    def _shared(self, network_stream: Any) -> bool:
        """Whether the connection is (or may become) HTTP/2, and so must never
        be shut down for one answer: by prior knowledge, or until TLS has
        agreed on HTTP/1.1."""
        if not self._client.endpoint.http2:
            return False
        if self._client.prior_knowledge:
            return True
        tls = network_stream.get_extra_info("ssl_object")
        return tls is None or tls.selected_alpn_protocol() == "h2"

    async def _check_content_type(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        wanted = _CONTENT_TYPES[self._client.wire.framing]
        if any(w in content_type.partition(";")[0].lower() for w in wanted):
            return
        body, _ = await read_bounded(response, self._client.limits.event_bytes)
        parsed = try_json(body)
        said = self._client.wire.error_message(parsed) if parsed is not None else None
        if said:
            raise ApiError(f"the server reported an error: {said}", kind="provider")
        raise unexpected_body(
            "an event stream" if wanted[0] == "text/event-stream" else "a JSON-lines stream",
            content_type,
            response.status_code,
            body,
            self._client.endpoint,
            self._client.wire.label,
        )

    async def _read(self, response: httpx.Response) -> AsyncIterator[StreamEvent]:
        wire = self._client.wire
        if not self.request.stream:
            body, more = await read_bounded(response, self._client.limits.event_bytes)
            if more:
                raise too_large("reply", self._client.limits.event_bytes)
            parsed = self._client._json(response, body)
            try:
                events = wire.parse_response(parsed, self.request)
            except ApiError:
                raise
            except Exception as exc:
                raise self._unreadable(exc) from exc
            for event in events:
                yield event
            return
        parser = wire.parser(self.request)
        stream = frames(
            response,
            wire.framing,
            limit=self._client.limits.event_bytes,
            on_read=self._read_arrived,
        )
        if self._h2 is not None:
            stream = self._interruptible(stream)
        try:
            while not parser.done:
                try:
                    frame = await self._next_frame(stream, parser)
                except StopAsyncIteration:
                    break
                except _Lingered:
                    break  # the answer is complete; its end marker never came
                self._frames += 1
                for event in self._translate(parser, frame):
                    yield event
            if not self._frames:
                raise ApiError(
                    "the server answered 200 but sent no events at all",
                    kind="protocol",
                    fix="the prompt may exceed the model's context, or the server failed "
                    "after sending headers; check its log",
                )
            for event in parser.end():
                yield event
            if parser.done:
                await _drain(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def _next_frame(self, stream: AsyncIterator[Frame], parser: EventParser) -> Frame:
        """The next frame; once the server has said why the answer ended, only
        usage and the end marker may follow, and they get `FINISH_GRACE`
        seconds, not the read timeout (nor fail at a read timeout shorter than
        the grace): the answer is complete already."""
        if not parser.stopped:
            return await anext(stream)
        deadline = asyncio.timeout(FINISH_GRACE)
        try:
            async with deadline:
                return await anext(stream)
        except httpx.ReadTimeout:
            raise _Lingered from None
        except TimeoutError:
            if deadline.expired():
                raise _Lingered from None
            raise

    def _translate(self, parser: EventParser, frame: Frame) -> list[StreamEvent]:
        name, data = frame
        try:
            return parser.feed(name, data)
        except ApiError:
            raise
        except Exception as exc:
            raise self._unreadable(exc, data) from exc

    def _unreadable(self, exc: Exception, data: str = "") -> ApiError:
        error = unreadable(exc, self._client.endpoint, self._client.wire.label, data)
        error.origin = exc
        return error

    # -- how it ends ----------------------------------------------------------

    def _settle(self, state: State, error: ApiError | None = None) -> None:
        """The one place an answer ends: finished, cancelled or failed, once."""
        if self.state.ended:
            return
        self.state = state
        self._socket = None  # the connection may serve another answer now: never shut it
        for event in self._cleanup.rest():  # text held back (half an emoji, a secret?)
            self._accumulator.add(event)
        message = self._accumulator.message
        message.cancelled = state is State.CANCELLED
        message.interrupted = state is State.CUT_OFF
        if error is not None:
            self.error = error.scrubbed(self._client.secrets)
            message.error = str(self.error)
        self._accumulator.finish_tool_calls()
        self._meter.end(cancelled=state is State.CANCELLED)

    async def __aenter__(self) -> AnswerStream:
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.state.ended:
            # Leaving early: shut the socket down first, so the server sees EOF
            # before anything slower runs; then settle before the first await,
            # so a second cancel cannot leave the answer unsettled.
            self._shutdown()
            if exc is None or isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                self._settle(State.CANCELLED)  # on purpose: break, Esc, Ctrl-C
            elif isinstance(exc, ApiError):
                self._settle(State.FAILED, exc)
            else:
                # The caller's loop body failed: not a stop the user asked for.
                name = type(exc).__name__
                self._settle(
                    State.FAILED,
                    ApiError(f"stopped by an internal error ({name})", kind="internal"),
                )
        await self._close_response()
        await self._close_events()

    def abandon(self) -> None:
        """Record as stopped an answer that will never be streamed (its task was
        cancelled before it ran): nothing was sent, nothing is lost."""
        if self.state is State.PENDING:
            self._settle(State.CANCELLED)

    def abort(self) -> None:
        """Stop now, from any thread, even while the event loop is busy.

        Shuts the TCP connection down so the server sees EOF at once; the
        read in progress then ends and the answer is cancelled, as if the
        task had been. A UI calls this from its input thread the moment the
        stop key is parsed, so a long render on the event loop cannot delay
        the provider's stop (and its billing). Before the request is sent,
        it is never sent; once the answer has ended, this does nothing.

        On HTTP/2 the socket is shared, so nothing is shut down: the event
        loop resets this answer's stream as soon as it runs (`_interrupt`).
        """
        if self.state.ended:
            return
        self._abort_requested = True
        self._shutdown()
        loop = self._loop
        if (self._client.endpoint.http2 or self._pausing) and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
                loop.call_soon_threadsafe(self._interrupt)

    def _interrupt(self) -> None:
        """abort() on HTTP/2 or while waiting to retry, on the event loop: reset
        the stream, and cut short a wait for the network (headers or the next
        piece of body) or for the next try, so the answer ends now rather than
        at the read timeout; a stream reset receives nothing more. The
        cancellation is ours, so `_wait` takes it back (`Task.uncancel`) and
        the answer ends as stopped, not as a cancelled task."""
        if self.state.ended or self._socket is not None:
            return  # over already, or an HTTP/1.1 connection that the shutdown ended
        if self._h2 is not None and self._h2.reset():
            self._flushing = asyncio.ensure_future(self._h2.flush())
        task = self._waiting
        # A task already being cancelled (Esc) needs no help, and must not
        # have that cancellation taken back as if it were ours.
        if task is not None and self._interrupting is None and not task.cancelling():
            self._interrupting = 0
            task.cancel()

    async def _wait(self, awaitable: Any) -> Any:
        """Await a network step that `_interrupt` may cut short (`_Interrupted`)."""
        task = asyncio.current_task()
        self._waiting = task
        try:
            return await awaitable
        except asyncio.CancelledError:
            baseline, self._interrupting = self._interrupting, None
            if baseline is not None and task is not None and task.uncancel() <= baseline:
                raise _Interrupted from None
            raise  # a cancellation of the task itself (Esc): it goes on
        finally:
            self._waiting = None

    async def _interruptible(self, stream: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
        """The frames of an HTTP/2 answer, each wait for one open to `_interrupt`,
        and none after abort(): the stream is reset, nothing more will come."""
        try:
            while not self._abort_requested:
                try:
                    frame = await self._wait(anext(stream))
                except StopAsyncIteration:
                    return
                yield frame
            raise _Interrupted
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    def _shutdown(self) -> None:
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def aclose(self) -> None:
        """Close the connection; an answer that had not ended is stopped."""
        if not self.state.ended:
            self._shutdown()
            self._settle(State.CANCELLED)
        await self._close_response()
        await self._close_events()

    async def _close_response(self) -> None:
        response, self._response = self._response, None
        handle, self._h2 = self._h2, None
        flushing, self._flushing = self._flushing, None
        if handle is not None and handle.reset():
            await handle.flush()  # HTTP/2: stop the server on this stream only
        elif flushing is not None:
            await flushing  # the reset abort() queued is on its way
        if response is not None:
            await response.aclose()

    async def _close_events(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()


class _Budget:
    """The bytes of one answer (text, reasoning, tool arguments, what must be
    sent back), counted as they arrive: an answer that never ends is stopped
    at the limit, before the delta that would pass it, so what is kept stays
    under the limit however fast a server sends."""

    __slots__ = ("calls", "limit", "spent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self.calls: set[tuple[int, str | None]] = set()

    def spend(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta | ReasoningDelta):
            size = _size(event.text)
        elif isinstance(event, ToolCallDelta):
            size = _size(event.arguments) + _size(event.name or "") + _size(event.id or "")
            # A call is its index and id, counted from a fragment that opens one
            # (with an id or a name): some servers number every call 0, some
            # repeat the id and name in every fragment.
            if event.id or event.name:
                self.calls.add((event.index, event.id))
            if len(self.calls) > MAX_TOOL_CALLS:
                raise too_many_tool_calls(MAX_TOOL_CALLS)
        elif isinstance(event, Replay):
            # A thinking block's text is counted as reasoning already.
            size = sum(
                _size(v) for k, v in event.data.items() if isinstance(v, str) and k != "thinking"
            )
        else:
            return
        if self.spent + size > self.limit:
            raise too_large("answer", self.limit)
        self.spent += size


def _size(text: str) -> int:
    """UTF-8 bytes, without encoding the common all-ASCII case."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Lingered(Exception):
    """The finish reason came, then nothing for `FINISH_GRACE` seconds."""


class _Interrupted(Exception):
    """abort() on HTTP/2 cut a network wait short: the answer is stopped."""


def _retry_reason(exc: Exception) -> str:
    """A few words for the "retrying in 3 s (…)" line."""
    if isinstance(exc, ApiError) and exc.status is not None:
        words = {
            408: "timed out",
            409: "conflict",
            429: "rate limited",
            500: "server error",
            502: "bad gateway",
            503: "unavailable",
            504: "gateway timeout",
            529: "overloaded",
        }
        return f"{exc.status} {words.get(exc.status, 'refused')}"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    return "connection failed"


DECODABLE = frozenset(_decoders())
"""The Content-Encodings httpx can undo here (`br` and `zstd` only with their packages)."""


def refuse_unreadable(response: httpx.Response, endpoint: Endpoint) -> None:
    """Raise for a reply that cannot be used whatever its body says: a
    redirect (never followed: the key would go along) or a Content-Encoding
    httpx cannot undo (it would pass the compressed bytes on as if plain)."""
    status, reason = response.status_code, response.reason_phrase or ""
    if 300 <= status < 400:
        location = response.headers.get("location")
        raise redirected(status, reason, location, str(response.request.url), endpoint.base_url)
    encoding = response.headers.get("content-encoding", "")
    tokens = [token.strip().lower() for token in encoding.split(",") if token.strip()]
    if any(token not in DECODABLE for token in tokens):
        accepted = response.request.headers.get("accept-encoding")
        raise bad_encoding(encoding, status=status, reason=reason, accepted=accepted)


def decoding_error(exc: httpx.DecodingError, response: httpx.Response | None) -> ApiError:
    """httpx could not undo the declared Content-Encoding: the body is not in it."""
    headers = response.headers if response is not None else {}
    status = response.status_code if response is not None else 200
    reason = (response.reason_phrase or "") if response is not None else ""
    error = bad_encoding(
        headers.get("content-encoding", "?"),
        status=status,
        reason=reason,
        accepted=None,
        fault=str(exc) or type(exc).__name__,
    )
    error.origin = exc
    return error


class _Adapted(Exception):
    """The wire format changed the request after a refusal: send it again."""


class _Cleanup:
    """The answer's text made fit to show and store, piece by piece.

    Per channel (text, reasoning, each tool call's arguments), because what
    is split over deltas is split within one channel: surrogate halves of
    one emoji are joined (a lone half cannot be stored or printed), and the
    configured secrets are masked (a server that echoes the key in its text
    must not put it on screen or on disk). Tool names and ids and the native
    finish reason come whole, and are masked the same way.
    """

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._channels: dict[tuple[str, int], _Channel] = {}

    def __call__(self, event: StreamEvent) -> list[StreamEvent]:
        if isinstance(event, TextDelta | ReasoningDelta):
            text = self._channel(event, 0).feed(event.text)
            return [type(event)(text)] if text else []
        if isinstance(event, ToolCallDelta):
            arguments = self._channel(event, event.index).feed(event.arguments)
            call_id, name = self._word(event.id), self._word(event.name)
            return [dataclasses.replace(event, id=call_id, name=name, arguments=arguments)]
        if isinstance(event, Finished):
            return [*self.rest(), dataclasses.replace(event, native=self._word(event.native))]
        return [event]

    def _word(self, word: str | None) -> str | None:
        """A name, an id or a finish reason as the server sent it, whole."""
        if not word:
            return word
        return self._secrets.scrub(valid(word)) if self._secrets else valid(word)

    def _channel(self, event: StreamEvent, index: int) -> _Channel:
        key = (type(event).__name__, index)
        if key not in self._channels:
            self._channels[key] = _Channel(self._secrets)
        return self._channels[key]

    def rest(self) -> list[StreamEvent]:
        """What each channel held back, as events; the channels are emptied."""
        rest: list[StreamEvent] = []
        for (kind, index), channel in self._channels.items():
            if text := channel.flush():
                if kind == "ToolCallDelta":
                    rest.append(ToolCallDelta(index, arguments=text))
                else:
                    rest.append(TextDelta(text) if kind == "TextDelta" else ReasoningDelta(text))
        return rest


class _Channel:
    __slots__ = ("_redactor", "_surrogates")

    def __init__(self, secrets: Secrets) -> None:
        self._surrogates = Surrogates()
        self._redactor = Redactor(secrets) if secrets else None

    def feed(self, piece: str) -> str:
        text = self._surrogates.feed(piece)
        return self._redactor.feed(text) if self._redactor is not None else text

    def flush(self) -> str:
        text = self._surrogates.flush()
        if self._redactor is None:
            return text
        return self._redactor.feed(text) + self._redactor.flush()


async def _drain(stream: AsyncIterator[Frame]) -> None:
    """Read what follows the end marker (usually just the chunked-body trailer)
    so httpcore can keep the connection for the next turn; a server that
    keeps talking after `[DONE]` gets DRAIN_SECONDS and is then hung up on."""

    async def rest() -> None:
        async for _ in stream:
            pass

    with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
        await asyncio.wait_for(rest(), DRAIN_SECONDS)


__all__ = ["AnswerStream", "ChatClient", "State"]
