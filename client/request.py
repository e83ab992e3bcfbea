"""What one completion request asks for, independent of any wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import Message


@dataclass
class ChatRequest:
    """A conversation plus the sampling options a user can set.

    `messages` holds the turns so far (user and assistant); the system prompt
    stays apart because each wire format places it differently.
    """

    model: str
    messages: list[Message]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    stream: bool = True
