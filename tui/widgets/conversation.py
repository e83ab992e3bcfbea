"""The scrolling conversation: follows the stream until the user scrolls away."""

from __future__ import annotations

from dataclasses import dataclass

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
        # Judged against the old size: at the moment it grows, the anchor has
        # not yet scrolled, so a follower looks like it fell behind.
        was_end = max(0, old.height - self.scrollable_content_region.height)
        if new.height > old.height and was_end > 0 and self.scroll_y < was_end - 1:
            if self._left_at is None:
                self._left_at = old.height
            self.post_message(self.NewOutput(new.height - self._left_at))

    def follow(self) -> None:
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
