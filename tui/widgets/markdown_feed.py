"""Feed streamed text into a Markdown widget without slowing the reader down.

Textual's `MarkdownStream.write` yields to the event loop after every
fragment, so the stream reader and the renderer alternate: one delta, one
render. When rendering is slower than the stream (long code fences, fast
servers) the reader falls behind the socket, and everything it measures -
tokens/s, tokens received when Esc is pressed - lags with it. Here `write`
only queues: the reader keeps draining the socket at network speed, and
each render takes everything that arrived while the previous one ran.

This is the seam where a faster renderer plugs in.
"""

from __future__ import annotations

import asyncio

from textual.widgets import Markdown


class MarkdownFeed:
    def __init__(self, markdown: Markdown) -> None:
        self.markdown = markdown
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="markdown-feed")

    def write(self, text: str) -> None:
        """Queue `text` for the next render; never waits."""
        if text:
            self._pending.append(text)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            text = "".join(self._pending)
            self._pending.clear()
            if text:
                await self.markdown.append(text)
            if self._closing and not self._pending:
                return

    async def stop(self) -> None:
        """Render what is still queued and end the feed."""
        self._closing = True
        self._wake.set()
        await asyncio.wait([self._task])
        if not self._task.cancelled():
            # Retrieve a failure (the widget went away mid-render as the app
            # shut down) so asyncio does not report it: nothing is lost.
            self._task.exception()
