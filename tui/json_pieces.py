"""JSON written in pieces, so that a large answer is never copied whole.

`json.dumps(answer)` escapes the answer's text into one new string, the
caller adds the newline (a second copy) and the file encodes it (a third).
An answer at the 32 MB limit made of control characters, each escaped as
six (`\\u0001`), took `ask --json` to 1 GB. Here each string is escaped in
slices of `SLICE` characters and written as it goes; the text written is
exactly `json.dumps(value, ensure_ascii=False)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

SLICE = 1 << 16
"""Characters escaped at a time; escaping is per character, so a slice may end anywhere."""


def pieces(value: Any, depth: int = 4) -> Iterator[str]:
    """`json.dumps(value, ensure_ascii=False)` as a series of pieces.

    Dicts and lists are walked `depth` levels deep (the answer, its tool
    calls, a call: where the large strings are); anything deeper, or a dict
    with keys that are not strings, is dumped whole as before.
    """
    if isinstance(value, str):
        if len(value) <= SLICE:
            yield encode_basestring(value)
            return
        yield '"'
        for start in range(0, len(value), SLICE):
            yield encode_basestring(value[start : start + SLICE])[1:-1]
        yield '"'
    elif depth > 0 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + encode_basestring(key) + ": "
            yield from pieces(item, depth - 1)
        yield "}"
    elif depth > 0 and isinstance(value, list | tuple):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from pieces(item, depth - 1)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)
