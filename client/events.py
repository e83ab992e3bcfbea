"""The unified stream events and the message they fold into.

Every wire format (OpenAI chat, Anthropic, Responses, Ollama) is translated into
these few plain dataclasses, so the accumulator, the meter, the CLI, the TUI and
the store each handle one vocabulary instead of four. They are deliberately
free of httpx and of any UI type: data moves one way, wire -> events -> message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Started:
    """The server accepted the request: status line and headers are in.

    Kept because rate-limit and request-id headers are what a user needs when
    reporting a problem to a provider.
    """

    status: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of reasoning ("thinking") text, shown apart from the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call, keyed by `index` (never by arrival order).

    `id` and `name` arrive once or on every fragment depending on the server;
    `arguments` is a raw string fragment to be concatenated.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the server reported them (cumulative, latest wins)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended as the protocol says it should.

    `reason` is the provider's finish reason ("stop", "length", "tool_calls",
    ...) or None when the server ended without one (llama-cpp-python sends
    `[DONE]` with no finish reason when it preempts a request: the answer was
    cut off, not finished).
    """

    reason: str | None


StreamEvent = Started | TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finished


@dataclass(slots=True)
class ToolCall:
    """A tool call as accumulated so far.

    `arguments_raw` is always the exact text received. `arguments` is its
    parsed JSON value once the call is complete (`accumulate.arguments_so_far`
    gives a partial parse before that); a best-effort partial value with
    `parse_error` set when the text is not valid JSON.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments_raw: str = ""
    arguments: Any = None
    complete: bool = False
    parse_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "arguments_raw": self.arguments_raw,
        }


@dataclass(slots=True)
class Message:
    """One turn of a conversation.

    A user prompt is just `Message("user", "...")`; an assistant answer also
    carries what streaming told us about it, so a partial or failed answer is
    a Message too and is never dropped.
    """

    role: Role
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    cancelled: bool = False
    error: str | None = None
