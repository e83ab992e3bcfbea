"""Cut a growing Markdown text into top-level blocks, freezing each once it is final.

A streamed answer is re-read from the start of its last open block only: a
block is final as soon as another block starts after it on a complete line
(CommonMark decides block starts line by line, so a later line can change the
open block - a setext underline, a table's delimiter row, a lazy
continuation - but never one that another block already followed). A
partial last line is never trusted to start a block: "#" may yet become
"#hashtag", "***" may yet become "***bold***".

An open fenced code block is not re-parsed at all: its new lines are only
checked for the closing fence, so a 50 KB fence costs per line, not per
frame. Nothing here renders; `render.py` turns blocks into lines.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough, as LLMs write it (shared: building one
    costs; imported at the first answer, not before the app's first frame)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("strikethrough").enable("table")


@dataclass(frozen=True)
class Block:
    """One top-level block's source, without the blank lines around it."""

    source: str
    fence: bool = False
    """A fenced code block (rendered by `code.py`)."""


_FENCE_OPEN = re.compile(r" {0,3}(?:(`{3,})[^`\n]*|(~{3,})[^\n]*)")
"""A fence's opening line (CommonMark: a backtick fence's info string has no backtick)."""


def _opens_fence(line: str) -> str | None:
    """The fence marker if `line` opens a fenced code block."""
    match = _FENCE_OPEN.fullmatch(line.rstrip("\r"))
    return (match.group(1) or match.group(2)) if match else None


@dataclass
class _OpenFence:
    marker: str  # "```" or "~~~~" and longer
    scanned: int  # offset in the tail up to which lines were checked

    def closes(self, line: str) -> bool:
        """A closing fence: the same character, at least as long, nothing after (CommonMark)."""
        stripped = line.rstrip(" \t\r")
        if len(line) - len(line.lstrip(" ")) > 3:
            return False
        stripped = stripped.lstrip(" ")
        char = self.marker[0]
        return len(stripped) >= len(self.marker) and stripped == char * len(stripped)


class BlockSplitter:
    """Feed text as it arrives; get the blocks that became final and the open tail."""

    def __init__(self) -> None:
        self._tail = ""
        self._fence: _OpenFence | None = None
        self._split_done = False
        """The tail's complete lines were parsed as they are now: text without
        a line end leaves them as they are, and is not parsed again (most
        frames at 200 tok/s add a few words to the partial last line)."""

    @property
    def tail(self) -> str:
        """The open block's source so far (may end in a partial line)."""
        return self._tail

    @property
    def in_fence(self) -> bool:
        """The open block is a fenced code block whose closing fence has not come."""
        return self._fence is not None

    def feed(self, text: str) -> list[Block]:
        """Take `text`; return the blocks it made final, oldest first."""
        self._tail += text
        if self._split_done and "\n" not in text:
            return []
        self._split_done = False
        done: list[Block] = []
        while True:
            if self._fence is not None:
                closed = self._scan_fence()
                if closed is None:
                    return done
                done.append(closed)
                continue
            frozen, more = self._split()
            done.extend(frozen)
            if not more:
                self._split_done = True
                return done

    def finish(self) -> list[Block]:
        """The end of the text: the open block is final too (an unclosed fence included)."""
        done = self.feed("\n")  # the last line is complete now
        source = self._tail.strip("\n")
        if source.strip():
            fence = self._fence is not None or _opens_fence(source.split("\n", 1)[0]) is not None
            done.append(Block(source, fence=fence))
        self._tail, self._fence, self._split_done = "", None, False
        return done

    def _scan_fence(self) -> Block | None:
        """Check the open fence's new complete lines; the fence block if one closes it."""
        fence = self._fence
        assert fence is not None
        tail = self._tail
        start = fence.scanned
        while (end := tail.find("\n", start)) >= 0:
            if fence.closes(tail[start:end]):
                block = Block(tail[:end], fence=True)
                self._tail, self._fence = tail[end + 1 :], None
                return block
            start = end + 1
        fence.scanned = start
        return None

    def _split(self) -> tuple[list[Block], bool]:
        """Parse the tail; freeze every block another block follows on a complete
        line. Returns the frozen blocks and whether an open fence was entered
        (its lines then need scanning)."""
        lines = self._tail.split("\n")
        complete = len(lines) - 1  # the last element is the partial line ("" if none)
        if not complete:
            return [], False
        # Only complete lines decide where blocks start, so only they are parsed.
        starts = [
            token.map[0]
            for token in parser().parse("\n".join(lines[:complete]) + "\n")
            if token.level == 0 and token.nesting >= 0 and token.map is not None
        ]
        if not starts:
            return [], False
        frozen = [
            Block(source, fence=_opens_fence(lines[begin]) is not None)
            for begin, end in itertools.pairwise(starts)
            if (source := "\n".join(lines[begin:end]).strip("\n"))
        ]
        last = starts[-1]
        self._tail = "\n".join(lines[last:])
        marker = _opens_fence(lines[last])
        if marker is not None:
            # An open fence from here on: only its closing line matters.
            self._fence = _OpenFence(marker, len(lines[last]) + 1)
            return frozen, True
        return frozen, False
