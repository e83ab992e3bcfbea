"""Regenerate, Continue and Edit prompt in the command palette (Ctrl+P): on
the focused message, else on the last answer or prompt, offered only where
they apply (the same test as the message keys r, n and e)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from .listed_commands import Command, ListedCommands

if TYPE_CHECKING:
    from .chat import ChatScreen


class BranchCommands(ListedCommands):
    """Built from the conversation as it is when the palette opens."""

    def commands(self) -> Iterator[Command]:
        from ..widgets.assistant_message import AssistantMessage
        from ..widgets.user_message import UserMessage

        screen: ChatScreen = self.screen  # type: ignore[assignment]
        focused = screen.focused
        answer = focused if isinstance(focused, AssistantMessage) else None
        prompt = focused if isinstance(focused, UserMessage) else None
        if focused is None or not isinstance(focused, UserMessage | AssistantMessage):
            answer = screen.last_drawn(AssistantMessage)  # type: ignore[assignment]
            prompt = screen.last_drawn(UserMessage)  # type: ignore[assignment]
        which = "the focused" if focused in (answer, prompt) else "the last"
        if answer is not None and (index := screen.exchange_of(answer)) is not None:
            if screen.branch_can(answer, "regenerate"):
                yield (
                    "Regenerate",
                    partial(screen.regenerate, index),
                    f"Send {which} answer's prompt again; the old answer is kept (Ctrl+R, r)",
                )
            if screen.branch_can(answer, "continue"):
                yield (
                    "Continue",
                    partial(screen.continue_answer, index),
                    f"The rest of {which} answer, stopped or cut off (n on it)",
                )
        index = screen.exchange_of(prompt) if prompt is not None else None
        if prompt is not None and index is not None and screen.branch_can(prompt, "edit"):
            yield (
                "Edit prompt",
                partial(screen.start_edit, index),
                f"{which.capitalize()} prompt into the composer: sending it forks "
                "the conversation (e on it)",
            )
