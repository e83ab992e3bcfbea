"""`tokentide history …` and `tokentide stats`: the history, read from the shell.

Every command opens the same SQLite file the app and `ask` write (its path:
`TOKENTIDE_HISTORY`, or `history.db` in the user data directory), prints to
stdout (tables for people, `--json` for programs) and says what went wrong
in one line on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tokentide.client.config import Price, Settings

from .exit_codes import ExitCode
from .format import count
from .report import error_line
from .safe_text import one_line, terminal_json, terminal_safe
from .store import HISTORY_ERRORS, ModelStats, NotFound, Store


class Failed(Exception):
    """Already reported on stderr; the command exits with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextmanager
def opened() -> Iterator[Store]:
    try:
        store = Store.open()
    except HISTORY_ERRORS as exc:
        error_line(str(exc))
        raise Failed(ExitCode.ERROR) from None
    try:
        yield store
    except NotFound as exc:
        error_line(f"{exc} — `tokentide history list` shows the ids")
        raise Failed(ExitCode.USAGE) from None
    finally:
        store.close()


def _print(text: str, *, is_json: bool = False) -> None:
    """To stdout; a terminal gets stored text (a model's escape sequences, bidi
    overrides) with its controls shown as escapes - JSON with `\\u` escapes, so
    it still parses to the same value - and a pipe or file the exact text."""
    if sys.stdout.isatty():
        text = terminal_json(text) if is_json else terminal_safe(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _json(value: Any) -> None:
    _print(json.dumps(value, ensure_ascii=False, indent=2, default=str), is_json=True)


def _clean(text: str) -> str:
    """One line of stored text for a table: controls shown, whitespace collapsed."""
    return one_line(text)


def _local_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp[:16]


def list_conversations(limit: int, as_json: bool) -> None:
    with opened() as store:
        rows = store.conversations(limit=limit)
    if as_json:
        _json([asdict(row) for row in rows])
        return
    if not rows:
        _print("no conversations yet")
        return
    for row in rows:
        title = _clean(row.title or "(untitled)")
        model = row.model or "-"
        _print(
            f"{row.id:>5}  {_local_time(row.updated_at)}  {model:<20.20}  "
            f"{count(row.message_count, 'message'):>12}  {title}"
        )


def show(conversation_id: int, fmt: str) -> None:
    with opened() as store:
        if fmt == "json":
            _json(store.export_json(conversation_id))
        else:
            _print(store.export_markdown(conversation_id))


def export(conversation_id: int, fmt: str, output: Path | None) -> None:
    from .export import stored_text

    with opened() as store:
        text = stored_text(store, conversation_id, "json" if fmt == "json" else "markdown")
    if output is None:
        _print(text, is_json=fmt == "json")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        error_line(f"cannot write {output}: {exc.strerror or exc}")
        raise Failed(ExitCode.ERROR) from None
    print(f"tokentide: wrote {output}", file=sys.stderr)


def search(text: str, limit: int, as_json: bool) -> None:
    with opened() as store:
        hits = store.search(text, limit=limit)
    if as_json:
        _json([asdict(hit) for hit in hits])
        return
    if not hits:
        _print(f"nothing matches {text!r}")
        return
    for hit in hits:
        what = hit.role if hit.role == "user" else f"answer, {hit.outcome}"
        title = _clean(hit.title or "(untitled)")
        _print(f"{hit.conversation_id:>5}  {title[:40]:<40}  {what:<20}  {_clean(hit.snippet)}")


def delete(conversation_id: int, yes: bool) -> None:
    with opened() as store:
        head = store.conversation(conversation_id)
        if head is None:
            raise NotFound(f"there is no conversation {conversation_id}", store.path)
        title = _clean(head.title or "(untitled)")
        if not yes:
            if not sys.stdin or not sys.stdin.isatty():
                error_line(f"delete conversation {conversation_id}? Pass --yes to confirm")
                raise Failed(ExitCode.USAGE)
            answer = input(f"Delete conversation {conversation_id} ({title})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("tokentide: kept", file=sys.stderr)
                return
        store.delete(conversation_id)
    print(f"tokentide: deleted conversation {conversation_id} ({title})", file=sys.stderr)


def figures(
    store: Store,
    prices: Mapping[str, Price],
    *,
    model: str | None = None,
    since_days: float | None = None,
) -> list[ModelStats]:
    """Per model, with every ended answer priced first: what `tokentide stats`
    prints and the app's Stats screen shows."""
    from .prices import price_answers

    price_answers(store, prices)
    return store.stats(model=model, since_days=since_days)


def stats(settings: Settings, model: str | None, since: float | None, as_json: bool) -> None:
    with opened() as store:
        rows = figures(store, settings.prices, model=model, since_days=since)
    if as_json:
        _json({"models": [_stats_json(row) for row in rows], "totals": totals(rows)})
        return
    if not rows:
        _print("no answers yet")
        return
    for row in rows:
        _print(_stats_line(row))
    if sys.stdout.isatty():
        _charts(rows)


def _charts(rows: list[ModelStats]) -> None:
    """On a terminal, under the lines: per model, its TTFT and tokens/s
    distributions as two bar charts side by side (stacked when the terminal
    is narrow). A pipe gets the lines only; `--json` has the buckets."""
    from rich.columns import Columns
    from rich.console import Console

    from .charts import bar_rows, ms_range, rate_range, rich_chart

    console = Console(highlight=False)
    for row in rows:
        charts = []
        name = _clean(row.model or "?")
        if row.ttft_ms_histogram:
            bars = bar_rows(row.ttft_ms_histogram, ms_range)
            charts.append(rich_chart(f"{name} · TTFT", bars))
        if row.tokens_per_s_histogram:
            bars = bar_rows(row.tokens_per_s_histogram, rate_range)
            charts.append(rich_chart(f"{name} · tokens/s", bars))
        if charts:
            console.print()
            console.print(Columns(charts, padding=(0, 4)))


def _stats_json(row: ModelStats) -> dict[str, Any]:
    return asdict(row)


def totals(rows: list[ModelStats]) -> dict[str, Any]:
    """Sums over every model (None where no model has the figure, such as a cost)."""

    def total(name: str) -> Any:
        values = [getattr(row, name) for row in rows if getattr(row, name) is not None]
        return sum(values) if values else None

    return {
        name: total(name)
        for name in (
            "answers",
            "stopped",
            "tokens_received",
            "tokens_saved",
            "cost_usd",
            "cost_saved_usd",
        )
    }


def _stats_line(row: ModelStats) -> str:
    from .prices import usd

    parts = [
        count(row.answers, "answer"),
        f"{row.stopped} stopped",
        f"{count(row.tokens_received or 0)} received",
    ]
    if row.tokens_saved:
        parts.append(f"~{row.tokens_saved} saved")
    if row.cost_usd is not None:
        parts.append(f"cost {usd(row.cost_usd)}")
    if row.cost_saved_usd:
        parts.append(f"~{usd(row.cost_saved_usd)} not spent (estimate)")
    if row.ttft_ms_p50 is not None:
        parts.append(f"TTFT p50 {row.ttft_ms_p50:.0f} ms, p90 {row.ttft_ms_p90:.0f} ms")
    if row.tokens_per_s_p50 is not None:
        parts.append(f"{row.tokens_per_s_p50:.1f} tok/s p50")
    if row.itl_ms_p50 is not None:
        parts.append(f"ITL p50 {row.itl_ms_p50:.1f} ms")
    if row.longest_stall_ms_p90 is not None:
        parts.append(f"longest stall p90 {row.longest_stall_ms_p90:.0f} ms")
    return f"{row.model or '?'}: " + " · ".join(parts)
