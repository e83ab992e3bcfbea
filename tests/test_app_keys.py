"""Keys, copying, focus and notices in the chat app, under Textual's Pilot
against the real demo server over loopback."""

from __future__ import annotations

from tokentide.client.meter import Expectation, Metrics, TokensSaved
from tokentide.tui import format as fmt


def test_a_stopped_answers_estimated_count_is_marked():
    saved = TokensSaved(40, Expectation(100, "max_tokens"))
    counted = Metrics(10.0, 5.0, 100.0, 60, estimated=False, tokens_saved=saved)
    guessed = Metrics(10.0, 5.0, 100.0, 60, estimated=True, tokens_saved=saved)
    assert fmt.stopped(counted) == "stopped · 60 tokens received · ~40 saved"
    assert fmt.stopped(guessed) == "stopped · ~60 tokens received · ~40 saved"
