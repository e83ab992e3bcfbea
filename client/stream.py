"""Open a completion stream, check it, read it, and close it the moment we stop.

    async with ChatClient(endpoint) as client:
        async with client.stream(request) as answer:
            async for event in answer:        # unified StreamEvents
                ...
        answer.message, answer.metrics()      # complete, partial, or failed

Leaving the `async with` early - `break`, a cancelled task (Esc in the app),
Ctrl-C - closes the httpx response. On HTTP/1.1 httpcore then closes the TCP
connection (it only keeps a connection whose response was read to the end),
so the server sees EOF at once and stops generating. The answer is then
marked `cancelled` and its metrics carry the tokens-saved estimate.

The request is only sent when iteration starts, so everything that can fail
or be cancelled - connect, status, first byte - happens inside `async for`,
and `__aexit__` always runs to record what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource

from .accumulate import Accumulator
from .config import Endpoint, Timeouts
from .errors import StreamError, one_line
from .events import Finished, Message, Started, StreamEvent
from .meter import Expectation, Meter, Metrics, expectation
from .providers import EventParser, WireFormat, wire_format
from .request import ChatRequest

USER_AGENT = "tokentide/0.1"


class ChatClient:
    """One long-lived httpx client per endpoint, so connections are reused."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeouts: Timeouts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self.wire: WireFormat = wire_format(endpoint.kind)
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            timeout=httpx.Timeout(
                connect=self.timeouts.connect,
                read=self.timeouts.read,
                write=self.timeouts.read,
                pool=self.timeouts.connect,
            ),
            headers={"User-Agent": USER_AGENT, **endpoint.headers},
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def stream(self, request: ChatRequest, *, expected: Expectation | None = None) -> AnswerStream:
        """An answer stream for `request`; nothing is sent until iteration starts."""
        if expected is None:
            expected = expectation(request.max_tokens)
        return AnswerStream(self, request, expected)

    async def list_models(self) -> list[str]:
        """The model ids the endpoint serves; failures are one-line StreamErrors."""
        spec = self.wire.models_request(self.endpoint.api_key)
        try:
            response = await self._http.request(
                spec.method, spec.path.lstrip("/"), headers=spec.headers
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.endpoint, self.timeouts) from None
        if response.status_code >= 400:
            raise await status_error(response, self.endpoint, self.wire)
        return self.wire.parse_models(_json_or_error(response.content, response, self.wire))


class AnswerStream:
    """The events of one answer, folded into `message` and timed by `meter`."""

    def __init__(self, client: ChatClient, request: ChatRequest, expected: Expectation) -> None:
        self._client = client
        self.request = request
        self.accumulator = Accumulator(model=request.model)
        self.meter = Meter(expected, streaming=request.stream)
        self.started: Started | None = None
        self.error: StreamError | None = None
        self.finished = False
        self._response: httpx.Response | None = None
        self._generators: list[Any] = []
        self._socket: socket.socket | None = None
        self.aborted = False

    @property
    def message(self) -> Message:
        return self.accumulator.message

    @property
    def cancelled(self) -> bool:
        return self.message.cancelled

    def metrics(self) -> Metrics:
        return self.meter.snapshot()

    async def __aenter__(self) -> AnswerStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Close the socket first: the server must see EOF before we do
        # anything slower (saving, re-rendering).
        await self.aclose()
        if isinstance(exc, StreamError):
            self._fail(exc)
        elif self.finished or self.error is not None:
            pass
        elif exc is None or isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
            self.mark_cancelled()  # left early on purpose: break, Esc, Ctrl-C
        else:
            # The caller's loop body failed: not a stop the user asked for.
            self._fail(
                StreamError(f"stopped by an internal error ({type(exc).__name__})", "internal")
            )

    def mark_cancelled(self) -> None:
        """Record a stop: what arrived is kept, the rest counts as saved."""
        if not (self.finished or self.error):
            self.message.cancelled = True
            self.meter.end(cancelled=True)

    def abort(self) -> None:
        """Stop now, from any thread, even while the event loop is busy.

        Shuts the TCP connection down so the server sees EOF at once; the
        read in progress then ends and the answer is marked cancelled, as if
        the task had been cancelled. A UI calls this from its input thread
        the moment the stop key is parsed, so a long render on the event
        loop cannot delay the provider's stop (and its billing).
        """
        self.aborted = True
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def aclose(self) -> None:
        self._socket = None
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()
        # Outer generator first: closing it does not close the one it reads.
        generators, self._generators = self._generators, []
        for generator in generators:
            await generator.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        events = self._iterate()
        self._generators.append(events)
        return events

    async def _iterate(self) -> AsyncIterator[StreamEvent]:
        events = self._read()
        self._generators.append(events)
        try:
            async for event in events:
                self.accumulator.add(event)
                self.meter.add(event)
                if isinstance(event, Finished):
                    # Complete from here on: a cancel while the connection
                    # drains is not a stop.
                    self.finished = True
                yield event
        except StreamError as exc:
            if self.aborted:
                return  # the socket was shut down on purpose: a stop, not a failure
            self._fail(exc)
            raise
        except Exception as exc:
            said = scrub(str(exc), self._client.endpoint)
            error = StreamError(
                f"could not read the answer ({type(exc).__name__}: {said})",
                kind="protocol",
                fix="the server sent something this client does not understand; "
                "`--debug` shows where",
            )
            self._fail(error)
            raise error from exc
        self.finished = True
        self.accumulator.finish_tool_calls()
        self.meter.end()

    def _fail(self, exc: StreamError) -> None:
        if self.error is None:
            self.error = exc
            self.message.error = str(exc)
            self.accumulator.finish_tool_calls()
            self.meter.end()

    async def _read(self) -> AsyncIterator[StreamEvent]:
        client = self._client
        wire = client.wire
        spec = wire.build_request(self.request, client.endpoint.api_key)
        headers = dict(spec.headers)
        if self.request.stream:
            headers["Accept"] = "text/event-stream"
            headers["Cache-Control"] = "no-store"
        http_request = client._http.build_request(
            spec.method, spec.path.lstrip("/"), json=spec.json, headers=headers
        )
        self.meter.request_sent()
        try:
            response = await client._http.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, client.endpoint, client.timeouts) from None
        self._response = response
        network = response.extensions.get("network_stream")
        self._socket = network.get_extra_info("socket") if network is not None else None
        self.meter.headers_received()
        self.started = Started(response.status_code, dict(response.headers))
        try:
            if response.status_code >= 400:
                raise await status_error(response, client.endpoint, wire)
            yield self.started
            if not self.request.stream:
                body = await response.aread()
                for event in wire.parse_response(_json_or_error(body, response, wire)):
                    yield event
                return
            if wire.framing == "sse":
                await self._check_event_stream(response)
                parser = wire.parser()
                received = 0
                sse_events = EventSource(response).aiter_sse()
                async for sse in sse_events:
                    if not sse.data:
                        continue  # httpx-sse dispatches empty events the spec drops
                    received += 1
                    for event in self._feed(parser, sse.event, sse.data):
                        yield event
                    if parser.done:
                        break
                if not received:
                    raise StreamError(
                        "the server answered 200 but sent no events at all",
                        kind="protocol",
                        fix="the prompt may exceed the model's context, or the server failed "
                        "after sending headers; check its log",
                    )
                for event in parser.end():
                    yield event
                if parser.done:
                    await _drain(sse_events)
            else:  # pragma: no cover - NDJSON (Ollama native) arrives with its wire format
                raise StreamError(f"{wire.framing} framing is not supported yet", "internal")
        except httpx.HTTPError as exc:
            raise transport_error(exc, client.endpoint, client.timeouts) from None

    def _feed(self, parser: EventParser, name: str, data: str) -> list[StreamEvent]:
        try:
            return parser.feed(name, data)
        except StreamError:
            raise
        except Exception as exc:
            raise StreamError(
                f"unexpected data from the server ({type(exc).__name__}): {data[:100]!r}",
                kind="protocol",
                fix=f"check that {self._client.endpoint.base_url} speaks the "
                f"{self._client.wire.label} format",
            ) from exc

    async def _check_event_stream(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" in content_type.partition(";")[0].lower():
            return
        body = await response.aread()
        text = _body_excerpt(body)
        parsed = _try_json(body)
        message = self._client.wire.error_message(parsed) if parsed is not None else None
        if message:
            raise StreamError(f"the server reported an error: {message}", kind="provider")
        raise StreamError(
            f"expected an event stream but got {content_type or 'no content type'} "
            f"(HTTP {response.status_code}): {text}",
            kind="protocol",
            status=response.status_code,
            fix=f"check that {self._client.endpoint.base_url} speaks the "
            f"{self._client.wire.label} format",
        )


def transport_error(exc: httpx.HTTPError, endpoint: Endpoint, timeouts: Timeouts) -> StreamError:
    """A connect, timeout or broken-connection failure as one line with the fix."""
    reason = scrub(_reason(exc), endpoint)
    if isinstance(exc, httpx.ConnectTimeout):
        return StreamError(
            f"could not connect to {endpoint.base_url} within {timeouts.connect:g} s",
            kind="timeout",
            fix="check the base URL and that the server is running",
        )
    if isinstance(exc, httpx.ConnectError):
        return StreamError(
            f"cannot connect to {endpoint.base_url} ({reason})",
            kind="connect",
            fix="check that the server is running and the base URL is right",
        )
    if isinstance(exc, httpx.ReadTimeout):
        return StreamError(
            f"the server sent nothing for {timeouts.read:g} s",
            kind="timeout",
            fix="the model may be overloaded; retry, or raise [timeouts] read in the config",
        )
    if isinstance(exc, httpx.TimeoutException):
        return StreamError(f"request timed out ({reason})", kind="timeout")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return StreamError(
            f"the connection broke mid-answer ({reason})",
            kind="protocol",
            fix="the server or a proxy closed it; retry",
        )
    return StreamError(f"request failed: {reason}", kind="connect")


async def status_error(
    response: httpx.Response, endpoint: Endpoint, wire: WireFormat
) -> StreamError:
    """A 4xx/5xx response as one line: status, the provider's words, the fix."""
    body = await response.aread()
    parsed = _try_json(body)
    detail = wire.error_message(parsed) if parsed is not None else None
    status = response.status_code
    reason = response.reason_phrase or ""
    said = detail or _body_excerpt(body) or reason
    kind, fix = _classify(status, endpoint, said, response.headers.get("retry-after"))
    message = f"HTTP {status} {reason}".rstrip()
    if said and said not in (reason, f"{status} {reason}", f"{status}"):
        message = f"{message}: {said}"
    detail_obj = parsed.get("error") if isinstance(parsed, dict) else None
    return StreamError(
        message,
        kind=kind,
        status=status,
        fix=fix,
        detail=detail_obj if isinstance(detail_obj, dict) else None,
    )


async def _drain(events: AsyncIterator[Any], limit: float = 0.1) -> None:
    """Read what follows the end marker (usually just the chunked-body trailer)
    so httpcore can keep the connection for the next turn; a server that
    keeps talking after `[DONE]` gets `limit` seconds and then its
    connection is closed."""

    async def rest() -> None:
        async for _ in events:
            pass

    with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
        await asyncio.wait_for(rest(), limit)


def _classify(
    status: int, endpoint: Endpoint, said: str, retry_after: str | None = None
) -> tuple[str, str | None]:
    if status == 401:
        if endpoint.key_env:
            fix = f"check the API key in ${endpoint.key_env}"
            if not endpoint.api_key:
                fix = f"set ${endpoint.key_env} (it is not set)"
        else:
            fix = f"set api_key_env under [providers.{endpoint.name}] in the config file"
        return "auth", fix
    if status == 403:
        return "auth", "the key is valid but not allowed to use this model or endpoint"
    if status == 404:
        return "not_found", (
            f"check the model name {endpoint.model!r} (list them with `tokentide models`) "
            f"and the base URL {endpoint.base_url}"
        )
    if status == 429:
        if "quota" in said.lower() or "billing" in said.lower():
            return "rate_limit", "the account is out of quota; check the provider's billing page"
        if retry_after and retry_after.strip().isdigit():
            return "rate_limit", f"rate limited; retry in {retry_after.strip()} s"
        return "rate_limit", "rate limited; wait a moment and retry"
    if status in (400, 413, 422):
        return "bad_request", None
    if status >= 500:
        return "server", "the provider had a problem; retry in a moment"
    return "provider", None


def scrub(text: str, endpoint: Endpoint) -> str:
    """Never let the key reach a message (httpx quotes bad header values)."""
    if endpoint.api_key:
        text = text.replace(endpoint.api_key, "***")
    return one_line(text, 160)


def _reason(exc: BaseException) -> str:
    """The root cause in a few words; httpcore wraps it ("All connection attempts failed")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host not found"
        seen = seen.__cause__ or seen.__context__
    return one_line(str(exc) or type(exc).__name__, 160)


def _try_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _json_or_error(body: bytes, response: httpx.Response, wire: WireFormat) -> Any:
    parsed = _try_json(body)
    if parsed is None:
        raise StreamError(
            f"expected JSON but got {response.headers.get('content-type', 'no content type')} "
            f"(HTTP {response.status_code}): {_body_excerpt(body)}",
            kind="protocol",
            status=response.status_code,
            fix=f"check that the base URL speaks the {wire.label} format",
        )
    return parsed


def _body_excerpt(body: bytes, lines: int = 3) -> str:
    """The first lines of a non-JSON body, tags stripped, on one line."""
    text = body.decode("utf-8", "replace")
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        if title and title.group(1).strip():
            return one_line(title.group(1), 200)
        text = re.sub(r"<[^>]+>", " ", text)
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return one_line(" / ".join(kept), 200)


__all__ = ["AnswerStream", "ChatClient"]
