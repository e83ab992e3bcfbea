"""The key bar: Textual's Footer, without its leak.

Each time the bindings change (twice an answer, at least) the Footer
recomposes, and every new key's `compact` is bound to the footer's; the
bindings of the keys it removed are never dropped, and each keeps its
removed key alive with all its styles and caches. Measured in the app: about
55 dead keys an answer, 1.1 MB, so 200 answers took the app from 86 to 282
MiB. Dropping the bindings of keys no longer in the bar after each
recompose keeps it flat.
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyBar(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        # Textual keeps a reactive's watchers in this attribute of the object
        # watched (textual.reactive._watch); a removed key is not attached.
        watchers = getattr(self, "__watchers", None)
        if isinstance(watchers, dict):
            for bound in watchers.values():
                bound[:] = [(node, callback) for node, callback in bound if node.is_attached]
