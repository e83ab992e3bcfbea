"""The history store on real SQLite files: migrations, bad files, crash recovery,
search, concurrency, the estimates and stats it feeds, and the exports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tokentide.tui.store import (
    APPLICATION_ID,
    MIGRATIONS,
    AnswerRecord,
    ConversationChoice,
    NotFound,
    Store,
    StoreError,
    default_path,
    fts_query,
    host_of,
    m005_conversation_choices,
    migrate,
    percentile,
    title_from,
    utc_iso,
    writer_alive,
)

T0 = 1_780_000_000.0  # a fixed "now" (2026-05-28) for timestamps tests compare


class Clock:
    """A clock tests move by hand, so timestamps and `since_days` are exact."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def answer(
    store: Store,
    conversation: int,
    text: str = "an answer",
    *,
    model: str = "m",
    outcome: str = "finished",
    finish_reason: str | None = "stop",
    tokens: int | None = 10,
    **record: object,
) -> int:
    """A whole answer, started and finished, as the turn runner will write it."""
    answer_id = store.start_answer(
        conversation,
        provider="openai",
        wire="chat",
        model=model,
        host="api.example.com",
        params={"max_tokens": 100},
        expected_tokens=None,
        expected_method=None,
    )
    store.finish_answer(
        answer_id,
        AnswerRecord(
            text=text,
            outcome=outcome,
            finish_reason=finish_reason,
            tokens_received=tokens,
            **record,  # type: ignore[arg-type]
        ),
    )
    return answer_id


def run_python(code: str, *args: str, **popen: object) -> subprocess.Popen:
    """Start another Python process running `code` (another tokentide, as far as the
    history file can tell)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "ORDER BY type, name"
        ).fetchall()
    db.close()
    return rows


# --------------------------------------------------------------------------- opening


def test_default_path_is_in_the_user_data_dir_unless_the_environment_names_one(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("TOKENTIDE_HISTORY", raising=False)
    assert default_path() == tmp_path / "xdg-data" / "tokentide" / "history.db"
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(tmp_path / "mine.db"))
    assert default_path() == tmp_path / "mine.db"


def test_open_without_a_path_uses_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(tmp_path / "deep" / "er" / "h.db"))
    with Store.open() as store:
        assert store.path == tmp_path / "deep" / "er" / "h.db"
    assert (tmp_path / "deep" / "er" / "h.db").is_file()


def test_open_creates_the_directories_and_sets_the_pragmas(store, path):
    assert path.is_file()
    db = store._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_migrations_from_an_empty_file_are_all_recorded_in_order(path):
    with Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    db.close()
    assert names == [m.__name__ for m in MIGRATIONS]
    assert names[0].startswith("m001_")
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db) == []  # nothing left to do
    db.close()


def test_an_empty_file_is_adopted(path):
    path.parent.mkdir(parents=True)
    path.touch()
    with Store.open(path) as store:
        assert store.conversations() == []


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_migrations_from_each_earlier_version_keep_the_data(tmp_path, path, version):
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:version]) == [m.__name__ for m in MIGRATIONS[:version]]
    # Rows as a tokentide of that version wrote them (m001's columns never change).
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES (7, 'old chat', '2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:00.000+00:00')"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, created_at, text) "
        "VALUES (7, 'user', '2026-01-01T00:00:00.000+00:00', 'what about walruses')"
    )
    db.execute(
        "INSERT INTO messages (conversation_id, role, outcome, created_at, model, text, "
        "writer_pid) VALUES (7, 'assistant', 'stopped', '2026-01-01T00:00:01.000+00:00', "
        "'old-model', 'walruses are large', 1)"
    )
    db.close()

    with Store.open(path) as store:
        assert [m.text for m in store.messages(7)] == ["what about walruses", "walruses are large"]
        assert store.conversation(7).model == "old-model"
        assert [hit.message_id for hit in store.search("walruses")] == [2, 1]
        assert store.integrity() == []
        store.add_user(7, "and seals?")
    with Store.open(tmp_path / "fresh.db"):
        pass
    assert schema(path) == schema(tmp_path / "fresh.db")


def test_a_file_from_before_conversation_choices_gains_them(path):
    """A history written before models and system prompts were remembered per
    conversation opens, keeps its conversations (with nothing chosen) and can
    remember a choice from then on."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    before = MIGRATIONS.index(m005_conversation_choices)
    migrate(db, MIGRATIONS[:before])
    db.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES (3, 'old chat', '2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:00.000+00:00')"
    )
    columns = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    assert "system_prompt" not in columns
    db.close()

    with Store.open(path) as store:
        assert store.choice(3) == ConversationChoice()
        chosen = ConversationChoice("lab", "m-2", "concise", "Answer briefly.")
        assert store.set_choice(3, chosen)
        assert store.choice(3) == chosen
        assert store.conversation(3).updated_at == "2026-01-01T00:00:00.000+00:00"
        assert not store.set_choice(99, chosen)
        assert store.choice(99) is None
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    db.close()
    assert {"provider", "model", "prompt_name", "system_prompt"} <= columns


def test_a_newer_schema_is_refused_and_left_alone(path):
    with Store.open(path) as store:
        store.new_conversation("kept")
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"written by a newer tokentide .* upgrade"):
        Store.open(path, migrations=MIGRATIONS[:1])
    assert path.read_bytes() == before

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 'x')")
    db.close()
    with pytest.raises(StoreError, match="m999_from_the_future"):
        Store.open(path)


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(8192),
        b"not a db",
        b"SQLite format 3\x00" + os.urandom(4000),
    ],
    ids=["random bytes", "short text", "sqlite header then garbage"],
)
def test_a_corrupt_file_is_refused_and_never_overwritten(path, content):
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    message = str(caught.value)
    assert str(path) in message
    assert "is not a tokentide history database" in message
    assert "move it away; tokentide never overwrites it" in message
    assert "\n" not in message
    assert path.read_bytes() == content
    assert not path.with_name(path.name + "-wal").exists()


def test_another_programs_database_is_refused_and_never_touched(path):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('precious')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"not a tokentide history database \(.*notes"):
        Store.open(path)
    assert path.read_bytes() == before


def test_a_database_with_another_application_id_is_refused(path):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 1234")
    db.close()
    with pytest.raises(StoreError, match="application id 0x4d2"):
        Store.open(path)


def test_a_path_under_a_file_cannot_be_written(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "file" / "history.db")
    message = str(caught.value)
    assert message.startswith(f"cannot write the history at {tmp_path / 'file' / 'history.db'}: ")
    assert "chatting works without history" in message


def test_a_path_that_is_a_directory_cannot_be_written(tmp_path):
    with pytest.raises(StoreError, match=r"cannot write the history at .*: it is a directory"):
        Store.open(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod")
def test_a_read_only_directory_cannot_be_written(tmp_path):
    tmp_path.joinpath("ro").mkdir(mode=0o500)
    try:
        with pytest.raises(StoreError, match=r"cannot write the history at .*without history"):
            Store.open(tmp_path / "ro" / "history.db")
    finally:
        tmp_path.joinpath("ro").chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod")
@pytest.mark.parametrize("directory_too", [False, True])
def test_a_read_only_history_file_cannot_be_written(path, directory_too):
    with Store.open(path):
        pass
    path.chmod(0o400)
    if directory_too:
        path.parent.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="cannot write the history at"):
            Store.open(path)
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)


def test_a_full_disk_is_a_one_line_error_and_the_store_stays_usable(store):
    chat = store.new_conversation()
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full"
    with pytest.raises(StoreError) as caught:
        store.add_user(chat, "x" * 100_000)
    assert str(caught.value).startswith(f"cannot write the history at {store.path}: ")
    assert "full" in str(caught.value) and "\n" not in str(caught.value)
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.add_user(chat, "after the space was freed")
    assert [m.text for m in store.messages(chat)] == ["after the space was freed"]


# --------------------------------------------------------------------------- writes


def test_a_full_answer_round_trips(store):
    store.clock = Clock()
    chat = store.new_conversation()
    prompt_id = store.add_user(chat, "Explain *this*:\n```py\nx = 1\n```")
    store.clock.advance(0.5)
    answer_id = store.start_answer(
        chat,
        provider="openai",
        wire="chat-completions",
        model="gpt-x",
        host="https://user:sk-secret@api.example.com:8443/v1?api-key=sk-secret",
        params={"max_tokens": 512, "temperature": 0.2, "api_key": "sk-secret"},
        expected_tokens=400,
        expected_method="history",
        started_at=T0 + 0.25,
    )
    store.clock.advance(1.0)
    calls = [{"id": "call_1", "name": "lookup", "arguments": '{"q": "ü"}'}]
    store.finish_answer(
        answer_id,
        AnswerRecord(
            text="It assigns `1`.\n\n| a | b |\n|---|---|",
            reasoning="The user asks about x.",
            tool_calls=calls,
            finish_reason="stop",
            outcome="finished",
            tokens_received=42,
            counted=True,
            input_tokens=12,
            tokens_saved=None,
            saved_method=None,
            ttft_ms=180.5,
            tokens_per_s=61.25,
            total_ms=870.0,
            ended_at=T0 + 1.5,
            error=None,
            cost_usd=0.00042,
            cost_saved_usd=None,
        ),
    )

    prompt, row = store.messages(chat)
    assert (prompt.id, prompt.role, prompt.text, prompt.outcome) == (
        prompt_id,
        "user",
        "Explain *this*:\n```py\nx = 1\n```",
        None,
    )
    assert prompt.tool_calls == [] and prompt.reasoning == "" and prompt.params is None
    assert row.id == answer_id and row.conversation_id == chat and row.role == "assistant"
    assert (row.provider, row.wire, row.model) == ("openai", "chat-completions", "gpt-x")
    assert row.host == "api.example.com:8443"  # no user, password, path or query
    assert row.params == {"max_tokens": 512, "temperature": 0.2}  # the key is never stored
    assert "sk-secret" not in json.dumps(store.export_json(chat))
    assert row.text == "It assigns `1`.\n\n| a | b |\n|---|---|"
    assert row.reasoning == "The user asks about x."
    assert row.tool_calls == calls
    assert (row.finish_reason, row.outcome) == ("stop", "finished")
    assert (row.tokens_received, row.tokens_counted_by_server) == (42, True)
    assert row.input_tokens == 12
    assert (row.tokens_saved, row.saved_method) == (None, None)
    assert (row.expected_tokens, row.expected_method) == (400, "history")
    assert (row.ttft_ms, row.tokens_per_s, row.total_ms) == (180.5, 61.25, 870.0)
    assert row.created_at == utc_iso(T0 + 0.5)
    assert row.started_at == utc_iso(T0 + 0.25)
    assert row.ended_at == utc_iso(T0 + 1.5)
    assert (row.error, row.cost_usd, row.cost_saved_usd) == (None, 0.00042, None)
    assert row.writer_pid == os.getpid()
    assert store.conversation(chat).updated_at == utc_iso(T0 + 1.5)


def test_timestamps_are_utc_iso_and_sort_as_text():
    assert utc_iso(0) == "1970-01-01T00:00:00.000+00:00"
    assert utc_iso(T0) < utc_iso(T0 + 0.001) < utc_iso(T0 + 86400 * 400)


def test_finish_answer_accepts_an_enum_and_rejects_an_unknown_outcome(store):
    import enum

    class Outcome(enum.Enum):
        STOPPED = "stopped"

    chat = store.new_conversation()
    answer_id = store.start_answer(
        chat,
        provider="p",
        wire="w",
        model="m",
        host=None,
        params=None,
        expected_tokens=None,
        expected_method=None,
    )
    store.finish_answer(answer_id, AnswerRecord(outcome=Outcome.STOPPED))
    assert store.messages(chat)[0].outcome == "stopped"
    for wrong in ("streaming", "done"):
        with pytest.raises(ValueError, match="outcome must be one of"):
            store.finish_answer(answer_id, AnswerRecord(outcome=wrong))


def test_the_first_prompt_titles_the_conversation(store):
    store.clock = Clock()
    chat = store.new_conversation()
    created = store.conversation(chat)
    assert created.title is None and created.message_count == 0
    long_prompt = "\n   \n  Please   " + "write a very long story about a lighthouse keeper " * 3
    store.clock.advance(10)
    store.add_user(chat, long_prompt + "\nand more lines")
    row = store.conversation(chat)
    assert len(row.title) == 60 and row.title.endswith("…")
    assert row.title.startswith("Please write a very long story about a lighthouse")
    assert row.updated_at == utc_iso(T0 + 10) and row.created_at == utc_iso(T0)
    store.add_user(chat, "a second prompt")
    assert store.conversation(chat).title == row.title

    named = store.new_conversation("  Named\nby hand ")
    store.add_user(named, "hello")
    assert store.conversation(named).title == "Named by hand"


def test_title_from_a_prompt():
    assert title_from("short") == "short"
    assert title_from("  \n\n  two   words \nsecond line") == "two words"
    assert title_from("   \n  ") is None
    assert len(title_from("x" * 200)) == 60


def test_rename_and_delete_cascade(store):
    chat = store.new_conversation()
    store.add_user(chat, "prompt about narwhals")
    answer(store, chat, "narwhals have tusks", outcome="stopped", tokens_saved=5)
    other = store.new_conversation()
    store.add_user(other, "keep me")

    store.rename(chat, "Narwhal facts")
    assert store.conversation(chat).title == "Narwhal facts"
    with pytest.raises(NotFound):
        store.rename(9999, "nothing")

    assert store.delete(chat) is True
    assert store.delete(chat) is False
    assert store.conversation(chat) is None
    assert store.messages(chat) == []
    assert store.search("narwhals") == []
    assert store.stats() == []
    assert [m.text for m in store.messages(other)] == ["keep me"]
    assert store.integrity() == []


def test_writing_to_a_deleted_conversation_says_so(store, path):
    chat = store.new_conversation()
    with Store.open(path) as other_window:
        other_window.delete(chat)
    with pytest.raises(NotFound, match="no longer in the history"):
        store.add_user(chat, "hello?")
    with pytest.raises(StoreError):  # NotFound is a StoreError: the app keeps chatting
        store.start_answer(
            chat,
            provider="p",
            wire="w",
            model="m",
            host=None,
            params=None,
            expected_tokens=None,
            expected_method=None,
        )


def test_a_late_checkpoint_does_not_undo_the_finished_answer(store):
    chat = store.new_conversation()
    answer_id = answer(store, chat, "final text")
    store.checkpoint(answer_id, text="fin", reasoning="", tool_calls=[])
    assert store.messages(chat)[0].text == "final text"


def test_host_of_keeps_only_host_and_port():
    assert host_of("localhost:11434") == "localhost:11434"
    assert host_of("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"
    assert host_of("https://k:s@API.example.com/v1?key=s") == "api.example.com"
    assert host_of("api.example.com/v1") == "api.example.com"
    assert host_of(None) is None and host_of("") is None


# --------------------------------------------------------------------------- crash safety

STREAM_THEN = """
import os, signal, sys
from tokentide.tui.store import Store
store = Store.open(sys.argv[1])
chat = store.new_conversation()
store.add_user(chat, "tell me about otters")
answer = store.start_answer(chat, provider="demo", wire="chat", model="m", host="localhost",
    params={}, expected_tokens=500, expected_method="default")
store.checkpoint(answer, text="Otters hold hands", reasoning="cute animals",
    tool_calls=[{"name": "t"}], tokens_received=4)
print(answer, flush=True)
if sys.argv[2] == "wait":
    sys.stdin.readline()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_leaves_an_interrupted_answer_with_its_checkpoint(path):
    writer = run_python(STREAM_THEN, str(path), "die", stdout=subprocess.PIPE)
    answer_id = int(writer.stdout.readline())
    assert writer.wait(timeout=30) == -signal.SIGKILL

    with Store.open(path) as store:
        assert store.recovered == [answer_id]
        prompt, row = store.messages(1)
        assert prompt.text == "tell me about otters"
        assert row.outcome == "interrupted"
        assert row.text == "Otters hold hands"
        assert row.reasoning == "cute animals"
        assert row.tool_calls == [{"name": "t"}]
        assert row.tokens_received == 4
        assert row.ended_at == row.checkpoint_at
        assert f"pid {writer.pid}" in row.error
        assert [hit.message_id for hit in store.search("otters hold")] == [answer_id]
        assert store.search("cute")[0].outcome == "interrupted"
    with Store.open(path) as again:
        assert again.recovered == []


def test_a_live_writers_streaming_answer_is_left_alone(path):
    writer = run_python(
        STREAM_THEN, str(path), "wait", stdout=subprocess.PIPE, stdin=subprocess.PIPE
    )
    try:
        answer_id = int(writer.stdout.readline())
        with Store.open(path) as store:
            assert store.recovered == []
            row = store.messages(1)[-1]
            assert (row.id, row.outcome, row.writer_pid) == (answer_id, "streaming", writer.pid)
            assert store.search("otters hold") == []  # indexed once it ends
    finally:
        writer.kill()
        writer.wait(timeout=30)
    with Store.open(path) as store:
        assert store.recovered == [answer_id]
        assert store.messages(1)[-1].outcome == "interrupted"


def test_a_killed_writer_not_yet_reaped_counts_as_dead(path):
    writer = run_python(STREAM_THEN, str(path), "die", stdout=subprocess.PIPE)
    answer_id = int(writer.stdout.readline())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{writer.pid}").exists() and (
        Path(f"/proc/{writer.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        with Store.open(path) as store:  # the zombie's pid still answers kill(pid, 0)
            assert store.recovered == [answer_id]
    finally:
        writer.wait(timeout=30)


def test_this_processes_own_streaming_answer_is_not_interrupted(store, path):
    chat = store.new_conversation()
    answer_id = store.start_answer(
        chat,
        provider="p",
        wire="w",
        model="m",
        host=None,
        params=None,
        expected_tokens=None,
        expected_method=None,
    )
    store.checkpoint(answer_id, text="so far", reasoning="", tool_calls=[])
    with Store.open(path) as second:
        assert second.recovered == []
        assert second.messages(chat)[0].outcome == "streaming"


def test_writer_alive_tells_a_reused_pid_from_the_writer():
    me = os.getpid()
    start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert writer_alive(me, start)
    assert writer_alive(me, None)
    assert not writer_alive(me, start + 1)  # same pid, another process
    assert not writer_alive(None, None)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not writer_alive(dead.pid, None)


# --------------------------------------------------------------------------- search


@pytest.fixture
def searchable(store):
    chat = store.new_conversation()
    store.add_user(chat, 'What does "AND (" mean in a query?')
    answer(
        store,
        chat,
        "Penguins cannot fly but swim well",
        outcome="stopped",
        finish_reason=None,
        reasoning="Consider flightless seabirds first",
        tokens_saved=300,
    )
    other = store.new_conversation()
    store.add_user(other, "unrelated question about 50% off")
    return store, chat, other


def test_search_finds_a_stopped_answer_and_reasoning(searchable):
    store, chat, _ = searchable
    assert store.full_text
    [hit] = store.search("penguins")
    assert (hit.conversation_id, hit.role, hit.outcome) == (chat, "assistant", "stopped")
    assert "«Penguins»" in hit.snippet
    [hit] = store.search("seabirds")
    assert "«seabirds»" in hit.snippet
    assert store.search("Penguins swim")[0].message_id == hit.message_id  # every word
    assert store.search("peng")[0].message_id == hit.message_id  # the last word as a prefix
    assert store.search("penguins walruses") == []
    assert store.search("   ") == []


def test_a_long_message_gets_its_snippet_from_python(searchable, monkeypatch):
    store, _, _ = searchable
    monkeypatch.setattr("tokentide.tui.store.SNIPPET_IN_SQL_UP_TO", 10)
    [hit] = store.search("pengu")
    assert hit.snippet == "«Penguins» cannot fly but swim well"  # the whole word, as FTS5 marks
    [hit] = store.search("seabirds")
    assert hit.snippet == "Consider flightless «seabirds» first"


@pytest.mark.parametrize(
    "query",
    ['"', "*", "AND (", '"AND (', "NEAR(", "a OR", "-", "^start", "text:penguins", "{a b}", "'"],
)
def test_search_survives_any_text(searchable, query):
    store, _, _ = searchable
    assert isinstance(store.search(query), list)
    assert isinstance(store.conversations(query=query), list)


def test_search_of_quoted_operators_finds_them_as_words(searchable):
    store, chat, _ = searchable
    hits = store.search('"AND (')
    assert [h.conversation_id for h in hits] == [chat]
    assert [h.role for h in store.search('"')] == ["user"]  # no word: LIKE finds the character


def test_fts_query_quotes_every_word():
    assert fts_query('say "hi" AND (bye') == '"say" """hi""" "AND" "(bye"*'
    assert fts_query('" * (') is None


def test_like_fallback_when_full_text_is_disabled(path):
    with Store.open(path) as store:
        chat = store.new_conversation()
        store.add_user(chat, "indexed while FTS5 was on")
    with Store.open(path, fts=False) as store:
        assert not store.full_text
        answer(store, chat, "Percentages: 50% of 500_000 Aardvarks", reasoning="burrowing mammals")
        [hit] = store.search("aardvarks")
        assert "«Aardvarks»" in hit.snippet
        assert store.search("burrowing")[0].snippet.startswith("«burrowing»")
        assert store.search("50%")[0].message_id == hit.message_id
        assert store.search("5%") == []  # % is a character, not a wildcard
        assert [h.message_id for h in store.search("0_0")] == [hit.message_id]
        assert "«0_0»" in store.search("0_0")[0].snippet
        assert store.search("0x0") == []  # _ is a character, not a wildcard
        assert store.search("FTS5 indexed")[0].role == "user"
        assert [c.id for c in store.conversations(query="AARDVARK")] == [chat]
        for query in ['"', "*", "AND (", "%", "_", "\\"]:
            store.search(query)
    with Store.open(path) as store:  # FTS5 again: the index catches up
        assert store.full_text
        assert [h.role for h in store.search("aardvarks")] == ["assistant"]
        assert store.integrity() == []


def test_conversations_query_filters_by_message_or_title(searchable):
    store, chat, other = searchable
    assert [c.id for c in store.conversations(query="penguins")] == [chat]
    assert [c.id for c in store.conversations(query="unrelated")] == [other]
    store.rename(other, "Shopping")
    assert [c.id for c in store.conversations(query="shopping")] == [other]
    assert [c.id for c in store.conversations(query="")] == [other, chat]


# --------------------------------------------------------------------------- reads


def test_conversations_are_newest_first_with_model_and_count(store):
    store.clock = Clock()
    first = store.new_conversation()
    store.add_user(first, "one")
    store.clock.advance(1)
    second = store.new_conversation()
    store.add_user(second, "two")
    store.clock.advance(1)
    answer(store, first, model="model-a")
    answer(store, first, model="model-b")
    rows = store.conversations()
    assert [r.id for r in rows] == [first, second]
    assert (rows[0].model, rows[0].message_count) == ("model-b", 3)
    assert (rows[1].model, rows[1].message_count) == (None, 1)
    assert [r.id for r in store.conversations(limit=1)] == [first]


def test_messages_last_n_are_the_end_in_order(store):
    chat = store.new_conversation()
    for i in range(10):
        store.add_user(chat, f"prompt {i}")
    assert [m.text for m in store.messages(chat, last=3)] == ["prompt 7", "prompt 8", "prompt 9"]
    assert len(store.messages(chat, last=50)) == 10
    assert store.messages(chat, last=0) == []


def test_prompts_are_distinct_oldest_first(store):
    chat = store.new_conversation()
    for text in ["alpha", "beta", "alpha", "gamma", "   ", "beta"]:
        store.add_user(chat, text)
    other = store.new_conversation()
    store.add_user(other, "delta")
    answer(store, other, "not a prompt")
    assert store.prompts() == ["alpha", "gamma", "beta", "delta"]
    assert store.prompts(limit=2) == ["beta", "delta"]


# --------------------------------------------------------------------------- estimates and stats


def test_expected_tokens_needs_five_finished_stop_answers(store):
    chat = store.new_conversation()
    for tokens in (100, 200, 300, 400):
        answer(store, chat, tokens=tokens)
    assert store.expected_tokens("m") is None
    # None of these count: other outcomes, another finish reason, another model.
    answer(store, chat, tokens=9000, outcome="stopped", finish_reason=None)
    answer(store, chat, tokens=9000, outcome="failed", finish_reason=None)
    answer(store, chat, tokens=9000, outcome="interrupted", finish_reason=None)
    answer(store, chat, tokens=9000, finish_reason="length")
    answer(store, chat, tokens=9000, model="other")
    assert store.expected_tokens("m") is None
    answer(store, chat, tokens=500)
    assert store.expected_tokens("m") == 300
    answer(store, chat, tokens=600)
    assert store.expected_tokens("m") == 350  # even count: between the middle two
    assert store.expected_tokens("unknown") is None


def test_expected_tokens_uses_only_the_last_fifty(store):
    chat = store.new_conversation()
    for _ in range(50):
        answer(store, chat, tokens=10)
    for _ in range(50):
        answer(store, chat, tokens=1000)
    assert store.expected_tokens("m") == 1000
    for _ in range(26):
        answer(store, chat, tokens=10)
    assert store.expected_tokens("m") == 10


def test_percentile_interpolates_and_skips_nulls():
    assert percentile([500, None, 100, 300, 200, 400], 0.5) == 300
    assert percentile([100, 200, 300, 400, 500], 0.9) == pytest.approx(460)
    assert percentile([7], 0.9) == 7
    assert percentile([None], 0.5) is None


def test_stats_from_known_rows(store):
    store.clock = Clock()
    chat = store.new_conversation()
    for i, ttft in enumerate([100, 200, 300, 400, 500]):
        answer(
            store,
            chat,
            model="a",
            tokens=10 * (i + 1),
            ttft_ms=ttft,
            tokens_per_s=10.0 * (i + 1),
            cost_usd=0.01 if i else None,
        )
    answer(
        store,
        chat,
        model="a",
        outcome="stopped",
        finish_reason=None,
        tokens=20,
        tokens_saved=70,
        cost_usd=0.002,
        cost_saved_usd=0.007,
    )
    answer(store, chat, model="a", outcome="stopped", finish_reason=None, tokens=5, tokens_saved=30)
    answer(store, chat, model="a", outcome="failed", finish_reason=None, tokens=0, error="boom")
    answer(store, chat, model="a", outcome="interrupted", finish_reason=None, tokens=None)
    answer(store, chat, model="b", tokens=3)

    a, b = store.stats()
    assert a.model == "a"
    assert (a.answers, a.finished, a.stopped, a.failed, a.interrupted, a.streaming) == (
        9,
        5,
        2,
        1,
        1,
        0,
    )
    assert a.tokens_received == 150 + 20 + 5
    assert a.tokens_saved == 100
    assert a.cost_usd == pytest.approx(0.042)
    assert a.cost_saved_usd == pytest.approx(0.007)
    assert (a.ttft_ms_p50, a.ttft_ms_p90) == (300, pytest.approx(460))
    assert a.tokens_per_s_p50 == 30
    assert (b.model, b.answers, b.tokens_received) == ("b", 1, 3)
    assert (b.cost_usd, b.cost_saved_usd, b.ttft_ms_p50) == (None, None, None)  # never invented

    assert [s.model for s in store.stats(model="b")] == ["b"]
    store.clock.advance(10 * 86400)
    answer(store, chat, model="a", tokens=1)
    [recent] = store.stats(since_days=5)
    assert (recent.model, recent.answers, recent.tokens_received) == ("a", 1, 1)
    assert store.stats(model="nobody") == []


# --------------------------------------------------------------------------- export


def test_export_markdown_is_a_faithful_transcript(store):
    chat = store.new_conversation("Sorting & *stuff*")
    prompt = "Sort this:\n\n```\n3 1 2\n```\n\n- and *explain*"
    store.add_user(chat, prompt)
    finished = "Sorted: `1 2 3`\n\n## Not a section\n\n> quoted"
    answer(
        store,
        chat,
        finished,
        model="fast-model",
        reasoning="Three numbers.\n\nEasy.",
        tool_calls=[{"name": "sort", "arguments": "```[3,1,2]```"}],
    )
    store.add_user(chat, "again, longer")
    answer(
        store,
        chat,
        "Here is a long expla",
        model="fast-model",
        outcome="stopped",
        finish_reason=None,
        tokens=5,
        counted=False,
        tokens_saved=295,
        saved_method="history",
        cost_saved_usd=0.0012,
    )
    answer(store, chat, "", outcome="failed", finish_reason=None, tokens=0, error="HTTP 500\nbad")

    text = store.export_markdown(chat)
    assert text.startswith("# Sorting & *stuff*\n")
    assert f"## You\n\n{prompt}\n\n" in text
    assert (
        f"## Assistant (fast-model · finished)\n\n> **Thinking**\n>\n> Three numbers.\n>\n> Easy.\n\n{finished}\n\n"
        in text
    )
    assert (
        '````json\n[\n  {\n    "name": "sort",\n    "arguments": "```[3,1,2]```"\n  }\n]\n````'
        in text
    )
    assert "## Assistant (fast-model · stopped)\n\nHere is a long expla\n\n" in text
    assert (
        "— stopped · ~5 tokens received · ~295 tokens saved (history) · ~$0.0012 not spent (estimate)"
        in text
    )
    assert "## Assistant (m · failed)" in text
    assert "— failed · 0 tokens received · error: HTTP 500 bad" in text
    assert text.count("## You") == 2 and text.count("## Assistant") == 3


def test_export_json_has_every_column(store):
    chat = store.new_conversation()
    store.add_user(chat, "hi")
    answer(store, chat, "hello", tool_calls=[{"name": "x"}])
    exported = store.export_json(chat)
    json.dumps(exported)  # JSON-ready
    assert exported["conversation"]["id"] == chat
    assert exported["conversation"]["title"] == "hi"
    assert [m["text"] for m in exported["messages"]] == ["hi", "hello"]
    assert exported["messages"][1]["tool_calls"] == [{"name": "x"}]
    assert exported["messages"][1]["params"] == {"max_tokens": 100}
    assert "tokens_counted_by_server" in exported["messages"][1]
    with pytest.raises(NotFound):
        store.export_json(12345)
    with pytest.raises(NotFound):
        store.export_markdown(12345)


# --------------------------------------------------------------------------- concurrency

WRITER = """
import sys, time
from tokentide.tui.store import AnswerRecord, Store
path, tag = sys.argv[1], sys.argv[2]
sys.stdin.readline()
with Store.open(path) as store:
    print("open", flush=True)
    sys.stdin.readline()
    began = time.time()
    chat = store.new_conversation(tag)
    for i in range(100):
        store.add_user(chat, f"{tag} prompt {i}")
        answer = store.start_answer(chat, provider="p", wire="w", model=tag, host=None,
            params={}, expected_tokens=None, expected_method=None)
        store.checkpoint(answer, text=f"{tag} partial {i}", reasoning="", tool_calls=[])
        store.finish_answer(answer, AnswerRecord(outcome="finished", text=f"{tag} answer {i}",
            finish_reason="stop", tokens_received=i))
        store.conversations(limit=5)
print(began, time.time())
"""


def tell(writers: list[subprocess.Popen], line: str) -> None:
    for writer in writers:
        writer.stdin.write(line + "\n")
        writer.stdin.flush()


def test_three_processes_writing_at_once_lose_nothing(path):
    writers = [
        run_python(
            WRITER,
            str(path),
            tag,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag in ("left", "right")
    ]
    tell(writers, "open")  # all three open (and migrate) a file that does not exist yet
    with Store.open(path) as store:
        assert [writer.stdout.readline() for writer in writers] == ["open\n"] * 2
        tell(writers, "write")
        began = time.time()
        chat = store.new_conversation("middle")
        for i in range(100):
            store.add_user(chat, f"middle prompt {i}")
            answer(store, chat, f"middle answer {i}", model="middle", tokens=i)
        ended = time.time()
    spans = [(began, ended)]
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        spans.append(tuple(map(float, out.split())))
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # they overlapped

    with Store.open(path) as store:
        rows = {c.title: c for c in store.conversations()}
        assert set(rows) == {"left", "right", "middle"}
        for tag, row in rows.items():
            assert row.message_count == 200
            texts = [m.text for m in store.messages(row.id)]
            assert texts[-2:] == [f"{tag} prompt 99", f"{tag} answer 99"]
            assert len(set(texts)) == 200
        assert sum(s.answers for s in store.stats()) == 300
        assert {s.finished for s in store.stats()} == {100}
        assert len(store.search("answer", limit=1000)) == 300
        assert store.integrity() == []


def test_one_store_is_safe_across_threads(store):
    chat = store.new_conversation()
    answer_id = store.start_answer(
        chat,
        provider="p",
        wire="w",
        model="m",
        host=None,
        params=None,
        expected_tokens=None,
        expected_method=None,
    )
    errors: list[BaseException] = []

    def checkpoints() -> None:
        try:
            for i in range(200):
                store.checkpoint(answer_id, text="x" * i, reasoning="", tool_calls=[])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=checkpoints)
    thread.start()
    for i in range(200):
        store.add_user(chat, f"p{i}")
        store.conversations()
    thread.join()
    assert errors == []
    assert store.messages(chat)[0].text == "x" * 199


def test_words_inside_chinese_or_japanese_sentences_are_found(store):
    conversation = store.new_conversation()
    store.add_user(conversation, "q")
    answer(store, conversation, "你好世界，今天天气很好。日本語のテキストです。")
    for word in ("世界", "天气", "テキスト"):
        assert [hit.conversation_id for hit in store.search(word)] == [conversation], word


def test_a_search_of_thousands_of_words_is_still_a_search(store):
    conversation = store.new_conversation()
    store.add_user(conversation, "q")
    answer(store, conversation, "percent % signs")
    assert [h.conversation_id for h in store.search("% " * 3000)] == [conversation]  # LIKE
    assert [h.conversation_id for h in store.search("percent " + "signs " * 3000)] == [conversation]


def test_an_export_closes_a_fence_left_open_by_a_stop(store):
    conversation = store.new_conversation()
    store.add_user(conversation, "code please")
    answer(store, conversation, "Here:\n\n```python\ndef f(", outcome="stopped", tokens_saved=90)
    store.add_user(conversation, "and then?")
    exported = store.export_markdown(conversation)
    assert "```python\ndef f(\n```" in exported
    after = exported.split("def f(\n```", 1)[1]
    assert "## You" in after and "and then?" in after


def test_a_file_with_another_programs_views_or_version_is_refused(tmp_path):
    for setup in ("CREATE VIEW v AS SELECT 1", "PRAGMA user_version = 7"):
        path = tmp_path / f"{abs(hash(setup))}.db"
        with sqlite3.connect(path) as db:
            db.execute(setup)
        before = path.read_bytes()
        with pytest.raises(StoreError, match="not a tokentide history"):
            Store.open(path)
        assert path.read_bytes() == before


def test_answers_nothing_priced_are_priced_again_once_the_config_prices_them(store):
    from tokentide.client.config import Price
    from tokentide.tui.prices import price_answers

    conversation = store.new_conversation()
    store.add_user(conversation, "q")
    answer(store, conversation, model="house-model", tokens=1000, input_tokens=500)
    assert price_answers(store, {}) == 1
    assert store.messages(conversation)[-1].cost_usd is None
    assert price_answers(store, {}) == 0  # looked at once
    price_answers(store, {"house-model": Price(input=1.0, output=2.0)})
    assert store.messages(conversation)[-1].cost_usd == pytest.approx((500 * 1 + 1000 * 2) / 1e6)
