"""How smoothly answers streamed, in the history: ITL p50/p99, the longest
stall and the token-arrival series stored with each answer (migration m007),
restored when a conversation is reopened, and summed up per model by
`Store.stats` (ITL p50, stall p90, the TTFT and tokens/s distributions).
Real SQLite files in tmp_path, as tests/test_store.py."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.test_itl import metered
from tests.test_store import answer
from tokentide.client.meter import Arrivals, Metrics
from tokentide.tui.chat_history import tree_of
from tokentide.tui.store import (
    MIGRATIONS,
    AnswerRecord,
    Bucket,
    Store,
    histogram,
    m007_inter_token_latency,
    migrate,
)


def streamed(gaps: list[float], ttft: float = 0.3) -> Metrics:
    """A real meter's metrics for tokens arriving `gaps` seconds apart."""
    return metered(gaps, ttft=ttft).snapshot()


def record(metrics: Metrics, **more: object) -> AnswerRecord:
    return AnswerRecord(
        text="streamed",
        outcome="finished",
        finish_reason="stop",
        tokens_received=metrics.tokens_received,
        ttft_ms=metrics.ttft_ms,
        tokens_per_s=metrics.tokens_per_s,
        itl_p50_ms=metrics.itl_p50_ms,
        itl_p99_ms=metrics.itl_p99_ms,
        longest_stall_ms=metrics.longest_stall_ms,
        arrivals=metrics.arrivals.to_dict() if metrics.arrivals else None,
        **more,  # type: ignore[arg-type]
    )


def test_an_answers_itl_stall_and_arrivals_round_trip_and_come_back_reopened(store):
    metrics = streamed([0.02] * 30 + [0.5] + [0.02] * 30)
    assert metrics.itl_p50_ms == pytest.approx(20) and metrics.longest_stall_ms == pytest.approx(
        500
    )
    chat = store.new_conversation()
    store.add_user(chat, "q")
    answer_id = store.start_answer(
        chat,
        provider="demo",
        wire="openai",
        model="demo",
        host=None,
        params=None,
        expected_tokens=None,
        expected_method=None,
    )
    store.finish_answer(answer_id, record(metrics))

    _, row = store.messages(chat)
    assert (row.itl_p50_ms, row.itl_p99_ms, row.longest_stall_ms) == (
        pytest.approx(metrics.itl_p50_ms),
        pytest.approx(metrics.itl_p99_ms),
        pytest.approx(metrics.longest_stall_ms),
    )
    assert row.arrivals == metrics.arrivals.to_dict()
    exported = store.export_json(chat)["messages"][1]
    assert exported["longest_stall_ms"] == pytest.approx(500)
    assert exported["arrivals"]["counts"] == list(metrics.arrivals.counts)
    json.dumps(exported)

    (reopened,) = tree_of(store.messages(chat)).path()
    again = reopened.metrics
    assert again is not None
    assert (again.itl_p50_ms, again.itl_p99_ms, again.longest_stall_ms) == (
        row.itl_p50_ms,
        row.itl_p99_ms,
        row.longest_stall_ms,
    )
    assert again.arrivals == Arrivals.from_dict(metrics.arrivals.to_dict())
    assert again.arrivals.counts == metrics.arrivals.counts
    assert again.arrivals.stall_at_s == pytest.approx(0.6, abs=1e-6)  # 30 tokens of 20 ms


@pytest.mark.parametrize(
    "cell", ["not json", '["a", "list"]', '{"counts": "x", "bucket_ms": 50}', '{"counts": [-1]}']
)
def test_a_damaged_arrival_series_leaves_the_answer_readable(store, path, cell):
    chat = store.new_conversation()
    store.add_user(chat, "q")
    answer(store, chat, itl_p50_ms=12.5)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE messages SET arrivals = ? WHERE role = 'assistant'", (cell,))
    db.close()
    (reopened,) = tree_of(store.messages(chat)).path()
    assert reopened.metrics is not None and reopened.metrics.arrivals is None
    assert reopened.metrics.itl_p50_ms == 12.5
    assert reopened.turn.message.text == "an answer"


def test_a_history_from_before_itl_opens_with_its_answers_unmeasured(tmp_path, path):
    """A file written by the previous schema (m001-m006): m007 runs on open,
    the old answers have NULLs and still load, count and reopen."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    before = MIGRATIONS.index(m007_inter_token_latency)
    migrate(db, MIGRATIONS[:before])
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES (4, 'old', '2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:00.000+00:00')"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, created_at, text) "
        "VALUES (1, 4, 'user', '2026-01-01T00:00:00.000+00:00', 'old question')"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, outcome, created_at, model, text, "
        "ttft_ms, tokens_per_s, tokens_received, parent_id) VALUES (2, 4, 'assistant', "
        "'finished', '2026-01-01T00:00:01.000+00:00', 'old-model', 'old answer', 410, 55, 9, 1)"
    )
    columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    assert "itl_p50_ms" not in columns
    db.close()

    with Store.open(path) as store:
        _, old = store.messages(4)
        assert (old.itl_p50_ms, old.itl_p99_ms, old.longest_stall_ms, old.arrivals) == (
            None,
            None,
            None,
            None,
        )
        (reopened,) = tree_of(store.messages(4)).path()
        assert reopened.metrics.ttft_ms == 410 and reopened.metrics.itl_p50_ms is None
        assert reopened.metrics.arrivals is None
        (stats,) = store.stats()
        assert (stats.itl_ms_p50, stats.longest_stall_ms_p90) == (None, None)
        assert stats.ttft_ms_histogram == [Bucket(410, 410, 1)]
        store.add_user(4, "and now?")  # the file is writable with the new columns
        answer(store, 4, model="old-model", itl_p50_ms=15.0)
        assert store.stats()[0].itl_ms_p50 == 15.0
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    db.close()
    assert names[-2:] == ["m007_inter_token_latency", "m008_stats_index"]


def test_stats_give_itl_p50_stall_p90_and_the_distributions(store):
    chat = store.new_conversation()
    for i in range(10):
        answer(
            store,
            chat,
            model="a",
            ttft_ms=300.0 + 100 * i,  # 300 … 1200
            tokens_per_s=40.0 + i,
            itl_p50_ms=10.0 + i,
            longest_stall_ms=100.0 * (i + 1),
        )
    answer(store, chat, model="a", outcome="failed", finish_reason=None, tokens=0)  # no figures
    (a,) = store.stats()
    assert a.itl_ms_p50 == pytest.approx(14.5)
    assert a.longest_stall_ms_p90 == pytest.approx(910)
    assert sum(b.count for b in a.ttft_ms_histogram) == 10  # the failed answer has no TTFT
    assert [(b.low, b.high) for b in a.ttft_ms_histogram] == [
        (200, 400),
        (400, 600),
        (600, 800),
        (800, 1000),
        (1000, 1200),  # holds 1200 too: the last range is closed
    ]
    assert [b.count for b in a.ttft_ms_histogram] == [1, 2, 2, 2, 3]
    assert sum(b.count for b in a.tokens_per_s_histogram) == 10
    assert len(a.tokens_per_s_histogram) <= 8


def test_histogram_ranges_are_round_and_fold_a_long_tail():
    assert histogram([]) == [] and histogram([None]) == []
    assert histogram([7.0, 7.0]) == [Bucket(7.0, 7.0, 2)]
    spread = histogram(range(300, 2001, 50))
    assert [(b.low, b.high) for b in spread] == [
        (250 * k, 250 * (k + 1)) for k in range(1, 8)
    ]  # 250 ms steps, the last one ends at 2000 and holds it
    assert sum(b.count for b in spread) == 35 and not any(b.open_ended for b in spread)
    # A 30 s TTFT among twenty near 400 ms: its own open-ended bar, the rest readable.
    tail = histogram([300 + 10 * i for i in range(20)] + [30_000])
    assert tail[-1] == Bucket(500, 30_000, 1, open_ended=True)
    assert [b.count for b in tail[:-1]] == [5, 5, 5, 5]
    assert len(tail) <= 8
    # Fewer than ten values: no folding, every bar a plain range.
    assert not any(b.open_ended for b in histogram([300] * 5 + [30_000]))


def test_stats_read_one_covering_index_not_the_rows(store):
    """m007's columns come after the answer's text, reached through its
    overflow pages: stats read them from m008's index instead."""
    chat = store.new_conversation()
    answer(store, chat, "x" * 50_000, ttft_ms=300.0, itl_p50_ms=12.0, longest_stall_ms=80.0)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        (stats,) = store.stats()
    finally:
        store._db.set_trace_callback(None)
    assert (stats.itl_ms_p50, stats.longest_stall_ms_p90) == (12.0, 80.0)
    (query,) = [s for s in statements if "FROM messages" in s]
    plan = " ".join(row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + query))
    assert "COVERING INDEX messages_stats" in plan
