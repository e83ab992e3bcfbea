"""What one completion request asks for, independent of any wire format.

Tools, structured output and thinking are said once here, in neutral terms;
each wire format's `build_request` writes them the way its API wants them
(a `function` tool or an `input_schema` one, `response_format` or a forced
tool, `reasoning_effort` or a thinking budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import Message


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name and its parameters' JSON Schema.

    No tool is ever run by tokentide; a call is shown and returned as data.
    """

    name: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    description: str = ""


@dataclass(frozen=True)
class OutputSchema:
    """Structured output: the answer must be one JSON value matching `schema`."""

    schema: dict[str, Any]
    name: str = "answer"


@dataclass(frozen=True)
class Thinking:
    """Ask the model to reason before it answers, and to show that reasoning.

    `budget` is in tokens (Anthropic and Gemini take it as is); formats that
    take an effort level instead get one derived from it (`effort()`).
    """

    budget: int | None = None

    DEFAULT_BUDGET = 4096

    def tokens(self) -> int:
        return self.budget or self.DEFAULT_BUDGET

    def effort(self) -> str:
        """OpenAI's `reasoning_effort` for this budget: low, medium or high."""
        budget = self.tokens()
        if budget <= 2048:
            return "low"
        return "medium" if budget <= 8192 else "high"


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
    tools: list[Tool] = field(default_factory=list)
    stream: bool = True
    output_schema: OutputSchema | None = None
    thinking: Thinking | None = None
    prefill: bool = False
    """The last message is the start of the assistant's answer, to be continued
    rather than answered (Continue on a stopped answer). Only some wires and
    models do that (`WireFormat.can_prefill`); the others refuse the request
    with a ConfigError instead of sending an answer the server would ignore."""
