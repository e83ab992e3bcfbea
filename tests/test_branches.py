"""Alternatives in the history and in the conversation's tree: the m006
migration on an older file, rows written as a tree, and the tree read back
(chosen path, alternatives, failures that are retried)."""

from __future__ import annotations

import sqlite3

from tokentide.client.events import Message
from tokentide.tui.branches import ANSWER, PROMPT, Branches
from tokentide.tui.chat_history import tree_of
from tokentide.tui.store import MIGRATIONS, AnswerRecord, Store, m006_branches, migrate
from tokentide.tui.turn import Outcome, PastTurn

NOW = "'2026-01-01T00:00:00.000+00:00'"


def answer(store: Store, chat: int, text: str, parent: int, outcome: str = "finished") -> int:
    row = store.start_answer(
        chat,
        provider="p",
        wire="openai",
        model="m",
        host=None,
        params={},
        expected_tokens=None,
        expected_method=None,
        parent_id=parent,
    )
    store.finish_answer(row, AnswerRecord(outcome=outcome, text=text))
    return row


def path_texts(tree: Branches) -> list[tuple[str, str]]:
    return [(a.prompt.text, a.turn.message.text) for a in tree.path()]


def test_a_file_from_before_branches_gains_them_and_reads_as_one_line(tmp_path):
    """An older history opens: its conversations become one line (each message
    follows the one before it, all chosen) and new messages branch from them."""
    path = tmp_path / "history.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[: MIGRATIONS.index(m006_branches)])
    db.execute(f"INSERT INTO conversations VALUES (5, 'old', {NOW}, {NOW}, NULL, NULL, NULL, NULL)")
    for role, outcome, text in [
        ("user", None, "q1"),
        ("assistant", "finished", "a1"),
        ("user", None, "q2"),
        ("assistant", "stopped", "a2"),
    ]:
        db.execute(
            "INSERT INTO messages (conversation_id, role, outcome, created_at, text) "
            f"VALUES (5, ?, ?, {NOW}, ?)",
            (role, outcome, text),
        )
    db.execute(
        f"INSERT INTO conversations VALUES (6, 'other', {NOW}, {NOW}, NULL, NULL, NULL, NULL)"
    )
    db.execute(
        f"INSERT INTO messages (conversation_id, role, created_at, text) VALUES (6, 'user', {NOW}, 'x')"
    )
    columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    assert "parent_id" not in columns
    db.close()

    with Store.open(path) as store:
        rows = store.messages(5)
        assert [(r.parent_id, r.chosen) for r in rows] == [
            (None, True),
            (1, True),
            (2, True),
            (3, True),
        ]
        assert store.messages(6)[0].parent_id is None  # not the other conversation's last
        tree = tree_of(rows)
        assert path_texts(tree) == [("q1", "a1"), ("q2", "a2")]
        assert tree.path()[1].turn.outcome is Outcome.STOPPED

        again = answer(store, 5, "a1 again", parent=1)  # a regeneration of a1
        tree = tree_of(store.messages(5))
        assert path_texts(tree) == [("q1", "a1 again")]
        assert tree.alternatives(0, ANSWER) == (2, 2)
        store.choose(2)
        tree = tree_of(store.messages(5))
        assert path_texts(tree) == [("q1", "a1"), ("q2", "a2")]
        assert tree.alternatives(0, ANSWER) == (1, 2)
        assert again in [r.id for r in store.messages(5)]
        store.add_user(5, "q3")  # no parent given: after the last message, as ask writes
        assert store.messages(5)[-1].parent_id == again


def test_edits_branch_from_the_answer_before_and_keep_their_own_choices(tmp_path):
    with Store.open(tmp_path / "h.db") as store:
        chat = store.new_conversation()
        q1 = store.add_user(chat, "q1", parent_id=None)
        a1 = answer(store, chat, "a1", q1)
        q2 = store.add_user(chat, "q2", parent_id=a1)
        a2 = answer(store, chat, "a2", q2)
        answer(store, chat, "a2 b", q2)
        q2e = store.add_user(chat, "q2 edited", parent_id=a1)
        answer(store, chat, "e", q2e)
        tree = tree_of(store.messages(chat))
        assert path_texts(tree) == [("q1", "a1"), ("q2 edited", "e")]
        assert tree.alternatives(1, PROMPT) == (2, 2)
        tree.switch(1, PROMPT, -1)
        # The old branch comes back with the answer it had chosen.
        assert path_texts(tree) == [("q1", "a1"), ("q2", "a2 b")]
        store.choose(q2)
        assert path_texts(tree_of(store.messages(chat))) == [("q1", "a1"), ("q2", "a2 b")]
        store.choose(a2)
        assert path_texts(tree_of(store.messages(chat))) == [("q1", "a1"), ("q2", "a2")]


def test_a_retried_failure_is_no_alternative_but_a_failed_regeneration_is_until_left(tmp_path):
    with Store.open(tmp_path / "h.db") as store:
        chat = store.new_conversation()
        q1 = store.add_user(chat, "q1")
        answer(store, chat, "", q1, outcome="failed")
        answer(store, chat, "ok", q1)
        tree = tree_of(store.messages(chat))
        assert path_texts(tree) == [("q1", "ok")]
        assert tree.alternatives(0, ANSWER) == (1, 1)

        answer(store, chat, "", q1, outcome="failed")  # regenerating "ok" failed
        tree = tree_of(store.messages(chat))
        assert tree.alternatives(0, ANSWER) == (2, 2)
        assert tree.path()[0].failed
        tree.switch(0, ANSWER, -1)
        assert path_texts(tree) == [("q1", "ok")]
        assert tree.alternatives(0, ANSWER) == (1, 1)


def test_a_prompt_whose_answer_never_started_keeps_what_followed_it(tmp_path):
    with Store.open(tmp_path / "h.db") as store:
        chat = store.new_conversation()
        store.add_user(chat, "lost")  # the app closed before the answer started
        q2 = store.add_user(chat, "q2")
        answer(store, chat, "a2", q2)
        tree = tree_of(store.messages(chat))
        path = tree.path()
        assert [a.prompt.text for a in path] == ["lost", "q2"]
        assert path[0].metrics is None and path[0].row_id is None  # drawn hidden
        assert path[0].hangs() == path[0].prompt.row_id


def test_plans_send_the_chosen_path_as_context():
    tree = Branches()

    def answered(plan, text: str) -> None:
        asked = Message("user", plan.prompt.text)
        plan.answer.turn = PastTurn(asked, Message("assistant", text), Outcome.FINISHED)

    first = tree.follow_up("q1")
    assert first.history == [] and first.new_prompt
    answered(first, "a1")
    second = tree.follow_up("q2")
    answered(second, "a2")
    again = tree.regenerate(0)
    assert again.history == [] and not again.new_prompt and again.prompt is first.prompt
    answered(again, "a1 b")
    assert path_texts(tree) == [("q1", "a1 b")]
    assert tree.switch(0, ANSWER, 1) is first.answer  # wraps round
    assert path_texts(tree) == [("q1", "a1"), ("q2", "a2")]
    edit = tree.edit(1, "q2 b")
    assert [t.message.text for t in edit.history] == ["a1"] and edit.index == 1
    cont = tree.regenerate(0, continues="a1")
    assert cont.continues == "a1" and cont.history == []


def test_the_markdown_transcript_is_the_chosen_branch_and_json_keeps_every_version(tmp_path):
    from tokentide.tui.store import chosen_path

    with Store.open(tmp_path / "h.db") as store:
        chat = store.new_conversation()
        q1 = store.add_user(chat, "q1", parent_id=None)
        a1 = answer(store, chat, "first answer", q1)
        answer(store, chat, "second answer", q1)
        q2 = store.add_user(chat, "q2", parent_id=a1)
        answer(store, chat, "a2", q2)
        store.choose(a1)  # back to the first answer, which q2 follows
        rows = store.messages(chat)
        assert [r.text for r in chosen_path(rows)] == ["q1", "first answer", "q2", "a2"]
        text = store.export_markdown(chat)
        assert "first answer" in text and "a2" in text and "second answer" not in text
        assert "the chosen branch (1 other version in the JSON export)" in text
        assert len(store.export_json(chat)["messages"]) == 5
