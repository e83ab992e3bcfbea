"""The chat screen's model and system prompt commands in the command palette
(Ctrl+P): "model" or "prompt" finds them, as their keys would."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from .listed_commands import Command, ListedCommands

COMMANDS = (
    ("Switch model…", "pick_model", "Pick a model of any configured provider (Ctrl+O)"),
    ("System prompt…", "system_prompt", "Pick this conversation's system prompt (Ctrl+S)"),
    ("Edit system prompt…", "edit_system_prompt", "Edit this conversation's system prompt"),
)


class ModelCommands(ListedCommands):
    """Runs the screen's own actions, so a command does exactly what its key does."""

    def commands(self) -> Iterator[Command]:
        for name, action, help_text in COMMANDS:
            yield name, partial(self.screen.run_action, action), help_text
