"""`ask --json` writes the answer in pieces; the text is json.dumps's, exactly."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tokentide.tui.json_pieces import SLICE, pieces

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_the_pieces_are_json_dumps(value):
    assert "".join(pieces(value)) == json.dumps(value, ensure_ascii=False)


@given(st.text(alphabet='a\x01\n"\\\u2028\ud800é😀', min_size=1, max_size=50), st.integers(1, 7))
def test_a_long_string_is_escaped_in_slices_to_the_same_text(unit, repeat):
    text = unit * (SLICE // len(unit) * repeat + 1)
    answer = {"text": text, "tool_calls": [{"arguments_raw": text, "arguments": None}]}
    written = list(pieces(answer))
    assert "".join(written) == json.dumps(answer, ensure_ascii=False)
    assert max(map(len, written)) <= 6 * SLICE  # no piece holds a whole escaped string


def test_values_deeper_than_the_walk_are_dumped_whole_and_the_same():
    value = {"tool_calls": [{"arguments": {"a": ["x" * (3 * SLICE)]}}]}
    assert "".join(pieces(value)) == json.dumps(value, ensure_ascii=False)


def test_keys_that_are_not_strings_are_dumped_as_json_dumps_does():
    value = {"a": {1: "x", None: "y"}, "b": (1, 2)}
    assert "".join(pieces(value)) == json.dumps(value, ensure_ascii=False)
