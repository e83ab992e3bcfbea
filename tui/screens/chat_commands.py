"""The chat screen's model and system prompt commands in the command palette
(Ctrl+P): "model" or "prompt" finds them, as their keys would."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

COMMANDS = (
    ("Switch model…", "pick_model", "Pick a model of any configured provider (Ctrl+O)"),
    ("System prompt…", "system_prompt", "Pick this conversation's system prompt (Ctrl+S)"),
    ("Edit system prompt…", "edit_system_prompt", "Edit this conversation's system prompt"),
)


class ModelCommands(Provider):
    """Runs the screen's own actions, so a command does exactly what its key does."""

    async def discover(self) -> Hits:
        for name, action, help_text in COMMANDS:
            yield DiscoveryHit(name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.screen.run_action, action),
                    help=help_text,
                )
