"""The scrolling conversation: follows the stream until the user scrolls away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message

from .layout import LaidOutOnce


class Conversation(LaidOutOnce, VerticalScroll):
    """A VerticalScroll anchored to the bottom.

    Textual's anchor keeps the view at the end while content grows, releases
    when the user scrolls up, and re-engages when they scroll back to the
    end. On top of that the reader needs to know that output arrived below
    while they read above, so a "new output" hint can be shown.
    """

    class AtEnd(Message):
        """The user scrolled back to the end: following again."""

    class LeftEnd(Message):
        """The user scrolled away from the end (posted once until they are back)."""

    @dataclass
    class NewOutput(Message):
        """The content grew below a reader who is not at the end."""

        lines: int
        """Lines added since the reader left the end."""

    def on_mount(self) -> None:
        self._left_at: int | None = None
        """The content's height when the reader left the end; None while following."""
        self.anchor()

    @property
    def following(self) -> bool:
        """At the end (or everything fits: an anchored, short conversation
        sits at the bottom with a negative offset, Textual's own doing)."""
        return self.max_scroll_y <= 0 or self.scroll_y >= self.max_scroll_y - 1

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.following:
            self._left_at = None
            self.post_message(self.AtEnd())
        elif self._left_at is None:
            self._left_at = self.virtual_size.height
            self.post_message(self.LeftEnd())

    def virtual_size_changed(self, old: Size, new: Size) -> None:
        # Judged by whether the reader had left the end, not by the scroll
        # offset against the new size: a resize changes the viewport with the
        # content, and a follower looked like one who fell behind.
        if self._left_at is None:
            return  # following: the anchor keeps the end in view
        if new.width != old.width:
            # Wrapped again at another width (a resize, the history panel):
            # not new output; the lines that were new stay counted.
            self._left_at += new.height - old.height
        elif new.height > old.height:
            self.post_message(self.NewOutput(new.height - self._left_at))

    def _scroll_to(self, *args: Any, **kwargs: Any) -> bool:
        """Textual releases the anchor for every scroll, even one that goes
        nowhere (PageDown at the end): no offset changes, so nothing engages
        it again and the view stopped following. A scroll to the end keeps it."""
        scrolled = super()._scroll_to(*args, **kwargs)
        if self._anchored and self._anchor_released and self.scroll_target_y >= self.max_scroll_y:
            self._anchor_released = False
        return scrolled

    def follow(self) -> None:
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
