"""What a user can set for one request besides the conversation: apart from
tui/turn.py, so the app and the chat screen hold one without importing the
client's events, meter and request before the first frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokentide.client.request import OutputSchema, Thinking, Tool


@dataclass(frozen=True)
class Params:
    """What a user can set for one request besides the conversation."""

    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = True
    tools: tuple[Tool, ...] = ()
    output_schema: OutputSchema | None = None
    thinking: Thinking | None = None
