"""The unified stream events and the message they fold into.

Every wire format (OpenAI chat, Anthropic, Responses, Ollama, Gemini) is translated into
these few plain dataclasses, so the accumulator, the meter, the CLI, the TUI and
the store each handle one vocabulary instead of four. They are deliberately
free of httpx and of any UI type: data moves one way, wire -> events -> message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request was refused or could not connect, before anything arrived,
    and goes out again after `delay` seconds (attempt `attempt` of `of`).

    Only ever before the first byte of an answer: a request that has
    streamed anything is never replayed. `reason` is short and for people:
    "429 rate limited", "connection refused".
    """

    attempt: int
    of: int
    delay: float
    reason: str


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
    """Every token the provider bills as output, reasoning included."""
    reasoning_tokens: int | None = None
    """The part of `output_tokens` spent on reasoning, when the provider says."""


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended as the protocol says it should.

    `reason` is the provider's finish reason ("stop", "length", "tool_calls",
    ...) or None when the server ended without one (llama-cpp-python sends
    `[DONE]` with no finish reason when it preempts a request: the answer was
    cut off, not finished).

    `reason` is normalised across providers (see `FINISH_REASONS`); `native`
    keeps the provider's own word (`end_turn`, `MAX_TOKENS`, ...), because
    a user comparing with the provider's docs or logs looks for that one.
    """

    reason: str | None
    native: str | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """Part of an answer a provider needs back, verbatim, to continue the
    conversation: an Anthropic thinking block with its signature, a redacted
    thinking block, a Gemini thought signature. Never shown; `wire` says
    which format it belongs to, so it is only ever sent back to that one.
    """

    wire: str
    data: dict[str, Any]


StreamEvent = (
    Retrying | Started | TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finished | Replay
)

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "pause", "error", "other")
"""The normalised finish reasons: the answer ended on its own (`stop`), hit
the token limit or the context window (`length`), asks for tools
(`tool_calls`), was withheld by a safety system (`content_filter`), paused
by a long-running server-side tool (`pause`, Anthropic's `pause_turn`),
ended by a provider-side failure such as a malformed function call
(`error`), or anything else (`other`)."""


@dataclass(slots=True)
class ToolCall:
    """A tool call as accumulated so far.

    `arguments_raw` is always the exact text received. `arguments` is its
    parsed JSON value once the call is complete (`accumulate.arguments_so_far`
    gives a partial parse before that); None, with `parse_error` saying why,
    when the text is not valid JSON (a guess would pass for the real thing).
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
            "arguments_error": self.parse_error,
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
    interrupted: bool = False
    """Cut off: the stream ended before the answer did (not a stop the user
    chose; `error` says how)."""
    error: str | None = None
    native_finish_reason: str | None = None
    """The provider's own word for `finish_reason`."""
    replay: list[Replay] = field(default_factory=list)
    """What the provider needs back to continue (see `Replay`)."""
    warnings: list[str] = field(default_factory=list)
    """One line each: what was left out of the answer and why (a tool-call
    fragment the server never named), for the UI to say once."""
