"""The app's own palette commands (Ctrl+P): each is found by typing its name,
run with Enter, and checked by its effect - the exported file's exact text,
the Stats screen's rows - under Textual's Pilot against the real demo server
and a real SQLite history in a temporary directory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import Command, CommandList, CommandPalette
from textual.widgets import Static

from tests.pilot import answers, make_app, screen_text, send, wait_idle
from tokentide.client.demo import DemoServer
from tokentide.tui.screens.app_commands import COMMANDS
from tokentide.tui.screens.stats import StatsScreen
from tokentide.tui.store import AnswerRecord, ConversationRow, MessageRow, Store
from tokentide.tui.widgets.history_panel import HistoryPanel

SIZE = (110, 34)


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """The directory the app is started in: where exports go."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


async def until(pilot, check: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Let the app run until `check()` holds (palette searches and exports run
    in workers and threads; each pause lets them on)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


SHORT = {
    "New chat": "new ch",
    "Toggle conversation list": "toggle",
    "Export conversation as Markdown": "exp mark",
    "Export conversation as JSON": "exp json",
    "Stats": "stats",
}
"""What a user types to find each command (a few letters: the search is fuzzy)."""


async def run_command(pilot, name: str) -> Command:
    """Ctrl+P, type a few letters of `name`, Enter on the command of exactly
    that name: as a user does."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*SHORT[name])
    commands = app.screen.query_one(CommandList)

    def found() -> int | None:
        for index in range(commands.option_count):
            option = commands.get_option_at_index(index)
            if isinstance(option, Command) and str(option.hit.text) == name:
                return index
        return None

    await until(pilot, lambda: found() is not None, f"the command {name!r}")
    index = found()
    assert index is not None
    command = commands.get_option_at_index(index)
    commands.highlighted = index
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette to close")
    return command  # type: ignore[return-value]


def notes(app, title: str) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == title]


async def exported(pilot, name: str) -> Path:
    """Run an Export command; the file its notice names."""
    app = pilot.app
    before = len(notes(app, "Exported"))
    await run_command(pilot, name)
    await until(pilot, lambda: len(notes(app, "Exported")) > before, "the Exported notice")
    return Path(notes(app, "Exported")[-1])


async def chat(pilot, server: DemoServer, prompt: str, answer: str) -> None:
    server.script(answer)
    await send(pilot, prompt)
    await wait_idle(pilot)


# --------------------------------------------------------------------------- the list


async def test_every_app_command_is_found_by_name_and_has_a_help_line(server):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "hi", "Hello.")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        palette = app.screen
        commands = palette.query_one(CommandList)
        wanted = [name for name, *_ in COMMANDS] + [
            "Switch model…",
            "System prompt…",
            "Theme",
            "Copy answer",
        ]

        def shown() -> dict[str, str]:
            return {
                str(option.hit.text): str(option.hit.help or "")
                for index in range(commands.option_count)
                if isinstance(option := commands.get_option_at_index(index), Command)
            }

        # Opened empty, the palette lists what it can do: these among them.
        await until(pilot, lambda: set(wanted) <= set(shown()), "every command listed")
        helps = shown()
        assert all(helps[name] for name in wanted), helps
        assert "Ctrl+B" in helps["Toggle conversation list"]


async def test_new_chat_and_the_conversation_list_from_the_palette(server, history_file):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "first question", "First answer.")
        await run_command(pilot, "Toggle conversation list")
        panel = app.screen.query_one(HistoryPanel)
        assert panel.is_open
        await run_command(pilot, "Toggle conversation list")
        assert not panel.is_open
        await run_command(pilot, "New chat")
        assert answers(app) == []
        assert app.screen.turns == []
        await chat(pilot, server, "second question", "Second answer.")
        assert server.requests[-1].body["messages"] == [
            {"role": "user", "content": "second question"}
        ]


# --------------------------------------------------------------------------- export


async def test_export_as_markdown_writes_the_conversation_in_the_current_directory(
    server, history_file, workdir
):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "What is 2 + 2?", "It is **4**.")
        await chat(pilot, server, "And in Python?", "```python\nprint(2 + 2)\n```")
        path = await exported(pilot, "Export conversation as Markdown")
    assert path == workdir / "tokentide-1-what-is-2-2.md"
    with Store.open(history_file) as store:
        started = store.conversation(1).created_at
    assert path.read_text(encoding="utf-8") == (
        "# What is 2 + 2?\n\n"
        f"tokentide conversation 1 · started {started}\n\n"
        "## You\n\nWhat is 2 + 2?\n\n"
        "## Assistant (demo · finished)\n\nIt is **4**.\n\n"
        "## You\n\nAnd in Python?\n\n"
        "## Assistant (demo · finished)\n\n```python\nprint(2 + 2)\n```\n"
    )


async def test_export_as_json_has_every_stored_field_and_never_replaces_a_file(
    server, history_file, workdir
):
    taken = workdir / "tokentide-1-hello.json"
    taken.write_text("the user's own file")
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "hello", "Hi there.")
        first = await exported(pilot, "Export conversation as JSON")
        second = await exported(pilot, "Export conversation as JSON")
    assert taken.read_text() == "the user's own file"
    assert (first, second) == (
        workdir / "tokentide-1-hello-2.json",
        workdir / "tokentide-1-hello-3.json",
    )
    assert first.read_text() == second.read_text()
    document = json.loads(first.read_text(encoding="utf-8"))
    assert document["format"] == "tokentide-conversation"
    assert document["conversation"]["id"] == 1
    assert document["conversation"]["title"] == "hello"
    assert [(m["role"], m["text"], m["outcome"]) for m in document["messages"]] == [
        ("user", "hello", None),
        ("assistant", "Hi there.", "finished"),
    ]
    assert document["messages"][1]["ttft_ms"] > 0


async def test_without_history_the_conversation_on_screen_is_exported(
    server, tmp_path, monkeypatch, workdir
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(blocker / "history.db"))
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "Name a prime", "**7** is prime.")
        assert app.screen.history.store is None
        markdown = await exported(pilot, "Export conversation as Markdown")
        as_json = await exported(pilot, "Export conversation as JSON")
    assert markdown == workdir / "tokentide-name-a-prime.md"
    assert markdown.read_text(encoding="utf-8") == (
        "# Name a prime\n\n"
        "tokentide conversation · not in the history\n\n"
        "## You\n\nName a prime\n\n"
        "## Assistant (demo · finished)\n\n**7** is prime.\n"
    )
    document = json.loads(as_json.read_text(encoding="utf-8"))
    # The same keys as an export from the history, so one reader reads both.
    assert set(document["conversation"]) == {f for f in ConversationRow.__dataclass_fields__}
    for message in document["messages"]:
        assert set(message) == set(MessageRow.__dataclass_fields__)
    user, answer = document["messages"]
    assert (user["role"], user["text"]) == ("user", "Name a prime")
    assert (answer["role"], answer["model"], answer["outcome"]) == ("assistant", "demo", "finished")
    assert answer["text"] == "**7** is prime."
    assert answer["finish_reason"] == "stop"
    assert answer["tokens_received"] > 0 and answer["ttft_ms"] > 0


async def test_an_export_from_a_deleted_directory_goes_to_the_data_directory(
    server, history_file, tmp_path, workdir
):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "where", "Here.")
        workdir.rmdir()  # the shell's directory removed under the running app
        path = await exported(pilot, "Export conversation as Markdown")
    assert path == tmp_path / "xdg-data" / "tokentide" / "exports" / "tokentide-1-where.md"
    assert "## Assistant (demo · finished)\n\nHere.\n" in path.read_text()


async def test_an_empty_conversation_has_nothing_to_export(server, workdir):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_command(pilot, "Export conversation as Markdown")
        await until(pilot, lambda: notes(app, "Export"), "the notice")
        assert notes(app, "Export") == ["Nothing to export yet: this conversation is empty."]
    assert list(workdir.iterdir()) == []


# --------------------------------------------------------------------------- stats


def seed(path: Path, when: float) -> None:
    """Three answers of another model recorded before the app starts: fixed
    figures, so the history's row can be checked to the digit."""
    with Store.open(path) as store:
        store.clock = lambda: when
        conversation = store.new_conversation("earlier")
        for ttft, rate, outcome, saved in (
            (200.0, 40.0, "finished", None),
            (300.0, 50.0, "stopped", 40),
            (400.0, 60.0, "finished", None),
        ):
            store.add_user(conversation, "q")
            answer = store.start_answer(
                conversation,
                provider="local",
                wire="openai",
                model="local-model",
                host="127.0.0.1",
                params=None,
                expected_tokens=None,
                expected_method=None,
            )
            store.finish_answer(
                answer,
                AnswerRecord(
                    text="a",
                    outcome=outcome,
                    tokens_received=100,
                    counted=True,
                    tokens_saved=saved,
                    ttft_ms=ttft,
                    tokens_per_s=rate,
                ),
            )


async def test_stats_shows_this_session_and_the_whole_history(server, history_file, isolated_env):
    config = isolated_env / "xdg-config" / "tokentide" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[prices."demo"]\ninput = 1000000\noutput = 1000000\n')  # $1 a token
    seed(history_file, time.time() - 3600)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "count", " ".join(f"word{n}" for n in range(40)))
        await run_command(pilot, "Stats")
        await until(pilot, lambda: isinstance(app.screen, StatsScreen), "the Stats screen")
        await pilot.pause()
        screen = app.screen
        session = [line.strip() for line in screen_text(app, screen.query_one("#session"))]
        history = [line.strip() for line in screen_text(app, screen.query_one("#history"))]
        charts = [
            [line.rstrip() for line in screen_text(app, chart)]
            for chart in screen.query(".chart").results(Static)
        ]
        turn = app.chat_screen().turns[-1]
        metrics, usage = turn.metrics(), turn.message.usage
        await pilot.press("escape")
        assert not isinstance(app.screen, StatsScreen)

    assert session[0].split() == [
        "model", "answers", "stopped", "TTFT", "p50", "TTFT", "p90", "tok/s", "p50",
        "ITL", "p50", "tokens", "saved", "cost",
    ]  # fmt: skip
    tokens = metrics.tokens_received
    ttft = f"{metrics.ttft_ms:.0f}"
    # This session: the one answer, priced from the config file ($1 a token);
    # the figures are the footer's own.
    assert session[1].split() == [
        "demo", "1", "0", ttft, "ms", ttft, "ms", f"{metrics.tokens_per_s:.1f}",
        f"{metrics.itl_p50_ms:.1f}", "ms", str(tokens), "–", f"${tokens + usage.input_tokens:.2f}",
    ]  # fmt: skip
    # All history: the seeded model (no price: a local server; p90 of 200, 300 and
    # 400 ms interpolates to 380), the session's, and a total.
    rows = {line.split()[0]: line.split() for line in history[1:]}
    assert rows["local-model"] == [
        "local-model", "3", "1", "300", "ms", "380", "ms", "50.0", "–", "300", "~40", "–"
    ]  # fmt: skip
    assert rows["demo"][:3] == ["demo", "1", "0"]
    assert rows["all"] == [
        "all",
        "2",
        "models",
        "4",
        "1",
        str(300 + tokens),
        "~40",
        rows["demo"][-1],
    ]
    # Under the table, per model (most answers first), its TTFT and tokens/s
    # distributions: 200, 300 and 400 ms in 25 ms ranges, the fullest bar full.
    titles = [chart[0].strip() for chart in charts]
    assert titles == [
        "local-model · TTFT",
        "local-model · tokens/s",
        "demo · TTFT",
        "demo · tokens/s",
    ]
    ttfts = charts[0][1:]
    assert [line.split()[0] for line in ttfts] == [
        f"{low}–{low + 25}" for low in range(200, 400, 25)
    ]
    assert ttfts[0].endswith("ms " + "█" * 16 + " 1") and ttfts[1].endswith("ms " + " " * 16 + " 0")
    assert sum(int(line.split()[-1]) for line in charts[1][1:]) == 3
    assert charts[2][1:] == [f"{metrics.ttft_ms:.4g} ms " + "█" * 16 + " 1"]


async def test_stats_without_history_says_so_and_keeps_the_session_line(
    server, tmp_path, monkeypatch
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(blocker / "history.db"))
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await chat(pilot, server, "count", "one two three")
        await run_command(pilot, "Stats")
        await until(pilot, lambda: isinstance(app.screen, StatsScreen), "the Stats screen")
        await pilot.pause()
        text = "\n".join(screen_text(app))
        line = app.screen.figures.session_line
    assert line.startswith("session: 1 answer · ")
    assert line in text
    assert "history off: nothing recorded to count" in text
