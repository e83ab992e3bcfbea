"""Copy commands in the command palette (Ctrl+P): "copy" finds the focused
message (else the last answer) and each of its code blocks by number, as
labelled in the answer, with the block's language and first line to tell
them apart."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from ..safe_text import one_line
from .listed_commands import Command, ListedCommands

if TYPE_CHECKING:
    from .chat import ChatScreen


class CopyCommands(ListedCommands):
    """Built from the conversation as it is when the palette opens."""

    def commands(self) -> Iterator[Command]:
        from ..widgets.user_message import UserMessage

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
