"""Inter-token latency and the token-arrival series: exact on a known clock,
close to the demo server's schedule over a real socket, bounded in memory."""

from __future__ import annotations

import time

import pytest

from tokentide.client.demo import DemoServer
from tokentide.client.events import Message, TextDelta
from tokentide.client.meter import ARRIVAL_BUCKETS, GAPS_KEPT, Arrivals, Meter
from tokentide.client.request import ChatRequest
from tokentide.client.stream import AnswerStream, ChatClient

from .test_stream_demo import demo_endpoint


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def metered(gaps: list[float], texts: list[str] | None = None, ttft: float = 0.2) -> Meter:
    clock = Clock()
    meter = Meter(clock=clock)
    meter.request_sent()
    clock.now = ttft
    texts = texts or ["x"] * (len(gaps) + 1)
    meter.add(TextDelta(texts[0]))
    for gap, text in zip(gaps, texts[1:], strict=True):
        clock.now += gap
        meter.add(TextDelta(text))
    meter.end()
    return meter


def test_percentiles_and_longest_stall_on_a_known_clock():
    gaps = [0.010] * 98 + [0.020, 0.500]
    metrics = metered(gaps).snapshot()
    assert metrics.itl_p50_ms == pytest.approx(10.0)
    assert metrics.itl_p99_ms == pytest.approx(20.0)
    assert metrics.longest_stall_ms == pytest.approx(500.0)
    assert metrics.to_dict()["itl_ms"] == {"p50": 10.0, "p99": 20.0}
    assert metrics.to_dict()["longest_stall_ms"] == 500.0


def test_a_merged_delta_shares_its_gap_among_its_tokens():
    # 40 characters = 10 tokens by the estimate, 100 ms after the previous delta.
    metrics = metered([0.1, 0.1], ["x", "y" * 40, "z" * 40]).snapshot()
    assert metrics.itl_p50_ms == pytest.approx(10.0)
    assert metrics.longest_stall_ms == pytest.approx(100.0)


def test_no_percentiles_while_streaming_or_for_a_few_tokens():
    clock = Clock()
    meter = Meter(clock=clock)
    meter.request_sent()
    for _ in range(10):
        clock.now += 0.01
        meter.add(TextDelta("x"))
    assert meter.snapshot().itl_p50_ms is None  # not ended: no sort per status-line tick
    assert meter.snapshot().longest_stall_ms == pytest.approx(10.0)
    assert metered([0.01]).snapshot().itl_p50_ms is None  # two tokens say nothing


def test_arrival_series_stays_bounded_and_sums_to_the_tokens():
    gaps = [0.01] * 30_000  # 300 s of tokens
    metrics = metered(gaps).snapshot()
    arrivals = metrics.arrivals
    assert arrivals is not None
    assert len(arrivals.counts) <= ARRIVAL_BUCKETS
    assert sum(arrivals.counts) == 30_001
    assert arrivals.ttft_s == 0.2
    again = Arrivals.from_dict(arrivals.to_dict())
    assert again is not None and again.counts == arrivals.counts
    assert Arrivals.from_dict({"counts": "nope"}) is None
    assert Arrivals.from_dict({"bucket_ms": 0, "counts": [1]}) is None


def test_gaps_are_sampled_past_the_cap_without_bias():
    meter = metered([0.01, 0.03] * GAPS_KEPT)  # twice the cap, half of each
    gaps = meter._gaps
    assert len(gaps.per_token) == GAPS_KEPT
    metrics = meter.snapshot()
    assert metrics.itl_p99_ms == pytest.approx(30.0)
    assert 10.0 <= metrics.itl_p50_ms <= 30.0
    assert abs(sum(1 for g in gaps.per_token if g > 0.02) / GAPS_KEPT - 0.5) < 0.02


async def streamed(rate: int, tokens: int, on_token=lambda seen: None) -> AnswerStream:
    """An answer of `tokens` tokens from the demo server at `rate` tok/s;
    `on_token` is called with the count after each text delta."""
    with DemoServer(tokens_per_second=rate, ttft=0.1) as server:
        async with ChatClient(demo_endpoint(server)) as client:
            request = ChatRequest("demo", [Message("user", "hi")], max_tokens=tokens)
            answer = client.stream(request)
            async with answer:
                seen = 0
                async for event in answer:
                    if isinstance(event, TextDelta):
                        seen += 1
                        on_token(seen)
    return answer


async def test_itl_matches_the_demo_servers_schedule():
    answer = await streamed(100, 60)
    metrics = answer.metrics()
    assert metrics.tokens_received == 60
    assert 9 <= metrics.itl_p50_ms <= 11, metrics  # 10 ms a token, on a loaded machine too
    assert metrics.longest_stall_ms < 100, metrics
    assert sum(metrics.arrivals.counts) == 60


def test_tokens_of_one_read_share_its_gap():
    # Reads 10 ms apart, each with 2 deltas: 2 tokens per 10 ms is 5 ms a token,
    # not half the tokens at 0 ms and half at 10 ms.
    clock = Clock()
    meter = Meter(clock=clock)
    meter.request_sent()
    for i in range(50):
        clock.now = 0.010 * (i + 1)
        meter.read_arrived()
        clock.now += 0.0003  # parsing takes time; the tokens still came with the read
        meter.add(TextDelta("a"))
        clock.now += 0.0003
        meter.add(TextDelta("b"))
    meter.end()
    metrics = meter.snapshot()
    assert metrics.itl_p50_ms == pytest.approx(5.0)
    assert metrics.itl_p99_ms == pytest.approx(5.0)
    assert metrics.longest_stall_ms == pytest.approx(10.0)
    assert metrics.ttft_ms == pytest.approx(10.0)
    assert sum(tokens for _, tokens in meter.gaps()) == 98


async def test_tokens_keep_their_arrival_times_while_the_event_loop_is_busy():
    # A long render holds the event loop for 300 ms mid-answer; the tokens that
    # came meanwhile (20 ms apart) are still 20 ms apart, not one stall of
    # 300 ms and a burst: each read is stamped as it arrives (client/netio.py).

    def busy(seen: int) -> None:
        if seen == 10:
            time.sleep(0.3)  # the loop is busy: nothing is read on it

    answer = await streamed(50, 40, busy)
    metrics = answer.metrics()
    assert metrics.tokens_received == 40
    assert metrics.longest_stall_ms < 150, metrics
    assert 15 <= metrics.itl_p50_ms <= 25, metrics
