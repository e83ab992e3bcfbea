"""Snapshots of the app's main screens (pytest-textual-snapshot): each is
the real app reaching a state by the steps in tests/scenes.py - the same
steps that draw the README's screenshots - compared with the SVG stored
under tests/__snapshots__/. A failing test writes snapshot_report.html
showing both pictures; after a deliberate change, accept the new ones with
`.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update`
(and run `screenshots/make.py` so the README shows the same).

The scenes fix what would differ between runs (time follows the demo
server's schedule, a streaming answer is caught at a fixed token, files and
time zone are a temporary directory's and UTC): a difference is a change in
what the user sees."""

from __future__ import annotations

import pytest

from tests.scenes import SHOTS, SIZE, merged_backgrounds, stage, steady


@pytest.fixture
def shoot(snap_compare, monkeypatch):
    """Compare the named scene's picture with its snapshot (background cells
    merged: `merged_backgrounds`)."""
    import textual._doc

    taken = textual._doc.take_svg_screenshot
    monkeypatch.setattr(
        textual._doc, "take_svg_screenshot", lambda *a, **k: merged_backgrounds(taken(*a, **k))
    )

    def compare(name: str) -> bool:
        shot = SHOTS[name]
        with stage() as world:
            scene = steady(shot.scene(world))  # first: it may write the history or config
            app = world.app(shot.model, theme=shot.theme)
            return snap_compare(app, terminal_size=SIZE, run_before=scene)

    return compare


def test_streaming_answer_with_code_and_a_table(shoot):
    """You should see an answer streaming: prose, a numbered Python code block and
    a table cut after its third row's second cell, with the status line at
    TTFT 350 ms · ~205 tokens · 80.0 tok/s and Esc Stop in the key bar."""
    assert shoot("streaming")


def test_stopped_answer_with_tokens_saved_and_cost(shoot):
    """You should see the same answer stopped there: its footer reads stopped ·
    ~205 tokens received · ~395 saved with the cost and what was not spent."""
    assert shoot("stopped")


def test_tool_call_streaming_as_json(shoot):
    """You should see get_weather's arguments as pretty JSON, only "city" so far."""
    assert shoot("tool-call")


def test_conversation_list(shoot):
    """You should see Ctrl+B's panel: five conversations, newest first, dated
    2025-01-05 down to 2025-01-01 09:00."""
    assert shoot("conversations")


def test_model_picker(shoot):
    """You should see the three demo models twice, under demo and lab, the
    current one marked."""
    assert shoot("model-picker")


def test_keys_help(shoot):
    """You should see F1's list of keys, grouped, starting with Anywhere."""
    assert shoot("keys")


def test_stats(shoot):
    """You should see Stats: this session's one demo answer (350 ms, 80.0 tok/s,
    ITL 12.5 ms, 247 tokens, $0.0037), the history's six answers with their
    cost, and under them demo's TTFT (300-380 ms, 10 ms bars) and tokens/s
    (70-80 tok/s) distributions as bar charts."""
    assert shoot("stats")


def test_finished_race(shoot):
    """You should see one prompt raced by demo and demo-think in two columns,
    both finished: each lane's header with its number, model, TTFT 350 ms,
    80.0 tok/s, tokens, cost, ✔ finished and the key that keeps it, the race
    bar above the prompt saying how to keep a lane."""
    assert shoot("race")


@pytest.mark.parametrize("name", ["theme-dark", "theme-light"])
def test_themes(shoot, name):
    """You should see a finished answer with its code block and table in
    tokentide-dark, then in tokentide-light."""
    assert shoot(name)
