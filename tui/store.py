"""The history: conversations and answers in one SQLite file, safe across crashes.

Shared by the app, `tokentide ask` and the `history`/`stats` commands, so it
imports only the standard library (`ask` must start fast) and holds every
line of SQL in the project:

    with Store.open() as store:                  # $TOKENTIDE_HISTORY or the data dir
        chat = store.new_conversation()
        store.add_user(chat, "hello")            # committed before the request is sent
        answer = store.start_answer(chat, provider="openai", wire="chat", model="m",
                                    host="api.openai.com", params={}, expected_tokens=None,
                                    expected_method=None)
        store.checkpoint(answer, text="Hel", reasoning="", tool_calls=[])   # ≤ 4×/s
        store.finish_answer(answer, AnswerRecord(outcome="finished", text="Hello"))

Crash safety: a streaming answer is a row with outcome 'streaming' and the
writer's pid; each checkpoint is one short transaction, so `kill -9` loses at
most the text since the last one. The next `Store.open` marks rows whose
writer is gone as 'interrupted' (rows of a live writer, another window still
streaming, are left alone).

Concurrency: WAL, a 5 s busy timeout and `BEGIN IMMEDIATE` for every write
(a deferred transaction that reads then writes can fail at once with
"database is locked" instead of waiting), each write one short transaction.

Bad files: a file that is not SQLite, or SQLite written by another program,
is refused with a `StoreError` before anything is written to it; a directory
that cannot be written is a `StoreError` too, and the caller chats without
history.

Search: an FTS5 index over messages' text and reasoning, kept by triggers;
user text is quoted so it can never be a query syntax error. Where FTS5 is
missing, search falls back to LIKE.

Timestamps: UTC ISO-8601 strings with milliseconds (`utc_iso`), everywhere.

Schema changes: append a migration function to `MIGRATIONS`; never edit one
that has shipped. Applied names are recorded in `_migrations`.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

HISTORY_ENV = "TOKENTIDE_HISTORY"
"""Environment variable naming the history file (tests, several histories)."""

APPLICATION_ID = int.from_bytes(b"tktd", "big")
"""Written into the SQLite header (`PRAGMA application_id`): how a file is known as ours."""

BUSY_TIMEOUT_MS = 5000
TITLE_LENGTH = 60
EXPECTED_WINDOW = 50
"""expected_tokens: how many recent answers of a model feed the median ..."""
EXPECTED_MINIMUM = 5
"""... and how many it needs before the median is trusted."""
SNIPPET_IN_SQL_UP_TO = 20_000
"""Characters of a message up to which search asks FTS5 for the snippet; longer ones
get a cheaper one from Python (FTS5's grows with the square of the hits)."""

OUTCOMES = ("streaming", "finished", "stopped", "failed", "interrupted")
ENDINGS = OUTCOMES[1:]
"""Outcomes `finish_answer` accepts."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SECRET_PARAMS = frozenset(
    {"api_key", "apikey", "key", "authorization", "headers", "extra_headers", "password"}
    | {"secret", "token", "access_token"}
)
"""Request parameters never stored, whatever a caller passes: the history is not a keyring."""


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """The history cannot be used; `str()` is one line naming the file and the fix."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


HISTORY_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error, OSError, UnicodeError)
"""What a caller that must go on without history (the app, `ask`) catches."""


class NotFound(StoreError):
    """A conversation that is not (or no longer) there, e.g. deleted in another window."""


def _not_ours(path: Path, why: str) -> StoreError:
    return StoreError(
        f"{path} is not a tokentide history database ({why}) — move it away; "
        "tokentide never overwrites it",
        path,
    )


def _cannot_write(path: Path, why: str) -> StoreError:
    return StoreError(
        f"cannot write the history at {path}: {why} — check the directory's permissions and "
        f"free space, or set {HISTORY_ENV} to another file; chatting works without history",
        path,
    )


def _newer(path: Path, names: Sequence[str]) -> StoreError:
    return StoreError(
        f"{path} was written by a newer tokentide (schema {', '.join(names)}) — upgrade "
        f"tokentide, or set {HISTORY_ENV} to another file",
        path,
    )


def _explain(path: Path, exc: sqlite3.Error) -> StoreError:
    """One line for an SQLite error, by its result code (Python ≥ 3.11 names it)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return _not_ours(path, str(exc))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            f"the history at {path} stayed locked by another process for "
            f"{BUSY_TIMEOUT_MS // 1000} s ({exc}) — try again; chatting works without history",
            path,
        )
    return _cannot_write(path, str(exc))


# --------------------------------------------------------------------------- rows


class Last:
    """The default parent of a new message: the conversation's last one (what
    `ask` and every caller that does not branch wants)."""


LAST = Last()


@dataclass(frozen=True)
class ConversationRow:
    id: int
    title: str | None
    created_at: str
    updated_at: str
    model: str | None
    """Model of the conversation's last answer (None before the first one)."""
    message_count: int


@dataclass(frozen=True)
class ConversationChoice:
    """What a conversation was last set to talk to, and with which system prompt."""

    provider: str | None = None
    model: str | None = None
    """Both None: no model was chosen for it."""
    prompt_name: str | None = None
    """A preset's name, 'default', 'edited' or 'none'; None: never chosen."""
    system_prompt: str | None = None
    """The text sent as the system message (None: no system message)."""


@dataclass(frozen=True)
class MessageRow:
    """Every column of a message; a user row has only id … created_at and text."""

    id: int
    conversation_id: int
    role: str
    outcome: str | None
    created_at: str
    provider: str | None
    wire: str | None
    model: str | None
    host: str | None
    params: dict[str, Any] | None
    finish_reason: str | None
    tokens_received: int | None
    tokens_counted_by_server: bool | None
    input_tokens: int | None
    tokens_saved: int | None
    saved_method: str | None
    expected_tokens: int | None
    expected_method: str | None
    ttft_ms: float | None
    tokens_per_s: float | None
    total_ms: float | None
    started_at: str | None
    checkpoint_at: str | None
    ended_at: str | None
    cost_usd: float | None
    cost_saved_usd: float | None
    writer_pid: int | None
    writer_started: int | None
    error: str | None
    tool_calls: list[dict[str, Any]]
    reasoning: str
    text: str
    parent_id: int | None = None
    """The message this one follows (None: a first prompt)."""
    chosen: bool = True
    """Shown and sent as context, among the messages that follow the same one."""
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None
    """Inter-token latency over the answer's streamed tokens (client/meter.py)."""
    longest_stall_ms: float | None = None
    """The longest gap between two deltas after the first token."""
    arrivals: dict[str, Any] | None = None
    """Tokens per time bucket from the first token (`Arrivals.to_dict`), for a
    sparkline; None before m007, for a non-streaming answer, or when unreadable."""


_MESSAGE_COLUMNS = tuple(f.name for f in fields(MessageRow))


@dataclass(kw_only=True)
class AnswerRecord:
    """How an answer ended: everything `finish_answer` writes in one go."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    outcome: str
    """'finished', 'stopped', 'failed' or 'interrupted' (an enum with that `.value` works too)."""
    tokens_received: int | None = None
    counted: bool | None = None
    """True when the server reported the token count, False when it was estimated."""
    input_tokens: int | None = None
    """The prompt's tokens, when the server reported them."""
    tokens_saved: int | None = None
    saved_method: str | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    total_ms: float | None = None
    ended_at: str | float | None = None
    """ISO-8601 or unix time; None means now."""
    error: str | None = None
    cost_usd: float | None = None
    cost_saved_usd: float | None = None
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None
    longest_stall_ms: float | None = None
    arrivals: dict[str, Any] | None = None
    """`Arrivals.to_dict()` of the answer's metrics (stored as JSON)."""


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    role: str
    outcome: str | None
    snippet: str
    """One line around the match, the matched words between `marks`."""
    title: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class Bucket:
    """One bar of a distribution: how many values fell in [low, high) (the
    last bucket includes `high`; `open_ended`: it holds everything from `low`
    up, a long tail folded into one bar so it does not flatten the rest)."""

    low: float
    high: float
    count: int
    open_ended: bool = False


@dataclass(frozen=True)
class ModelStats:
    model: str | None
    answers: int
    finished: int
    stopped: int
    failed: int
    interrupted: int
    streaming: int
    tokens_received: int
    tokens_saved: int
    """Sum over stopped answers: what was not generated."""
    cost_usd: float | None
    """None when no answer of the model was priced (never an invented 0)."""
    cost_saved_usd: float | None
    ttft_ms_p50: float | None
    ttft_ms_p90: float | None
    tokens_per_s_p50: float | None
    itl_ms_p50: float | None = None
    """The median of the answers' own ITL p50: how smooth a typical answer streams."""
    longest_stall_ms_p90: float | None = None
    """9 answers in 10 froze no longer than this (p90 of each answer's longest stall)."""
    ttft_ms_histogram: list[Bucket] = field(default_factory=list)
    """The answers' TTFTs in at most HISTOGRAM_BUCKETS ranges, for a bar chart."""
    tokens_per_s_histogram: list[Bucket] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def default_path() -> Path:
    """`$TOKENTIDE_HISTORY`, else `history.db` in the platform's user data directory."""
    if explicit := os.environ.get(HISTORY_ENV):
        return Path(explicit).expanduser()
    from platformdirs import user_data_dir  # only when needed: tests and users set the env

    return Path(user_data_dir("tokentide", appauthor=False)) / "history.db"


def utc_iso(when: float | None = None) -> str:
    """The one timestamp format of the history: UTC ISO-8601 with milliseconds, so
    timestamps sort as text and read well in `sqlite3` and JSON exports."""
    moment = time.time() if when is None else when
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _stamp(value: str | float | None, clock: Callable[[], float]) -> str:
    if isinstance(value, str):
        return value
    return utc_iso(clock() if value is None else value)


def title_from(prompt: str) -> str | None:
    """A conversation's title: the prompt's first non-blank line, spaces collapsed,
    at most `TITLE_LENGTH` characters (cut with an ellipsis)."""
    for line in prompt.splitlines():
        if words := line.split():
            title = " ".join(words)
            if len(title) > TITLE_LENGTH:
                title = title[: TITLE_LENGTH - 1].rstrip() + "…"
            return title
    return None


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split()) or None


def host_of(value: str | None) -> str | None:
    """`host[:port]` of a base URL; a URL's user, password, path and query (where keys
    hide, e.g. `?api-key=`) are dropped, so the history never holds a key."""
    if not value:
        return None
    if "://" not in value and not any(c in value for c in "@/?#"):
        return value
    from urllib.parse import urlsplit

    parts = urlsplit(value if "://" in value else "//" + value)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname
    return None if host is None else (f"{host}:{port}" if port else host)


def _clean_params(params: dict[str, Any] | None) -> str | None:
    if params is None:
        return None
    kept = {k: v for k, v in params.items() if str(k).lower() not in _SECRET_PARAMS}
    return json.dumps(kept, ensure_ascii=False, sort_keys=True)


def _dump_calls(tool_calls: Sequence[dict[str, Any]] | None) -> str | None:
    return json.dumps(list(tool_calls), ensure_ascii=False) if tool_calls else None


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between closest ranks (numpy's
    default); NULLs are skipped; None for no values. Kept here so `ask` need not
    import `statistics` (and its `decimal`/`fractions`)."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (pos - low)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc, or None where unknown."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    rest = data[data.rindex(b")") + 2 :].split()
    try:
        return rest[0].decode(), int(rest[19])  # fields 3 (state) and 22 (starttime)
    except (IndexError, ValueError):
        return None


def _process_start(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def writer_alive(pid: int | None, started: int | None) -> bool:
    """Whether the process that wrote a streaming row may still be writing it.

    A pid can be reused after the writer died, so where /proc tells a process's
    start time, a different start time means a different process; a zombie
    (killed, not yet reaped by its parent) is dead.
    """
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the signal check is all we know
    state, start = stat
    if state in ("Z", "X", "x"):
        return False
    return started is None or start == started


# --------------------------------------------------------------------------- migrations

Migration = Callable[[sqlite3.Connection], None]
_T = TypeVar("_T")


def m001_conversations_and_messages(db: sqlite3.Connection) -> None:
    """Conversations and their messages. Small columns come first and the long texts
    last, so scans for stats and recovery read no overflow pages."""
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            outcome TEXT CHECK (outcome IN
                ('streaming', 'finished', 'stopped', 'failed', 'interrupted')),
            created_at TEXT NOT NULL,
            provider TEXT,
            wire TEXT,
            model TEXT,
            host TEXT,
            params TEXT,
            finish_reason TEXT,
            tokens_received INTEGER,
            tokens_counted_by_server INTEGER,
            tokens_saved INTEGER,
            saved_method TEXT,
            expected_tokens INTEGER,
            expected_method TEXT,
            ttft_ms REAL,
            tokens_per_s REAL,
            total_ms REAL,
            started_at TEXT,
            checkpoint_at TEXT,
            ended_at TEXT,
            cost_usd REAL,
            cost_saved_usd REAL,
            writer_pid INTEGER,
            writer_started INTEGER,
            error TEXT,
            tool_calls TEXT,
            reasoning TEXT,
            text TEXT NOT NULL DEFAULT ''
        )"""
    )
    # Loading a conversation, and ON DELETE CASCADE (without it each delete scans).
    db.execute("CREATE INDEX messages_conversation ON messages(conversation_id, id)")


def m002_read_indexes(db: sqlite3.Connection) -> None:
    """Indexes for the list (newest first), the per-model estimate and stats, and
    crash recovery (which runs at every start, so it must not scan the table)."""
    db.execute("CREATE INDEX conversations_updated ON conversations(updated_at)")
    db.execute("CREATE INDEX messages_model ON messages(model, id) WHERE role = 'assistant'")
    db.execute("CREATE INDEX messages_streaming ON messages(id) WHERE outcome = 'streaming'")


def m003_input_tokens(db: sqlite3.Connection) -> None:
    """The prompt's size as the server counted it (what an answer's cost starts from)."""
    db.execute("ALTER TABLE messages ADD COLUMN input_tokens INTEGER")


def m004_price_source(db: sqlite3.Connection) -> None:
    """Where an answer's cost came from ('config', 'genai-prices', or 'none' when nothing
    prices the model): answers are priced after the fact, once."""
    db.execute("ALTER TABLE messages ADD COLUMN price_source TEXT")


def m005_conversation_choices(db: sqlite3.Connection) -> None:
    """The model and system prompt chosen for a conversation in the app, so that
    reopening it goes on with them. NULL: nothing chosen (older conversations,
    `ask`), and the app keeps what it has."""
    for column in ("provider", "model", "prompt_name", "system_prompt"):
        db.execute(f"ALTER TABLE conversations ADD COLUMN {column} TEXT")


def m006_branches(db: sqlite3.Connection) -> None:
    """Regenerated answers and edited prompts. A conversation is a tree: each
    message names the one it follows (`parent_id`, NULL for a first prompt),
    and among the messages that follow the same one (an answer and its
    regenerations, a prompt and its edits) `chosen` marks the one shown and
    sent as context. Conversations written before are one line: each message
    follows the one before it, and is chosen."""
    db.execute("ALTER TABLE messages ADD COLUMN parent_id INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 1")
    db.execute(
        "UPDATE messages SET parent_id = (SELECT max(p.id) FROM messages p "
        "WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)"
    )


def m007_inter_token_latency(db: sqlite3.Connection) -> None:
    """How smoothly each answer streamed: ITL p50/p99, its longest stall, and
    the token-arrival series (JSON) its sparkline is drawn from. Answers
    written before are NULL: their details show no ITL and no sparkline."""
    for column, kind in (
        ("itl_p50_ms", "REAL"),
        ("itl_p99_ms", "REAL"),
        ("longest_stall_ms", "REAL"),
        ("arrivals", "TEXT"),
    ):
        db.execute(f"ALTER TABLE messages ADD COLUMN {column} {kind}")


def m008_stats_index(db: sqlite3.Connection) -> None:
    """Every column `Store.stats` reads, in one index of the answers, so stats
    never read the rows: m007's columns come after the answer's text, and a
    column after a long text is reached only through its overflow pages (on
    5,000 answers of 20 KB, 15 ms became 43 ms; from this index, 5-11 ms)."""
    db.execute(
        "CREATE INDEX messages_stats ON messages(model, created_at, outcome, tokens_received, "
        "tokens_saved, cost_usd, cost_saved_usd, ttft_ms, tokens_per_s, itl_p50_ms, "
        "longest_stall_ms, role) WHERE role = 'assistant'"
    )


MIGRATIONS: list[Migration] = [
    m001_conversations_and_messages,
    m002_read_indexes,
    m003_input_tokens,
    m004_price_source,
    m005_conversation_choices,
    m006_branches,
    m007_inter_token_latency,
    m008_stats_index,
]


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction that takes the write lock at once (waiting up to the busy
    timeout), rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, in order, each in its own transaction;
    return the names applied now. Safe when two processes open a new file at once:
    each migration re-checks, under the write lock, that it is still to be done.

    `db` must be in autocommit mode (`isolation_level=None`): migrations run DDL
    inside our own BEGIN … COMMIT.
    """
    with _immediate(db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for migration in migrations:
        name = migration.__name__
        if name in done:
            continue
        with _immediate(db):
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue  # another process applied it meanwhile
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, utc_iso()))
        applied.append(name)
    return applied


def _check_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a path that is a directory or a file that is
    not SQLite (a short garbage file must not be mistaken for an empty database)."""
    if path.is_dir():
        raise _cannot_write(path, "it is a directory")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from None
    if head and head != _SQLITE_MAGIC:
        raise _not_ours(path, "not an SQLite file")
    if not os.access(path, os.W_OK):
        # SQLite would open it read-only and fail only at the first write.
        raise _cannot_write(path, f"{os.strerror(errno.EACCES)} (the file is read-only)")


def _check_ours(db: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """An empty database or one with our application id; and no migration we don't know."""
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise _not_ours(path, f"application id {app_id:#x}")
    if app_id == 0:
        # Not stamped as ours: only a truly empty file may become ours (another
        # program's views, indexes or user_version say it is theirs).
        others = [
            f"{kind} {name}"
            for kind, name in db.execute(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            )
            if name != "_migrations"
        ]
        if others:
            shown = ", ".join(sorted(others)[:5]) + (", …" if len(others) > 5 else "")
            raise _not_ours(path, f"it holds other things: {shown}")
        if version := db.execute("PRAGMA user_version").fetchone()[0]:
            raise _not_ours(path, f"user_version {version}")
    if "_migrations" in tables:
        known = {m.__name__ for m in migrations}
        applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
        if unknown := [name for name in applied if name not in known]:
            raise _newer(path, unknown)


# --------------------------------------------------------------------------- full-text search


_FTS_TRIGGERS = {
    "messages_fts_insert": """
        CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages
        WHEN new.outcome IS NOT 'streaming' BEGIN
            INSERT INTO messages_fts(rowid, text, reasoning)
            VALUES (new.id, new.text, new.reasoning);
        END""",
    "messages_fts_delete": """
        CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages
        WHEN old.outcome IS NOT 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, text, reasoning)
            VALUES ('delete', old.id, old.text, old.reasoning);
        END""",
    "messages_fts_update": """
        CREATE TRIGGER IF NOT EXISTS messages_fts_update
        AFTER UPDATE OF text, reasoning, outcome ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, text, reasoning)
            SELECT 'delete', old.id, old.text, old.reasoning WHERE old.outcome IS NOT 'streaming';
            INSERT INTO messages_fts(rowid, text, reasoning)
            SELECT new.id, new.text, new.reasoning WHERE new.outcome IS NOT 'streaming';
        END""",
}
"""The index holds every message except answers still streaming: a checkpoint 4×/s of
a long answer would otherwise re-tokenize all of it each time. An answer enters the
index when it ends (or is marked interrupted)."""


def fts5_available(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has FTS5 (probed in the temp schema: the file is not touched)."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        db.execute("DROP TABLE temp._fts5_probe")
    except sqlite3.OperationalError:
        return False
    return True


def _fts_objects(db: sqlite3.Connection) -> set[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE name LIKE 'messages\\_fts%' ESCAPE '\\'"
    )
    return {row[0] for row in rows}


def _index_ready(names: set[str], usable: bool) -> bool:
    if usable:
        return "messages_fts" in names and set(_FTS_TRIGGERS) <= names
    return not set(_FTS_TRIGGERS) & names


def _sync_search_index(db: sqlite3.Connection, wanted: bool) -> bool:
    """Make the FTS5 index match what this process can use; True when search uses it.

    The index is derived data, not schema: it is built (from all messages) when
    missing, and when FTS5 is unavailable (or `wanted` is False) its triggers are
    dropped so writes keep working; the next open with FTS5 rebuilds it.
    """
    usable = wanted and fts5_available(db)
    if _index_ready(_fts_objects(db), usable):
        return usable  # the usual case: no write lock taken
    with _immediate(db):
        names = _fts_objects(db)
        if _index_ready(names, usable):
            return usable  # another process did it meanwhile
        if not usable:
            for name in set(_FTS_TRIGGERS) & names:
                db.execute(f"DROP TRIGGER {name}")
            return False
        if "messages_fts" not in names:
            db.execute(
                "CREATE VIRTUAL TABLE messages_fts USING fts5("
                "text, reasoning, content='messages', content_rowid='id')"
            )
        db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
        db.execute(
            "INSERT INTO messages_fts(rowid, text, reasoning) SELECT id, text, reasoning "
            "FROM messages WHERE outcome IS NOT 'streaming'"
        )
        for sql in _FTS_TRIGGERS.values():
            db.execute(sql)
    return True


MAX_WORDS = 20
"""Words of a search used (thousands make SQLite's expression tree too large)."""


def fts_query(text: str) -> str | None:
    """User text as an FTS5 query that cannot be a syntax error: every word a quoted
    string (so `"`, `*`, `AND`, `(` are just text), all words required, the last one
    a prefix (the search box filters as you type). None when no word has a letter or
    digit (FTS5 would find nothing: LIKE looks for the characters instead)."""
    words = [w for w in text.split() if any(c.isalnum() for c in w)][:MAX_WORDS]
    if not words:
        return None
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Match(NamedTuple):
    """Which messages `m` match a query: an SQL condition and its arguments."""

    condition: str
    args: list[Any]
    terms: list[str]
    full_text: bool


def _fts_match(query: str) -> _Match | None:
    match = fts_query(query)
    if match is None:
        return None
    condition = "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
    return _Match(condition, [match], query.split(), full_text=True)


def _like_match(query: str) -> _Match:
    """Text or reasoning contains every word (case-insensitive for ASCII only)."""
    terms = query.split()[:MAX_WORDS]
    clause = "(m.text LIKE ? ESCAPE '\\' OR m.reasoning LIKE ? ESCAPE '\\')"
    args = [pattern for term in terms for pattern in [_like_pattern(term)] * 2]
    # Like the index: an answer still being written is not searched yet.
    condition = " AND ".join([clause] * len(terms) + ["m.outcome IS NOT 'streaming'"])
    return _Match(condition, args, terms, full_text=False)


def _snippet(
    text: str,
    terms: Sequence[str],
    marks: tuple[str, str],
    *,
    whole_words: bool = False,
    width: int = 40,
) -> str:
    """One line of `text` around the earliest term, the term between `marks`."""
    lower = text.lower()
    found = [(lower.find(t.lower()), t) for t in terms]
    found = [(i, t) for i, t in found if i >= 0]
    if not found:
        return _one_line(text[: 2 * width]) or ""
    at, term = min(found)
    end = at + len(term)
    if whole_words:
        while at > 0 and text[at - 1].isalnum():
            at -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
    start, stop = max(0, at - width), min(len(text), end + width)
    snippet = (
        ("…" if start else "")
        + text[start:at]
        + marks[0]
        + text[at:end]
        + marks[1]
        + text[end:stop]
        + ("…" if stop < len(text) else "")
    )
    return " ".join(snippet.split())


# --------------------------------------------------------------------------- the store


_CONVERSATION_SELECT = """
    SELECT c.id, c.title, c.created_at, c.updated_at,
        (SELECT m.model FROM messages m
         WHERE m.conversation_id = c.id AND m.role = 'assistant'
         ORDER BY m.id DESC LIMIT 1),
        (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
    FROM conversations c"""


class Store:
    """The history file, open. Thread-safe (one lock around each call), so the app may
    checkpoint from a worker thread; each process opens its own `Store`."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        """Use `Store.open`; this only wraps an open connection."""
        self._db = db
        self.path = path
        self._lock = threading.RLock()
        self._fts = False
        self.clock: Callable[[], float] = time.time
        """Unix time for new timestamps; tests may replace it."""
        self.recovered: list[int] = []
        """Answers this open marked 'interrupted' (their writer had died mid-stream)."""

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        fts: bool = True,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Store:
        """Open (creating directories and file) and migrate the history; interrupt the
        answers of writers that died. `fts=False` behaves as an SQLite without FTS5
        (search by LIKE); `migrations` is for tests of older schema versions."""
        path = Path(path) if path is not None else default_path()
        _check_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_write(path, exc.strerror or str(exc)) from None
        try:
            db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        store = cls(db, path)
        try:
            store._setup(fts, migrations)
        except BaseException:
            db.close()
            raise
        return store

    def _setup(self, fts: bool, migrations: Sequence[Migration]) -> None:
        db = self._db
        with self._errors():
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            _check_ours(db, self.path, migrations)  # reads only: nothing written before it
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            # After a 10 MB answer the log would otherwise stay at 20 MB on disk.
            db.execute("PRAGMA journal_size_limit = 4194304")
            migrate(db, migrations)
            self._fts = _sync_search_index(db, fts)
            self.recovered = self._recover()

    def _recover(self) -> list[int]:
        """Mark 'interrupted' the streaming answers whose writer is gone; their text is
        what the last checkpoint saved."""
        rows = self._db.execute(
            "SELECT id, writer_pid, writer_started FROM messages WHERE outcome = 'streaming'"
        ).fetchall()
        dead = [(row_id, pid) for row_id, pid, started in rows if not writer_alive(pid, started)]
        if not dead:
            return []
        interrupted = []
        with _immediate(self._db) as db:
            for row_id, pid in dead:
                cursor = db.execute(
                    "UPDATE messages SET outcome = 'interrupted', "
                    "ended_at = coalesce(checkpoint_at, started_at, created_at), "
                    "error = coalesce(error, ?) WHERE id = ? AND outcome = 'streaming'",
                    (f"tokentide (pid {pid}) ended while the answer streamed", row_id),
                )
                if cursor.rowcount:  # not already done by another process opening now
                    interrupted.append(row_id)
        return interrupted

    def close(self) -> None:
        """Close the file; `PRAGMA optimize` first (as SQLite advises), but never wait
        for another writer to do it: quitting must not hang."""
        with self._lock:
            with suppress(sqlite3.Error):
                self._db.execute("PRAGMA busy_timeout = 0")
                self._db.execute("PRAGMA optimize")
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def full_text(self) -> bool:
        """True when search uses FTS5, False when it falls back to LIKE."""
        return self._fts

    # ----------------------------------------------------------------- plumbing

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's operational errors (full disk, read-only file, corrupt page, a lock
        held too long) as one-line `StoreError`s; programming errors stay as they are."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise _explain(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            if type(exc) is sqlite3.DatabaseError:  # NOTADB, CORRUPT
                raise _explain(self.path, exc) from None
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(), _immediate(self._db) as db:
            yield db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db

    def _now(self) -> str:
        return utc_iso(self.clock())

    # ----------------------------------------------------------------- writes

    def new_conversation(self, title: str | None = None) -> int:
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (_one_line(title), now, now),
            )
        return _rowid(cursor)

    def add_user(
        self, conversation_id: int, text: str, *, parent_id: int | Last | None = LAST
    ) -> int:
        """Record a prompt (call it before sending the request: a crash must not lose
        it); the first prompt titles an untitled conversation. It follows
        `parent_id` (None: it is a first prompt; by default the conversation's
        last message) and becomes the chosen one of the messages following it."""
        now = self._now()
        with self._write() as db:
            self._touch(db, conversation_id, now, title=title_from(text))
            parent = self._parent(db, conversation_id, parent_id)
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, created_at, text, parent_id) "
                "VALUES (?, 'user', ?, ?, ?)",
                (conversation_id, now, text, parent),
            )
            self._chosen(db, conversation_id, parent, _rowid(cursor))
        return _rowid(cursor)

    @staticmethod
    def _parent(
        db: sqlite3.Connection, conversation_id: int, given: int | Last | None
    ) -> int | None:
        if not isinstance(given, Last):
            return given
        row = db.execute(
            "SELECT max(id) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _chosen(db: sqlite3.Connection, conversation_id: int, parent: int | None, row: int) -> None:
        """`row` is the one chosen among the messages following `parent`."""
        db.execute(
            "UPDATE messages SET chosen = (id = ?) WHERE conversation_id = ? AND parent_id IS ?",
            (row, conversation_id, parent),
        )

    def choose(self, message_id: int) -> None:
        """Show (and send as context) this alternative rather than the others
        following the same message. A deleted message is ignored."""
        with self._write() as db:
            row = db.execute(
                "SELECT conversation_id, parent_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is not None:
                self._chosen(db, row[0], row[1], message_id)

    def start_answer(
        self,
        conversation_id: int,
        *,
        provider: str | None,
        wire: str | None,
        model: str | None,
        host: str | None,
        params: dict[str, Any] | None,
        expected_tokens: int | None,
        expected_method: str | None,
        started_at: str | float | None = None,
        parent_id: int | Last | None = LAST,
    ) -> int:
        """Create a streaming answer owned by this process (its pid and start time, so
        a later open can tell a crash from another window still streaming).
        `started_at` is when the request was sent, if earlier than now. It
        answers `parent_id` (by default the conversation's last message) and
        becomes the chosen one of its answers: a regenerated answer is another
        answer to the same prompt."""
        now = self._now()
        pid = os.getpid()
        with self._write() as db:
            self._touch(db, conversation_id, now)
            parent = self._parent(db, conversation_id, parent_id)
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, outcome, created_at, provider, "
                "wire, model, host, params, expected_tokens, expected_method, started_at, "
                "checkpoint_at, writer_pid, writer_started, reasoning, text, parent_id) "
                "VALUES (?, 'assistant', 'streaming', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', "
                "?)",
                (
                    conversation_id,
                    now,
                    provider,
                    wire,
                    model,
                    host_of(host),
                    _clean_params(params),
                    expected_tokens,
                    expected_method,
                    _stamp(started_at, self.clock),
                    now,
                    pid,
                    _process_start(pid),
                    parent,
                ),
            )
            self._chosen(db, conversation_id, parent, _rowid(cursor))
        return _rowid(cursor)

    def checkpoint(
        self,
        answer_id: int,
        *,
        text: str,
        reasoning: str = "",
        tool_calls: Sequence[dict[str, Any]] = (),
        tokens_received: int | None = None,
    ) -> None:
        """Save a streaming answer so far: one UPDATE of one row. An answer that has
        already ended (a late checkpoint) or was deleted is left as it is."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET text = ?, reasoning = ?, tool_calls = ?, "
                "tokens_received = coalesce(?, tokens_received), checkpoint_at = ? "
                "WHERE id = ? AND outcome = 'streaming'",
                (text, reasoning, _dump_calls(tool_calls), tokens_received, self._now(), answer_id),
            )

    def finish_answer(self, answer_id: int, record: AnswerRecord) -> None:
        """Write how the answer ended, in one transaction. A deleted answer is ignored."""
        values = _ending(record, self.clock)
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._write() as db:
            db.execute(
                f"UPDATE messages SET {assignments} WHERE id = ? AND role = 'assistant'",
                [*values.values(), answer_id],
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? "
                "WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (self._now(), answer_id),
            )

    def unpriced(self, priced_models: Sequence[str] = ()) -> list[MessageRow]:
        """Ended answers not priced yet (pricing loads a price table: it is done
        after the fact, by whoever next needs a cost, and only once an answer),
        and those nothing priced before whose model now has a price of its own."""
        marks = ", ".join("?" * len(priced_models))
        again = f" OR (price_source = 'none' AND model IN ({marks}))" if priced_models else ""
        sql = (
            f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE role = 'assistant' "
            f"AND outcome != 'streaming' AND (price_source IS NULL{again}) ORDER BY id"
        )
        with self._read() as db:
            return [_message(row) for row in db.execute(sql, list(priced_models))]

    def set_cost(
        self, answer_id: int, cost_usd: float | None, saved_usd: float | None, source: str
    ) -> None:
        """An answer's cost; `source` 'none' (and no cost) when nothing prices it."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET cost_usd = ?, cost_saved_usd = ?, price_source = ? "
                "WHERE id = ?",
                (cost_usd, saved_usd, source, answer_id),
            )

    def rename(self, conversation_id: int, title: str) -> None:
        """Set a title (one line; blank makes the conversation untitled)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (_one_line(title), conversation_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"there is no conversation {conversation_id}", self.path)

    def set_choice(self, conversation_id: int, choice: ConversationChoice) -> bool:
        """Remember the conversation's model and system prompt; False if it is gone.
        Not activity: the list's order (last activity) stays."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET provider = ?, model = ?, prompt_name = ?, "
                "system_prompt = ? WHERE id = ?",
                (
                    choice.provider,
                    choice.model,
                    choice.prompt_name,
                    choice.system_prompt,
                    conversation_id,
                ),
            )
        return cursor.rowcount > 0

    def choice(self, conversation_id: int) -> ConversationChoice | None:
        """What `set_choice` remembered (None: the conversation is gone)."""
        with self._read() as db:
            row = db.execute(
                "SELECT provider, model, prompt_name, system_prompt FROM conversations "
                "WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        return None if row is None else ConversationChoice(*row)

    def delete(self, conversation_id: int) -> bool:
        """Delete a conversation and (cascade) its messages; False if it was not there."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return cursor.rowcount > 0

    def _touch(
        self, db: sqlite3.Connection, conversation_id: int, now: str, title: str | None = None
    ) -> None:
        cursor = db.execute(
            "UPDATE conversations SET updated_at = ?, title = coalesce(title, ?) WHERE id = ?",
            (now, title, conversation_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(
                f"conversation {conversation_id} is no longer in the history "
                "(deleted in another window?) — start a new one",
                self.path,
            )

    # ----------------------------------------------------------------- reads

    def conversations(self, limit: int = 100, query: str | None = None) -> list[ConversationRow]:
        """Newest first (by last activity). `query` keeps conversations with a message
        (answers stopped or interrupted included) or a title matching it."""
        order = " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        if not (query and query.strip()):
            with self._read() as db:
                rows = db.execute(_CONVERSATION_SELECT + order, (limit,)).fetchall()
            return [ConversationRow(*row) for row in rows]

        def run(match: _Match) -> list[ConversationRow]:
            sql = (
                f"{_CONVERSATION_SELECT} WHERE c.id IN "
                f"(SELECT m.conversation_id FROM messages m WHERE {match.condition}) "
                f"OR c.title LIKE ? ESCAPE '\\'{order}"
            )
            args = [*match.args, _like_pattern(query.strip()), limit]
            return [ConversationRow(*row) for row in self._db.execute(sql, args)]

        return self._matching(query, run)

    def _matching(self, query: str, run: Callable[[_Match], _T]) -> _T:
        """`run` with the FTS5 match when search can use it, else (or if FTS5 rejects
        the query after all) with the LIKE match."""
        with self._read():
            if self._fts and (fts := _fts_match(query)):
                try:
                    found = run(fts)
                except sqlite3.OperationalError as exc:
                    if "fts5" not in str(exc):
                        raise
                else:
                    # Nothing found may be the tokenizer: it keeps a run of Chinese or
                    # Japanese as one word, so a word inside a sentence is not a token.
                    if found:
                        return found
            return run(_like_match(query))

    def conversation(self, conversation_id: int) -> ConversationRow | None:
        with self._read() as db:
            row = db.execute(
                _CONVERSATION_SELECT + " WHERE c.id = ?", (conversation_id,)
            ).fetchone()
        return None if row is None else ConversationRow(*row)

    def messages(self, conversation_id: int, last: int | None = None) -> list[MessageRow]:
        """A conversation's messages in order; with `last`, only the last N (a long
        conversation opens showing its end, the rest loaded when scrolled to)."""
        columns = ", ".join(_MESSAGE_COLUMNS)
        sql = f"SELECT {columns} FROM messages WHERE conversation_id = ? ORDER BY id"
        args: tuple[Any, ...] = (conversation_id,)
        if last is not None:
            sql = (
                f"SELECT * FROM (SELECT {columns} FROM messages WHERE conversation_id = ? "
                "ORDER BY id DESC LIMIT ?) ORDER BY id"
            )
            args = (conversation_id, max(last, 0))
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return [_message(row) for row in rows]

    def search(
        self, text: str, limit: int = 50, *, marks: tuple[str, str] = ("«", "»")
    ) -> list[SearchHit]:
        """Messages matching `text` (every word; the last as a prefix), newest first,
        with a one-line snippet. Any text is accepted: FTS5 syntax is quoted away."""
        if not text.strip():
            return []
        return self._matching(text, lambda match: self._search(match, limit, marks))

    def _search(self, match: _Match, limit: int, marks: tuple[str, str]) -> list[SearchHit]:
        columns = "m.conversation_id, m.id, m.role, m.outcome, c.title, m.created_at"
        if match.full_text:
            # Driven by the index in rowid order, so LIMIT stops it early and snippet()
            # runs only for the rows returned; and only for messages of ordinary length
            # (FTS5's snippet() takes about a second on a 200,000-token answer).
            big = "length(m.text) + length(coalesce(m.reasoning, '')) > ?"
            sql = (
                f"SELECT {columns}, CASE WHEN {big} THEN NULL ELSE "
                "snippet(messages_fts, -1, ?, ?, '…', 16) END, "
                f"CASE WHEN {big} THEN m.text END, CASE WHEN {big} THEN m.reasoning END "
                "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?"
            )
            size = SNIPPET_IN_SQL_UP_TO
            args = [size, *marks, size, size, match.args[0], limit]
            rows = self._db.execute(sql, args).fetchall()
            return [
                _hit(row, _one_line(row[6]) or _text_snippet(row[7], row[8], match, marks))
                for row in rows
            ]
        sql = (
            f"SELECT {columns}, NULL, m.text, m.reasoning "
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE {match.condition} ORDER BY m.id DESC LIMIT ?"
        )
        rows = self._db.execute(sql, [*match.args, limit]).fetchall()
        return [_hit(row, _text_snippet(row[7], row[8], match, marks)) for row in rows]

    def prompts(self, limit: int = 200) -> list[str]:
        """Recent distinct prompts, oldest first (Up-recall across restarts)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT text FROM (SELECT text, max(id) AS last FROM messages "
                "WHERE role = 'user' AND trim(text) != '' GROUP BY text "
                "ORDER BY last DESC LIMIT ?) ORDER BY last",
                (limit,),
            ).fetchall()
        return [row[0] for row in rows]

    def expected_tokens(self, model: str) -> int | None:
        """The median length of the model's last 50 answers that ended on their own
        ('finished', finish reason 'stop'), once there are 5; else None. Stopped,
        failed and cut-off answers would bias it short."""
        with self._read() as db:
            rows = db.execute(
                "SELECT tokens_received FROM messages WHERE role = 'assistant' AND model = ? "
                "AND outcome = 'finished' AND finish_reason = 'stop' "
                "AND tokens_received IS NOT NULL ORDER BY id DESC LIMIT ?",
                (model, EXPECTED_WINDOW),
            ).fetchall()
        if len(rows) < EXPECTED_MINIMUM:
            return None
        median = percentile([row[0] for row in rows], 0.5)
        return None if median is None else round(median)

    def stats(
        self, *, model: str | None = None, since_days: float | None = None
    ) -> list[ModelStats]:
        """Per model, most answers first: counts by outcome, tokens, cost and what
        stopping saved, TTFT p50/p90, tokens/s p50, ITL p50, longest stall p90
        (percentiles skip NULLs), and the TTFT and tokens/s distributions.
        One scan of the index m008 made for it: no row, text or series is read
        (SQLite would pick the smaller messages_model and read every row)."""
        sql = (
            "SELECT model, outcome, tokens_received, tokens_saved, cost_usd, cost_saved_usd, "
            "ttft_ms, tokens_per_s, itl_p50_ms, longest_stall_ms "
            "FROM messages INDEXED BY messages_stats WHERE role = 'assistant'"
        )
        args: list[Any] = []
        if model is not None:
            sql += " AND model = ?"
            args.append(model)
        if since_days is not None:
            sql += " AND created_at >= ?"
            args.append(utc_iso(self.clock() - since_days * 86400))
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        groups: dict[str | None, list[tuple[Any, ...]]] = {}
        for row in rows:
            groups.setdefault(row[0], []).append(row)
        result = [_model_stats(name, group) for name, group in groups.items()]
        return sorted(result, key=lambda s: (-s.answers, s.model or ""))

    def integrity(self) -> list[str]:
        """Problems SQLite finds in the file and in the search index; [] when sound."""
        with self._read() as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            problems = [p for p in problems if p != "ok"]
            problems += [f"foreign key: {row}" for row in db.execute("PRAGMA foreign_key_check")]
            if self._fts:
                try:
                    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
                except sqlite3.DatabaseError as exc:
                    problems.append(f"search index: {exc}")
        return problems

    # ----------------------------------------------------------------- export

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The conversation and every column of its messages, JSON-ready."""
        head = self._existing(conversation_id)
        return {
            "format": "tokentide-conversation",
            "version": 1,
            "conversation": asdict(head),
            "messages": [asdict(m) for m in self.messages(conversation_id)],
        }

    def export_markdown(self, conversation_id: int) -> str:
        """A faithful transcript: every text exactly as stored, reasoning quoted, tool
        calls as JSON, and the facts of answers that did not finish."""
        head = self._existing(conversation_id)
        messages = self.messages(conversation_id)
        path = chosen_path(messages)
        started = f"tokentide conversation {head.id} · started {head.created_at}"
        if hidden := len(messages) - len(path):
            versions = "version" if hidden == 1 else "versions"
            started += f" · the chosen branch ({hidden} other {versions} in the JSON export)"
        parts = [f"# {head.title or 'Untitled conversation'}", started]
        parts += [_markdown_message(m) for m in path]
        return "\n\n".join(parts) + "\n"

    def _existing(self, conversation_id: int) -> ConversationRow:
        head = self.conversation(conversation_id)
        if head is None:
            raise NotFound(f"there is no conversation {conversation_id}", self.path)
        return head


def chosen_path(rows: Sequence[MessageRow]) -> list[MessageRow]:
    """The conversation as the app shows it: from the first prompt, at each
    step the chosen one of the messages that follow (regenerated answers,
    edited prompts); the others are alternatives. Rows in id order."""
    ids = {row.id for row in rows}
    following: dict[int | None, list[MessageRow]] = {}
    for row in rows:  # a row whose parent is gone starts the conversation
        parent = row.parent_id if row.parent_id in ids else None
        following.setdefault(parent, []).append(row)
    path: list[MessageRow] = []
    parent: int | None = None
    while rows_after := following.get(parent):
        row = next((r for r in reversed(rows_after) if r.chosen), rows_after[-1])
        path.append(row)
        parent = row.id
    return path


# --------------------------------------------------------------------------- row building


def _ending(record: AnswerRecord, clock: Callable[[], float]) -> dict[str, Any]:
    """The columns `finish_answer` sets, by name, from a record."""
    outcome = getattr(record.outcome, "value", record.outcome)
    if outcome not in ENDINGS:
        raise ValueError(f"outcome must be one of {', '.join(ENDINGS)}, not {outcome!r}")
    return {
        "text": record.text,
        "reasoning": record.reasoning,
        "tool_calls": _dump_calls(record.tool_calls),
        "finish_reason": record.finish_reason,
        "outcome": outcome,
        "tokens_received": record.tokens_received,
        "tokens_counted_by_server": None if record.counted is None else int(record.counted),
        "input_tokens": record.input_tokens,
        "tokens_saved": record.tokens_saved,
        "saved_method": record.saved_method,
        "ttft_ms": record.ttft_ms,
        "tokens_per_s": record.tokens_per_s,
        "total_ms": record.total_ms,
        "ended_at": _stamp(record.ended_at, clock),
        "error": record.error,
        "cost_usd": record.cost_usd,
        "cost_saved_usd": record.cost_saved_usd,
        "itl_p50_ms": record.itl_p50_ms,
        "itl_p99_ms": record.itl_p99_ms,
        "longest_stall_ms": record.longest_stall_ms,
        "arrivals": None if record.arrivals is None else json.dumps(record.arrivals),
    }


def _rowid(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _message(row: Sequence[Any]) -> MessageRow:
    values = dict(zip(_MESSAGE_COLUMNS, row, strict=True))
    values["params"] = None if values["params"] is None else json.loads(values["params"])
    values["tool_calls"] = json.loads(values["tool_calls"]) if values["tool_calls"] else []
    values["chosen"] = bool(values["chosen"])
    counted = values["tokens_counted_by_server"]
    values["tokens_counted_by_server"] = None if counted is None else bool(counted)
    values["reasoning"] = values["reasoning"] or ""
    values["arrivals"] = _json_object(values["arrivals"])
    return MessageRow(**values)


def _json_object(text: str | None) -> dict[str, Any] | None:
    """A stored JSON object, or None for anything else: a hand-edited or
    damaged cell must not stop its conversation from opening."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _hit(row: Sequence[Any], snippet: str) -> SearchHit:
    return SearchHit(row[0], row[1], row[2], row[3], snippet, title=row[4], created_at=row[5])


def _text_snippet(
    text: str | None, reasoning: str | None, match: _Match, marks: tuple[str, str]
) -> str:
    """A snippet found in Python: around the first term in the text, else in the
    reasoning. For a full-text match the mark spans the whole word (as FTS5's does)."""
    text = text or ""
    terms = match.terms
    lowered = text.lower()
    source = text
    if reasoning and not any(t.lower() in lowered for t in terms):
        source = reasoning
    return _snippet(source, terms, marks, whole_words=match.full_text)


def _sum(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _model_stats(model: str | None, rows: Sequence[tuple[Any, ...]]) -> ModelStats:
    outcomes = [row[1] for row in rows]
    ttfts = [row[6] for row in rows]
    rates = [row[7] for row in rows]
    return ModelStats(
        model=model,
        answers=len(rows),
        finished=outcomes.count("finished"),
        stopped=outcomes.count("stopped"),
        failed=outcomes.count("failed"),
        interrupted=outcomes.count("interrupted"),
        streaming=outcomes.count("streaming"),
        tokens_received=sum(row[2] or 0 for row in rows),
        tokens_saved=sum(row[3] or 0 for row in rows if row[1] == "stopped"),
        cost_usd=_sum([row[4] for row in rows]),
        cost_saved_usd=_sum([row[5] for row in rows]),
        ttft_ms_p50=percentile(ttfts, 0.5),
        ttft_ms_p90=percentile(ttfts, 0.9),
        tokens_per_s_p50=percentile(rates, 0.5),
        itl_ms_p50=percentile([row[8] for row in rows], 0.5),
        longest_stall_ms_p90=percentile([row[9] for row in rows], 0.9),
        ttft_ms_histogram=histogram(ttfts),
        tokens_per_s_histogram=histogram(rates),
    )


HISTOGRAM_BUCKETS = 8
"""Most bars in a distribution chart (`stats`, the app's Stats)."""
TAIL_MINIMUM = 10
"""Values a distribution needs before its top tenth can be folded into one bar."""
_NICE_STEPS = (1.0, 2.0, 2.5, 5.0)


def _nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    for nice in (*_NICE_STEPS, 10.0):
        if nice * power >= raw * (1 - 1e-9):
            return nice * power
    return 10.0 * power  # pragma: no cover - 10 always qualifies


def histogram(values: Sequence[float | None], most: int = HISTOGRAM_BUCKETS) -> list[Bucket]:
    """`values` (NULLs skipped) counted in at most `most` ranges of one round
    width (1, 2, 2.5 or 5 times a power of ten), so the bars read as "250-500 ms".
    From TAIL_MINIMUM values on, a long tail - the top tenth spread over more
    than twice what the other nine tenths span - is one open-ended last
    bucket ("≥ 2 s"): one 30 s TTFT must not squeeze every other answer into
    the first bar. [] for no values."""
    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    if not xs:
        return []
    low, high = xs[0], xs[-1]
    if high == low:
        return [Bucket(low, high, len(xs))]
    body = xs[int(0.9 * (len(xs) - 1))]  # the top of the lower nine tenths
    tail = len(xs) >= TAIL_MINIMUM and body > low and high - low > 2 * (body - low)
    top, bars = (body, most - 1) if tail else (high, most)
    step = _nice_step((top - low) / bars)
    while True:
        start = math.floor(low / step) * step
        count = max(1, math.ceil((top - start) / step - 1e-9))
        if count <= bars:
            break
        step = _nice_step(step * 1.0001)
    edges = [round(start + i * step, 9) for i in range(count + 1)]
    counts = [0] * (count + 1 if tail else count)
    for value in xs:
        index = int((value - start) // step)
        counts[min(max(index, 0), len(counts) - 1)] += 1
    buckets = [Bucket(edges[i], edges[i + 1], counts[i]) for i in range(count)]
    if tail:
        buckets.append(Bucket(edges[-1], high, counts[-1], open_ended=True))
    return buckets


# --------------------------------------------------------------------------- markdown


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _fenced(body: str, language: str = "") -> str:
    """A code block whose fence is longer than any run of backticks inside it."""
    longest, run = 0, 0
    for char in body:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def _count(tokens: int | None, counted: bool | None) -> str:
    mark = "~" if counted is False else ""
    return f"{mark}{tokens or 0} tokens received"


def _footer(m: MessageRow) -> str | None:
    """The facts of an answer that did not simply finish; None for one that did."""
    if m.outcome == "finished" and m.finish_reason in (None, "stop"):
        return None
    facts = [m.outcome or "unknown"]
    if m.outcome == "finished":
        facts = [f"finished ({m.finish_reason})"]
    facts.append(_count(m.tokens_received, m.tokens_counted_by_server))
    if m.tokens_saved is not None:
        method = f" ({m.saved_method})" if m.saved_method else ""
        facts.append(f"~{m.tokens_saved} tokens saved{method}")
    if m.cost_saved_usd is not None:
        facts.append(f"~${m.cost_saved_usd:.4f} not spent (estimate)")
    if m.error:
        facts.append(f"error: {_one_line(m.error)}")
    return "— " + " · ".join(facts)


def _closed_fences(text: str) -> str:
    """`text` with a fence left open (an answer stopped mid-code) closed, so the
    footer and every later message do not become code."""
    fence: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None:
            match = re.match(r"(`{3,}|~{3,})", stripped)
            if match and len(line) - len(line.lstrip(" ")) < 4:
                fence = match.group(1)
        elif stripped.startswith(fence) and not stripped.strip(fence[0]):
            fence = None
    return text if fence is None else f"{text}\n{fence}"


def _markdown_message(m: MessageRow) -> str:
    if m.role == "user":
        return f"## You\n\n{m.text}"
    parts = [f"## Assistant ({m.model or 'unknown model'} · {m.outcome})"]
    if m.reasoning:
        parts.append(_quote(f"**Thinking**\n\n{m.reasoning}"))
    if m.text:
        parts.append(_closed_fences(m.text))
    if m.tool_calls:
        parts.append(_fenced(json.dumps(m.tool_calls, indent=2, ensure_ascii=False), "json"))
    if footer := _footer(m):
        parts.append(footer)
    return "\n\n".join(parts)
