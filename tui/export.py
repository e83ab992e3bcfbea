"""A conversation written to a file: the app's Export commands and
`tokentide history export` share the text, so a file made either way is the
same.

A conversation in the history is exported from the history (every column,
as stored). One that is not there - history off, or a file that could not be
written - is exported from the turns on screen, in the same shape, with what
the app knows about each answer.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Literal

from tokentide.client.meter import Metrics

# The one Markdown rendering of a message, the history export's own.
from .store import MessageRow, Store, _markdown_message, title_from
from .turn import Exchange

Format = Literal["markdown", "json"]

SUFFIX: dict[Format, str] = {"markdown": ".md", "json": ".json"}

NOT_SAVED = "tokentide conversation · not in the history"
"""The Markdown header's second line for a conversation exported from the screen."""


def stored_text(store: Store, conversation_id: int, fmt: Format) -> str:
    """A conversation of the history as a file's text (ends with a newline)."""
    if fmt == "json":
        text = json.dumps(store.export_json(conversation_id), ensure_ascii=False, indent=2)
    else:
        text = store.export_markdown(conversation_id)
    return text if text.endswith("\n") else text + "\n"


def unsaved_text(turns: Sequence[Exchange], fmt: Format) -> str:
    """The conversation on screen, in the history export's shape: the same
    Markdown per message, the same JSON keys (ids and times unknown: null)."""
    rows = [row for turn in turns for row in _rows(turn)]
    title = title_from(turns[0].prompt.text) if turns else None
    if fmt == "json":
        document = {
            "format": "tokentide-conversation",
            "version": 1,
            "conversation": {
                "id": None,
                "title": title,
                "created_at": None,
                "updated_at": None,
                "model": next((r.model for r in reversed(rows) if r.role == "assistant"), None),
                "message_count": len(rows),
            },
            "messages": [asdict(row) for row in rows],
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    parts = [f"# {title or 'Untitled conversation'}", NOT_SAVED]
    parts += [_markdown_message(row) for row in rows]
    return "\n\n".join(parts) + "\n"


def _rows(turn: Exchange) -> list[MessageRow]:
    """A turn as the history would store it: the prompt, then the answer (if
    it started: a turn stopped before it was sent has none)."""
    rows = [_row(role="user", text=turn.prompt.text)]
    message = turn.message
    measured = getattr(turn, "metrics", None)  # a live Turn's; a reopened one has none
    metrics: Metrics | None = measured() if callable(measured) else None
    request = getattr(turn, "request", None)
    saved = metrics.tokens_saved if metrics is not None else None
    rows.append(
        _row(
            role="assistant",
            outcome=turn.outcome.value if turn.outcome is not None else "streaming",
            model=message.model or getattr(request, "model", None),
            finish_reason=message.finish_reason,
            tokens_received=metrics.tokens_received if metrics is not None else None,
            tokens_counted_by_server=not metrics.estimated if metrics is not None else None,
            input_tokens=message.usage.input_tokens if message.usage else None,
            tokens_saved=saved.tokens if saved else None,
            saved_method=saved.expected.describe() if saved else None,
            ttft_ms=metrics.ttft_ms if metrics is not None else None,
            tokens_per_s=metrics.tokens_per_s if metrics is not None else None,
            total_ms=metrics.total_ms if metrics is not None else None,
            itl_p50_ms=metrics.itl_p50_ms if metrics is not None else None,
            itl_p99_ms=metrics.itl_p99_ms if metrics is not None else None,
            longest_stall_ms=metrics.longest_stall_ms if metrics is not None else None,
            arrivals=metrics.arrivals.to_dict() if metrics and metrics.arrivals else None,
            error=message.error,
            tool_calls=[call.to_dict() for call in message.tool_calls],
            reasoning=message.reasoning,
            text=message.text,
        )
    )
    return rows


def _row(**values: Any) -> MessageRow:
    """A MessageRow with every column not given unknown (None)."""
    empty: dict[str, Any] = {f.name: None for f in fields(MessageRow)}
    empty.update(tool_calls=[], reasoning="", text="")
    return MessageRow(**(empty | values))


def file_stem(title: str | None, conversation_id: int | None) -> str:
    """`tokentide-12-how-do-i-stream`: the history's id (if any) and the
    title's words, lower case, safe in any file system and shell."""
    words = re.sub(r"[^a-z0-9]+", "-", (title or "").lower()).strip("-")[:40].strip("-")
    parts = ["tokentide", str(conversation_id) if conversation_id is not None else "", words]
    return "-".join(part for part in parts if part) or "tokentide"


def write_new(directory: Path, stem: str, suffix: str, text: str) -> Path:
    """Write `text` to `directory/stem+suffix`, or `stem-2`, `stem-3`… if that
    name is taken: an export never replaces a file (an earlier export, or
    anything else of the user's)."""
    number = 1
    while True:
        path = directory / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
        try:
            with path.open("x", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except FileExistsError:
            number += 1
            continue
        return path


def export_directories() -> list[Path]:
    """Where an export goes: the directory the app was started in, else (it is
    gone, or not writable) the data directory's exports/ (made)."""
    from platformdirs import user_data_dir

    places: list[Path] = []
    with contextlib.suppress(OSError):  # the directory was deleted after the app started
        places.append(Path.cwd())
    places.append(Path(user_data_dir("tokentide", appauthor=False)) / "exports")
    return places


def write_export(stem: str, suffix: str, text: str) -> Path:
    """The file written, in the first of `export_directories` that takes it;
    the last OSError if none does."""
    error: OSError | None = None
    for directory in export_directories():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return write_new(directory, stem, suffix, text)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error
