"""Copy commands in the command palette (Ctrl+P): "copy" finds the focused
message (else the last answer) and each of its code blocks by number, as
labelled in the answer, with the block's language and first line to tell
them apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..safe_text import one_line
from ..widgets.user_message import UserMessage

if TYPE_CHECKING:
    from .chat import ChatScreen


class CopyCommands(Provider):
    """Built from the conversation as it is when the palette opens."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], None], str]]:
        screen: ChatScreen = self.screen  # type: ignore[assignment]
        target = screen.copy_target()
        if target is None:
            return
        if isinstance(target, UserMessage):
            yield "Copy prompt", partial(screen.copy_message, target), "The focused prompt (c)"
            return
        focused = target is screen.focused
        where = "The focused answer" if focused else "The last answer"
        yield "Copy answer", partial(screen.copy_message, target), f"{where} (c on it)"
        for number, block in enumerate(target.code_blocks(), start=1):
            first = one_line(next((line for line in block.code.split("\n") if line.strip()), ""))
            about = " · ".join(part for part in (block.language, first[:40]) if part)
            keys = f" ({number} on it)" if number <= 9 else ""
            yield (
                f"Copy code block {number}",
                partial(screen.copy_code, target, number),
                f"{about} — from {where.lower()}{keys}",
            )

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
