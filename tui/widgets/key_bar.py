"""The key bar: Textual's Footer, without its leak.

Each time the bindings change (twice an answer, at least) the Footer
recomposes, and every new key's `compact` is bound to the footer's; the
bindings of the keys it removed are never dropped, and each keeps its
removed key alive with all its styles and caches. Measured in the app: about
55 dead keys an answer, 1.1 MB, so 200 answers took the app from 86 to 282
MiB. Dropping the bindings of keys no longer in the bar after each
recompose keeps it flat.

And a recompose is skipped when the keys it would show are the keys shown:
sending a prompt changes the bindings several times (focus, the streaming
state), and each recompose mounts and styles some 30 keys, about 40 ms on
the path from Enter to the request (measured: 87 key restylings per send).
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyBar(Footer):
    _shown: tuple | None = None

    def _keys(self) -> tuple:
        """What `Footer.compose` would show, as a value to compare."""
        if not self._bindings_ready or not self.is_attached:
            return ()
        palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        return (
            palette,
            self.app.COMMAND_PALETTE_BINDING if palette else None,
            *(
                (binding.key, binding.description, binding.action, binding.group, enabled, tip)
                for _, binding, enabled, tip in self.screen.active_bindings.values()
                if binding.show or (palette and binding.action == "command_palette")
            ),
        )

    async def recompose(self) -> None:
        keys = self._keys()
        if keys == self._shown and keys:
            return
        self._shown = keys
        await super().recompose()
        # Textual keeps a reactive's watchers in this attribute of the object
        # watched (textual.reactive._watch); a removed key is not attached.
        watchers = getattr(self, "__watchers", None)
        if isinstance(watchers, dict):
            for bound in watchers.values():
                bound[:] = [(node, callback) for node, callback in bound if node.is_attached]
