"""HTTP/2: the client's `--http2` against the demo server, on real loopback sockets.

What matters is the stop: on HTTP/2 one connection carries several answers,
so stopping one must reset only its stream (RST_STREAM) and never the
socket; the server must notice the reset at once, stop that answer and keep
streaming the others on the same connection.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.cli import clean_env, tokentide
from tokentide.client.config import Endpoint, resolve
from tokentide.client.demo import DemoServer
from tokentide.client.errors import ApiError, ConfigError
from tokentide.client.events import Message, TextDelta
from tokentide.client.request import ChatRequest
from tokentide.client.stream import AnswerStream, ChatClient, State

LONG = " ".join(f"word{i}" for i in range(120))


def endpoint(server: DemoServer, *, http2: bool = True) -> Endpoint:
    return Endpoint("demo", "openai", server.base_url, "demo", http2=http2)


def request(prompt: str, **kw) -> ChatRequest:
    return ChatRequest("demo", [Message("user", prompt)], **kw)


async def read_all(answer: AnswerStream) -> str:
    async with answer:
        return "".join([e.text async for e in answer if isinstance(e, TextDelta)])


async def test_an_answer_streams_whole_over_http2():
    with DemoServer(tokens_per_second=3000, ttft=0.01) as server:
        text = "# Café ☕\n\n```py\nprint('h2')\n```\n😀 done"
        server.script(text)
        async with ChatClient(endpoint(server)) as client:
            answer = client.stream(request("hi"))
            assert await read_all(answer) == text
        record = server.requests[-1]
    assert answer.http_version == "HTTP/2" and answer.started.status == 200
    assert answer.state is State.FINISHED and answer.message.finish_reason == "stop"
    assert record.http_version == "2" and record.completed
    assert record.headers["host"].startswith("127.0.0.1:")  # from :authority


async def test_http1_stays_the_default():
    with DemoServer(tokens_per_second=3000, ttft=0.01) as server:
        async with ChatClient(Endpoint("demo", "openai", server.base_url, "demo")) as client:
            answer = client.stream(request("/echo plain old HTTP"))
            assert await read_all(answer) == "plain old HTTP"
        record = server.requests[-1]
    assert answer.http_version == "HTTP/1.1" and record.http_version == "1.1"


async def test_a_server_of_http1_only_is_named_with_the_fix():
    """HTTP/2 on plain http:// is spoken from the first byte; an HTTP/1.1
    server hangs up on it. That was "request failed: [Errno 32] Broken pipe"."""
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        endpoint = Endpoint("local", "openai", url, "m", http2=True)
        async with ChatClient(endpoint, retries=0) as client:
            with pytest.raises(ApiError) as caught:
                await read_all(client.stream(request("hi")))
    finally:
        server.shutdown()
        server.server_close()
    line = str(caught.value)
    assert f"the server at {url} hung up on HTTP/2" in line
    assert line.endswith("use --http1, or drop http2 = true for this provider in the config")


async def _stop_one_of_two(stop) -> None:
    """Two answers at once on one client; `stop(answer)` ends the first mid-stream."""
    lines: list[str] = []
    with DemoServer(tokens_per_second=150, ttft=0.01, log=lines.append) as server:
        async with ChatClient(endpoint(server)) as client:
            other = asyncio.create_task(read_all(client.stream(request(f"/echo {LONG}"))))
            await server.await_for(lambda r: r.tokens_sent > 0, timeout=5)
            stopped = client.stream(request("tell me about rust", max_tokens=1000))
            stopped_at = await stop(stopped)
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
            assert record.id == 2 and not record.completed
            sent_then = record.tokens_sent
            other_text = await other
            # The same connection serves a new answer: the socket was never shut.
            assert await read_all(client.stream(request("/echo still here"))) == "still here"
        first, second, third = server.requests
    reset_ms = (record.disconnected_at - stopped_at) * 1000
    print(f"\nstop -> server saw RST_STREAM: {reset_ms:.1f} ms")
    assert reset_ms < 200
    assert second.tokens_sent == sent_then  # nothing more generated after the reset
    assert stopped.state is State.CANCELLED and stopped.message.cancelled
    assert stopped.message.error is None and stopped.http_version == "HTTP/2"
    assert other_text == LONG and first.completed and first.disconnected_at is None
    assert first.connection == second.connection == third.connection
    assert any(f"client disconnected after {sent_then} tokens" in line for line in lines)


async def test_leaving_one_answer_early_resets_only_its_stream():
    async def leave_early(answer: AnswerStream) -> float:
        received = 0
        async with answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    received += 1
                    if received == 10:
                        left_at = time.perf_counter()
                        break
        return left_at

    await _stop_one_of_two(leave_early)


async def test_abort_from_another_thread_resets_only_its_stream():
    """The stop key in a UI's input thread; the loop is free and the answer
    waits for its next token when it comes."""

    async def abort_from_a_thread(answer: AnswerStream) -> float:
        aborted_at: list[float] = []

        def stop_key() -> None:
            aborted_at.append(time.perf_counter())
            answer.abort()

        received = 0
        async with answer:
            async for event in answer:
                if isinstance(event, TextDelta):
                    received += 1
                    if received == 10:
                        threading.Thread(target=stop_key).start()
        return aborted_at[0]

    await _stop_one_of_two(abort_from_a_thread)


async def test_abort_cuts_short_a_wait_for_a_token_that_never_comes():
    """A stalled answer: without the reset and the interrupted read, the
    client would wait out its read timeout (120 s)."""
    with DemoServer(tokens_per_second=500, ttft=0.01) as server:
        server.inject("stall")
        async with ChatClient(endpoint(server)) as client:
            answer = client.stream(request("tell me about go"))
            received = 0
            async with answer:
                async for event in answer:  # after 5 tokens, waits for one that never comes
                    if isinstance(event, TextDelta):
                        received += 1
                        if received == 5:
                            threading.Timer(0.05, answer.abort).start()
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
    assert answer.state is State.CANCELLED and answer.message.error is None
    assert record.tokens_sent == 5 and not record.completed and record.fault == "stall"


async def test_abort_with_the_task_cancelled_too_stays_a_cancelled_task():
    """The app's Esc: abort() and a task cancel. The reset goes out, and the
    task's own cancellation is not taken back as if it were abort()'s."""
    with DemoServer(tokens_per_second=500, ttft=0.01) as server:
        server.inject("stall")
        async with ChatClient(endpoint(server)) as client:
            answer = client.stream(request("tell me about ada"))
            stalled = asyncio.Event()

            async def consume() -> None:
                received = 0
                async with answer:
                    async for event in answer:
                        received += isinstance(event, TextDelta)
                        if received == 5:
                            stalled.set()  # then waits for a token that never comes

            task = asyncio.create_task(consume())
            await stalled.wait()
            answer.abort()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
    assert answer.state is State.CANCELLED and record.tokens_sent == 5


async def test_abort_while_waiting_for_the_headers():
    """An unstreamed answer's headers come only with the whole answer: abort
    in between resets the stream, and the answer ends as stopped at once."""
    with DemoServer(tokens_per_second=100, ttft=5.0) as server:
        async with ChatClient(endpoint(server)) as client:
            answer = client.stream(request("tell me about c", stream=False))

            async def watch_and_stop() -> float:
                await server.await_for(lambda r: r.received_at > 0, timeout=5)
                aborted_at = time.perf_counter()
                await asyncio.to_thread(answer.abort)
                return aborted_at

            stopper = asyncio.create_task(watch_and_stop())
            async with answer:
                async for _ in answer:
                    pass
            ended_at = time.perf_counter()
            aborted_at = await stopper
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
    assert answer.state is State.CANCELLED and answer.started is None
    assert ended_at - aborted_at < 1.0  # not the 5 s the answer would take
    assert record.disconnected_at - aborted_at < 0.2 and record.status is None


async def test_stopping_the_server_with_http2_answers_open_does_not_hang():
    lines: list[str] = []
    server = DemoServer(tokens_per_second=500, ttft=0.01, log=lines.append).start()
    try:
        server.inject("stall")
        async with ChatClient(endpoint(server)) as client:
            answer = client.stream(request("tell me about zig"))
            async with answer:
                with pytest.raises(ApiError) as info:  # the connection goes away
                    async for _ in answer:
                        if server.requests and server.requests[-1].tokens_sent == 5:
                            await asyncio.to_thread(server.stop)
    finally:
        server.stop()
    # Five tokens had arrived: the answer was cut off, and they are kept.
    assert answer.state is State.CUT_OFF and info.value.kind == "cut_off"
    assert answer.message.text and answer.message.interrupted
    assert any("server stopped after 5 tokens" in line for line in lines)


def test_ask_over_http2_from_the_command_line(tmp_path):
    with DemoServer(tokens_per_second=4000, ttft=0.01) as server:
        result = tokentide(
            "ask",
            "--http2",
            "--base-url",
            server.base_url,
            "--model",
            "demo",
            "/echo over *HTTP/2*",
            env=clean_env(tmp_path),
        )
        records = server.requests
    assert result.returncode == 0, result.stderr
    assert result.stdout == "over *HTTP/2*"
    assert [r.http_version for r in records] == ["2"] and records[0].completed


def test_http2_in_the_config_file_and_the_option_wins(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[providers.lab]\nwire = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'model = "m"\nhttp2 = true\n'
    )
    settings = resolve(provider="lab", env={}, path=config)
    assert settings.endpoint.http2 and not settings.warnings
    assert not resolve(provider="lab", env={}, path=config, http2=False).endpoint.http2
    assert resolve(base_url="http://127.0.0.1:9/v1", env={}, http2=True).endpoint.http2
    assert not resolve(base_url="http://127.0.0.1:9/v1", env={}).endpoint.http2

    config.write_text(config.read_text().replace("http2 = true", 'http2 = "yes"'))
    with pytest.raises(ConfigError, match=r"http2 in \[providers.lab\] must be true or false"):
        resolve(provider="lab", env={}, path=config)


def test_h2_is_imported_only_when_http2_is_on():
    """HTTP/1.1 users do not pay for importing h2 (httpcore would import it
    eagerly as soon as it is installed)."""
    code = (
        "import sys\n"
        "from tokentide.client.config import Endpoint\n"
        "from tokentide.client.stream import ChatClient\n"
        "ChatClient(Endpoint('a', 'openai', 'http://127.0.0.1:9/v1', 'm'))\n"
        "print('h2' in sys.modules)\n"
        "ChatClient(Endpoint('a', 'openai', 'http://127.0.0.1:9/v1', 'm', http2=True))\n"
        "print('h2' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.split() == ["False", "True"]


async def test_the_demo_server_answers_any_http2_client_like_http1():
    """httpx itself as the client: a refusal of a body too large comes once the
    body is in (a reset mid-upload would leave the client waiting), a HEAD
    answer declares no length it will not send, and the connection goes on."""
    with DemoServer() as server:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as http:
            huge = await http.post(f"{server.base_url}/chat/completions", content=b"x" * 17_000_000)
            head = await http.head(f"{server.base_url}/models")
            models = await http.get(f"{server.base_url}/models")
        records = server.requests
    assert huge.status_code == 413 and huge.http_version == "HTTP/2"
    assert head.status_code == 405 and "content-length" not in head.headers
    assert models.status_code == 200 and "demo" in models.text
    assert [r.connection for r in records] == [1, 1]  # HEAD and GET: one connection
