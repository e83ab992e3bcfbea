"""The client against the demo server: exact text, honest metrics, prompt cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tokentide.client.config import Endpoint
from tokentide.client.demo import DemoServer
from tokentide.client.events import Message, TextDelta
from tokentide.client.meter import expectation
from tokentide.client.request import ChatRequest, Tool
from tokentide.client.stream import ChatClient, State


def demo_endpoint(server: DemoServer, model: str = "demo") -> Endpoint:
    return Endpoint("demo", "openai", server.base_url, model)


def request(prompt: str = "tell me about python", **kw) -> ChatRequest:
    return ChatRequest(kw.pop("model", "demo"), [Message("user", prompt)], **kw)


async def test_text_reconstructs_exactly_with_server_usage():
    text = "# Café ☕\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n😀 done"
    with DemoServer(tokens_per_second=3000, ttft=0.01) as server:
        server.script(text)
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request())
            async with answer:
                deltas = [e.text async for e in answer if isinstance(e, TextDelta)]
        record = server.requests[-1]
    assert "".join(deltas) == answer.message.text == text
    assert answer.message.finish_reason == "stop"
    assert answer.message.usage.output_tokens == record.tokens_sent == len(deltas)
    metrics = answer.metrics()
    assert metrics.tokens_received == record.tokens_sent and not metrics.estimated
    assert metrics.tokens_saved is None


async def test_ttft_and_rate_match_the_server_pace():
    with DemoServer(tokens_per_second=200, ttft=0.25) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request(max_tokens=150))
            async with answer:
                async for _ in answer:
                    pass
    metrics = answer.metrics()
    assert answer.message.finish_reason == "length"
    assert metrics.tokens_received == 150
    assert 240 <= metrics.ttft_ms <= 600, metrics
    assert 150 <= metrics.tokens_per_s <= 240, metrics
    # total = ttft + 149 intervals at 200/s, give or take scheduling
    assert 0.95 <= metrics.total_ms / 1000 <= 1.6, metrics


async def test_cancel_after_n_deltas_closes_the_connection_at_once():
    with DemoServer(tokens_per_second=150, ttft=0.02) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request(), expected=expectation(None, 900))
            received = 0
            async with answer:
                async for event in answer:
                    if isinstance(event, TextDelta):
                        received += 1
                        if received == 10:
                            break
            closed_at = time.perf_counter()
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
            sent_then = record.tokens_sent
            await asyncio.sleep(0.1)  # the server must not write any more after noticing
            assert server.requests[-1].tokens_sent == sent_then
    assert record.disconnected_at - closed_at < 0.2
    assert not record.completed
    message, metrics = answer.message, answer.metrics()
    assert message.cancelled and message.error is None and answer.state is State.CANCELLED
    assert metrics.tokens_received == 10 and metrics.estimated
    assert metrics.tokens_saved.tokens == 890
    assert metrics.tokens_saved.expected.basis == "history"


async def test_task_cancel_while_waiting_for_first_token():
    """Esc during the TTFT wait: nothing received yet, the request is still cancelled."""
    with DemoServer(tokens_per_second=100, ttft=5.0) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request(max_tokens=300))

            async def consume() -> None:
                async with answer:
                    async for _ in answer:
                        pass

            task = asyncio.create_task(consume())
            await server.await_for(lambda r: r.stream, timeout=2)
            await asyncio.sleep(0.05)
            cancelled_at = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            record = await server.await_for(lambda r: r.disconnected_at is not None, timeout=2)
    assert record.disconnected_at - cancelled_at < 0.2
    assert record.tokens_sent == 0
    metrics = answer.metrics()
    assert answer.message.cancelled and metrics.tokens_received == 0
    assert metrics.ttft_ms is None
    assert (
        metrics.tokens_saved.tokens == 300 and metrics.tokens_saved.expected.basis == "max_tokens"
    )


async def test_keepalive_connection_is_reused_after_a_full_answer():
    with DemoServer(tokens_per_second=5000, ttft=0.0) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            for _ in range(2):
                answer = client.stream(request("/echo hi"))
                async with answer:
                    async for _ in answer:
                        pass
                assert answer.message.text == "hi"
        first, second = server.requests[-2:]
    assert first.connection == second.connection


async def test_reasoning_and_tool_models():
    with DemoServer(tokens_per_second=5000, ttft=0.0) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request("why is the sky blue", model="demo-think"))
            async with answer:
                async for _ in answer:
                    pass
            assert answer.message.reasoning and answer.message.text
            tools = [Tool("lookup", {"type": "object", "properties": {"city": {"type": "string"}}})]
            answer = client.stream(request("weather?", model="demo-tools", tools=tools))
            async with answer:
                async for _ in answer:
                    pass
    call = answer.message.tool_calls[0]
    assert call.name == "lookup" and call.complete and call.parse_error is None
    assert isinstance(call.arguments, dict) and answer.message.finish_reason == "tool_calls"


async def test_abort_from_another_thread_while_the_loop_is_busy():
    """A UI's input thread can stop the provider even when the event loop is
    stuck in a long render: the server sees EOF at once, and the answer ends
    as stopped (not failed) when the loop gets back to it."""
    with DemoServer(tokens_per_second=200, ttft=0.01) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            answer = client.stream(request(max_tokens=2000))
            aborted_at: list[float] = []

            def stop_key() -> None:
                aborted_at.append(time.perf_counter())
                answer.abort()

            async with answer:
                async for event in answer:
                    if isinstance(event, TextDelta) and not aborted_at:
                        timer = threading.Timer(0.05, stop_key)
                        timer.start()
                        time.sleep(0.4)  # the event loop is busy (a slow render), on purpose
                        record = server.wait_for(lambda r: r.disconnected_at is not None, 1)
                        # EOF reached the server while the loop was still blocked:
                        assert record.disconnected_at - aborted_at[0] < 0.05
                        assert time.perf_counter() - aborted_at[0] > 0.3
    assert answer.message.cancelled and answer.message.error is None
    assert answer.metrics().tokens_saved.tokens == 2000 - answer.metrics().tokens_received
