"""One layout a growth, not two, and no lines drawn again that did not change.

After laying the screen out, Textual sets each widget's `virtual_size`, a
reactive that asks for *another* layout when it changes. For a widget whose
virtual size follows from that layout (it does not scroll, or it scrolls with
a stable gutter, so its width never changes with its content) the second
pass places everything where the first did, and a streamed answer pays for a
full-screen layout twice on every growth. Mixed into such widgets, this keeps
the new virtual size without asking for the second layout.

Textual also throws away every rendered line of a widget whose size changed.
A streamed answer grows several times a second, and the answer, the message
around it and the lines above it are all drawn again each time: measured at
200 tok/s, that was half of what a growth cost. Lines above the new bottom
edge are the same at the same width (no bottom border or padding moved over
them), so they are kept.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.strip import Strip


class LaidOutOnce:
    """A mixin (not a Widget: a Widget base would put Widget's default CSS,
    `overflow: hidden` among it, ahead of the widget class's own)."""

    virtual_size: Size

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        old = self.virtual_size
        kept = self._lines_to_keep(size)
        changed = super()._size_updated(  # type: ignore[misc]
            size, virtual_size, container_size, layout=False
        )
        if kept:
            cache = self._styles_cache  # type: ignore[attr-defined]
            cache._cache.update(kept)
            cache._dirty_lines.difference_update(kept)
        if virtual_size != old:
            self.virtual_size_changed(old, virtual_size)
        return changed

    def _lines_to_keep(self, size: Size) -> dict[int, Strip]:
        """Rendered lines still right after a change of height alone: those
        above the lower of the two bottom gutters, and not already marked
        for a redraw."""
        old: Size = self._size  # type: ignore[attr-defined]
        if old == size or old.width != size.width:
            return {}
        cache = self._styles_cache  # type: ignore[attr-defined]
        limit = min(old.height, size.height) - self.styles.gutter.bottom  # type: ignore[attr-defined]
        dirty = cache._dirty_lines
        return {y: strip for y, strip in cache._cache.items() if y < limit and y not in dirty}

    def virtual_size_changed(self, old: Size, new: Size) -> None:
        """What a `watch_virtual_size` would do (the reactive is set silently)."""
