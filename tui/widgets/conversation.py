"""The scrolling conversation: follows the stream until the user scrolls away."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.message import Message


class Conversation(VerticalScroll):
    """A VerticalScroll anchored to the bottom.

    Textual's anchor keeps the view at the end while content grows, releases
    when the user scrolls up, and re-engages when they scroll back to the
    end. This widget adds the one thing a reader needs on top: knowing that
    output arrived below, so a "new output" hint can be shown.
    """

    class AtEnd(Message):
        """The user scrolled back to the end: following again."""

    def on_mount(self) -> None:
        self.anchor()

    @property
    def following(self) -> bool:
        """At the end (or everything fits: an anchored, short conversation
        sits at the bottom with a negative offset, Textual's own doing)."""
        return self.max_scroll_y <= 0 or self.scroll_y >= self.max_scroll_y - 1

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.following:
            self.post_message(self.AtEnd())

    def follow(self) -> None:
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
