"""One layout a growth, not two.

After laying the screen out, Textual sets each widget's `virtual_size`, a
reactive that asks for *another* layout when it changes. For a widget whose
virtual size follows from that layout (it does not scroll, or it scrolls with
a stable gutter, so its width never changes with its content) the second
pass places everything where the first did, and a streamed answer pays for a
full-screen layout twice on every growth. Mixed into such widgets, this keeps
the new virtual size without asking for the second layout.
"""

from __future__ import annotations

from textual.geometry import Size


class LaidOutOnce:
    """A mixin (not a Widget: a Widget base would put Widget's default CSS,
    `overflow: hidden` among it, ahead of the widget class's own)."""

    virtual_size: Size

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        old = self.virtual_size
        changed = super()._size_updated(  # type: ignore[misc]
            size, virtual_size, container_size, layout=False
        )
        if virtual_size != old:
            self.virtual_size_changed(old, virtual_size)
        return changed

    def virtual_size_changed(self, old: Size, new: Size) -> None:
        """What a `watch_virtual_size` would do (the reactive is set silently)."""
