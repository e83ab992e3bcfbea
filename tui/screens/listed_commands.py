"""A palette provider that offers a list of named commands, each with a help
line: the chat's model, copy, branch and app commands are all one list built
when the palette opens, found by name the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

Command = tuple[str, Callable[[], Any], str]
"""(name, what it runs, help line)."""


class ListedCommands(Provider):
    """Subclasses say which commands apply now, in `commands()`."""

    def commands(self) -> Iterator[Command]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for name, run, help_text in self.commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
