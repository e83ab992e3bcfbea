"""The client's sockets on asyncio itself (client/netio.py): plain and TLS
streams through a real loopback server, back-pressure, timeouts, and that
the client uses it."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import threading

import httpcore
import pytest

from tokentide.client.config import Endpoint, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.events import Message
from tokentide.client.netio import (
    HIGH_WATER,
    RECEIVE_AREA,
    SocketBackend,
    ssl_context,
    tls_settings,
)
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State

from .replay import FIXTURES, Canned, LoopbackServer, ReplayServer, fixture

TEXT = fixture("openai_chat_text.sse")
SAID = "Hello! Here’s a café ☕:\n- one\n- two 😀"


def request() -> ChatRequest:
    return ChatRequest("gpt-4o-mini", [Message("user", "hi")])


async def answer_of(client: ChatClient):
    answer = client.stream(request())
    async with answer:
        async for _ in answer:
            pass
    return answer


def test_the_client_opens_its_sockets_on_asyncio():
    client = ChatClient(Endpoint("openai", "openai", "http://127.0.0.1:9/v1", "m"))
    assert isinstance(client._http._transport._pool._network_backend, SocketBackend)


async def test_a_plain_stream_in_small_pieces():
    with ReplayServer() as server:
        server.reply(Canned(TEXT, chunk_size=3, seed=4))
        async with ChatClient(Endpoint("openai", "openai", server.base_url, "m")) as client:
            answer = await answer_of(client)
    assert answer.state is State.FINISHED
    assert answer.message.text == SAID


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tokentide-socket" and t.is_alive()]


async def test_each_connection_is_read_by_a_thread_that_ends_with_it():
    before = len(readers())
    with ReplayServer() as server:
        server.reply(Canned(TEXT, chunk_size=5, hold=True))  # the connection stays open
        async with ChatClient(Endpoint("openai", "openai", server.base_url, "m")) as client:
            answer = client.stream(request())
            async with answer:
                async for _ in answer:
                    assert len(readers()) == before + 1
        assert len(readers()) == before  # the server holds on; closing stopped the reader
    assert answer.message.text == SAID


async def test_tls_through_start_tls(monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(FIXTURES / "loopback-cert.pem"))
    with ReplayServer(tls=True) as server:
        server.reply(Canned(TEXT, chunk_size=11))
        async with ChatClient(Endpoint("openai", "openai", server.base_url, "m")) as client:
            answer = await answer_of(client)
    assert server.base_url.startswith("https://")
    assert answer.state is State.FINISHED
    assert answer.message.text == SAID


async def test_an_untrusted_certificate_is_a_connection_error():
    with ReplayServer(tls=True) as server:  # SSL_CERT_FILE not set: the system's roots
        server.reply(Canned(TEXT))
        async with ChatClient(
            Endpoint("openai", "openai", server.base_url, "m"), retries=0
        ) as client:
            with pytest.raises(ApiError) as caught:
                await answer_of(client)
    assert caught.value.kind == "connect"
    assert "certificate" in str(caught.value).lower()


async def test_a_plain_http_client_loads_no_roots_and_would_trust_no_certificate(monkeypatch):
    """Loading the roots costs `ask` 18-30 ms before its request goes out; an
    http:// endpoint never uses them. Its context must still refuse TLS, not
    accept any certificate, were a connection ever to use it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(FIXTURES / "loopback-cert.pem"))
    with ReplayServer() as plain, ReplayServer(tls=True) as secure:
        plain.reply(Canned(TEXT))
        async with ChatClient(Endpoint("openai", "openai", plain.base_url, "m")) as client:
            context = client._http._transport._pool._ssl_context
            answer = await answer_of(client)
        assert answer.message.text == SAID
        assert context is not ssl_context(False)
        assert context.cert_store_stats()["x509_ca"] == 0
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        secure.reply(Canned(TEXT))
        stream = await SocketBackend().connect_tcp("127.0.0.1", secure.port, timeout=2)
        with pytest.raises(httpcore.ConnectError, match=r"(?i)certificate"):
            await stream.start_tls(context, server_hostname="127.0.0.1", timeout=2)
        await stream.aclose()
    assert tls_settings("HTTPS://example.test/v1", False) is ssl_context(False)  # the roots


async def test_a_silent_server_is_a_read_timeout():
    with ReplayServer() as server:
        server.reply(Canned(TEXT[:200], hold=True))
        endpoint = Endpoint("openai", "openai", server.base_url, "m")
        timeouts = Timeouts(connect=2, read=0.3)
        async with ChatClient(endpoint, timeouts=timeouts, retries=0) as client:
            with pytest.raises(ApiError) as caught:
                await answer_of(client)
    assert caught.value.kind == "timeout"


def pattern(start: int, size: int) -> bytes:
    """Bytes that differ at every offset within 251 (a prime, so no read size
    lines up with it): a piece read twice, dropped or taken from a stale part
    of the receive area shows."""
    offset = start % 251
    return (_CYCLE * (size // 251 + 2))[offset : offset + size]


_CYCLE = bytes(range(251))


class Flood(LoopbackServer):
    """Writes `size` bytes of `pattern` as fast as the socket takes them."""

    size = 16 * HIGH_WATER
    sent = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while self.sent < self.size:
                block = pattern(self.sent, 65536 + 17)
                writer.write(block)
                await writer.drain()
                self.sent += len(block)
        except ConnectionError:
            pass
        finally:
            writer.close()


async def test_a_slow_reader_stops_reading_the_socket_at_the_high_water_mark():
    with Flood() as server:
        stream = await SocketBackend().connect_tcp("127.0.0.1", server.port, timeout=2)
        received = bytearray(await stream.read(1, timeout=2))
        await asyncio.sleep(0.3)  # the server writes on; nobody reads
        buffered = stream._reader.size
        assert HIGH_WATER < buffered <= HIGH_WATER + RECEIVE_AREA  # then it stopped reading
        assert server.sent < Flood.size  # and the server waits on TCP's window
        while chunk := await stream.read(1 << 20, timeout=2):
            received += chunk
        await stream.aclose()
    assert len(received) == server.sent >= Flood.size
    assert received == pattern(0, len(received))  # every byte, in order, once


async def test_a_refused_connection_is_a_connect_error():
    with pytest.raises(httpcore.ConnectError):
        await SocketBackend().connect_tcp("127.0.0.1", 9, timeout=2)


def test_clients_share_their_tls_settings_one_per_http_version(monkeypatch):
    """Loading the certificate roots takes 25-30 ms: once a process, not once a
    client (a race makes one client a lane)."""
    endpoint = Endpoint("openai", "openai", "https://127.0.0.1:9/v1", "m")
    first, second = ChatClient(endpoint), ChatClient(endpoint)
    http2 = ChatClient(dataclasses.replace(endpoint, http2=True))
    context = ssl_context(False)
    assert first._http._transport._pool._ssl_context is context
    assert second._http._transport._pool._ssl_context is context
    assert http2._http._transport._pool._ssl_context is ssl_context(True) is not context
    monkeypatch.setenv("SSL_CERT_FILE", str(FIXTURES / "loopback-cert.pem"))
    assert ssl_context(False) is not context  # the roots a user points at are read


async def test_a_proxy_named_in_the_environment_still_carries_the_requests(monkeypatch):
    """httpx turns the environment's proxies off for a client given its own
    transport: the client keeps httpx's and only moves its sockets."""
    with ReplayServer() as proxy:
        proxy.reply(Canned(TEXT))
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        endpoint = Endpoint("openai", "openai", "http://api.example.invalid/v1", "m")
        async with ChatClient(endpoint, retries=0) as client:
            answer = await answer_of(client)
    assert answer.message.text == SAID
    assert proxy.seen[0].path == "http://api.example.invalid/v1/chat/completions"
