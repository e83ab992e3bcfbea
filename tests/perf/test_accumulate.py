"""Benchmark: folding N deltas into a message is linear in N.

    .venv/bin/python -m pytest -m slow -s tests/perf/test_accumulate.py

Prints, for 50k/100k/200k deltas of a few characters (text, reasoning and
tool arguments), the time `Accumulator.add` + `Meter.add` take per event and
in all, next to the time the same deltas take with `text += delta`, the
quadratic way this code used to fold them, measured in the same run.
"""

from __future__ import annotations

import time

import pytest

from tokentide.client.accumulate import Accumulator
from tokentide.client.events import Finished, ReasoningDelta, TextDelta, ToolCallDelta
from tokentide.client.meter import Meter

pytestmark = pytest.mark.slow

PIECES = ["Hel", "lo", ", w", "orld", " ", "😀", "\n", "```py", "thon", "\n"]


def events(n: int, kind: type) -> list:
    if kind is ToolCallDelta:
        return [ToolCallDelta(0, arguments=PIECES[i % len(PIECES)]) for i in range(n)]
    return [kind(PIECES[i % len(PIECES)]) for i in range(n)]


def fold(stream: list) -> float:
    accumulator, meter = Accumulator("m"), Meter()
    started = time.perf_counter()
    for event in stream:
        accumulator.add(event)
        meter.add(event)
    accumulator.add(Finished("stop"))
    message = accumulator.message
    took = time.perf_counter() - started
    assert len(message.text) + len(message.reasoning) + len(
        "".join(c.arguments_raw for c in message.tool_calls)
    ) == sum(len(getattr(e, "text", "") or getattr(e, "arguments", "")) for e in stream)
    return took


def concatenate(stream: list) -> float:
    """The old way: one immutable string grown by `+=` on an object attribute."""

    class Holder:
        text = ""

    holder = Holder()
    started = time.perf_counter()
    for event in stream:
        holder.text += event.text
    return time.perf_counter() - started


@pytest.mark.parametrize("kind", [TextDelta, ReasoningDelta, ToolCallDelta])
def test_accumulation_is_linear(kind):
    rows = []
    for n in (50_000, 100_000, 200_000):
        stream = events(n, kind)
        took = fold(stream)
        baseline = concatenate(events(n, TextDelta)) if kind is TextDelta else None
        rows.append((n, took, baseline))
    print(f"\n{kind.__name__}: deltas, fold time, µs/event, `+=` time (same run)")
    for n, took, baseline in rows:
        old = f"{baseline:.2f} s" if baseline is not None else "-"
        print(f"  {n:>7}  {took:6.3f} s  {took / n * 1e6:5.2f} µs  {old}")
    (n1, t1, _), (_, _, _), (n3, t3, _) = rows
    print(f"  200k/50k time ratio: {t3 / t1:.1f} (linear: {n3 / n1:.0f})")
    # Linear: 4x the deltas, about 4x the time; quadratic would be 16x.
    assert t3 / t1 < 8, rows
