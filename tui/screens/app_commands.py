"""The app's own commands in the command palette (Ctrl+P), beside the chat
screen's model, prompt and copy commands and Textual's Theme: what a new
user looks for by name before learning a key. Each runs the same action as
its key, where it has one, so the two cannot differ."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from .listed_commands import Command, ListedCommands

if TYPE_CHECKING:
    from .chat import ChatScreen

COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    # (name, "chat" or "app", action, help)
    (
        "New chat",
        "chat",
        "new_chat",
        "Start an empty conversation; this one stays in the history (Ctrl+N)",
    ),
    (
        "Race models…",
        "chat",
        "race_models",
        "Send the next prompt to 2-6 models at once, side by side; keep the best answer",
    ),
    (
        "Toggle conversation list",
        "chat",
        "history",
        "Show or hide the saved conversations, to search and reopen one (Ctrl+B)",
    ),
    (
        "Export conversation as Markdown",
        "app",
        "export('markdown')",
        "Write this conversation to a .md file in the current directory; the notice names it",
    ),
    (
        "Export conversation as JSON",
        "app",
        "export('json')",
        "Write this conversation, every stored field, to a .json file in the current directory",
    ),
    (
        "Stats",
        "app",
        "stats",
        "TTFT, tokens/s, tokens, tokens saved and cost per model: this session and all history",
    ),
)


class AppCommands(ListedCommands):
    """Offered wherever the palette opens, as long as a chat is open below it."""

    def _chat(self) -> ChatScreen | None:
        from .chat import ChatScreen

        return next((s for s in self.app.screen_stack if isinstance(s, ChatScreen)), None)

    def commands(self) -> Iterator[Command]:
        chat = self._chat()
        if chat is None:
            return
        for name, owner, action, help_text in COMMANDS:
            target = chat if owner == "chat" else self.app
            yield name, partial(target.run_action, action), help_text
