"""Text as servers send it, made valid before anything stores or shows it.

JSON may escape one character outside the Basic Multilingual Plane (an emoji)
as two `\\uXXXX` surrogate halves, and a server may split those halves over two
stream events; one alone, or an unpaired one from a broken server, is not
text: UTF-8 cannot encode it, so a database, a terminal or a file would
refuse it. A trailing high half is held for the next piece; pairs are joined
into their character, and what stays unpaired becomes U+FFFD.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


class Surrogates:
    """Joins surrogate halves across the pieces of one stream of text."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        if not _SURROGATE.search(text):
            return text
        if "\ud800" <= text[-1] <= "\udbff":  # a high half: its pair may come next
            text, self._held = text[:-1], text[-1]
        return valid(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return valid(held)


def valid(text: str) -> str:
    """`text` with surrogate pairs joined and lone halves replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
