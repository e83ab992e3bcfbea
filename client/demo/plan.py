"""What one demo chat answer will contain, decided before any byte is sent.

Why a plan: the demo server writes an answer token by token on a clock and can
be told to break off part way (a fault, a client leaving, `max_tokens`). To do
that, and to report usage that matches what was actually sent, it needs the
whole answer up front as a list of token-sized events. This module turns a
chat request (plus an optional scripted answer) into that list, choosing
between a script, `/echo`, reasoning for `demo-think` and a tool call for
`demo-tools`; the faults that change what an answer says (`hostile`,
`bad_tool_args`, `nameless_tool`) are applied here too, and a leading
`/fault NAME` is taken off the prompt the answer is chosen by. `answers`
supplies the words; nothing here does I/O, knows about timing, or knows
which API the request came in through: each API's encoder hands over a
`ChatRequest` in one neutral form.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from typing import Any

from .answers import (
    BAD_TOOL_ARGS,
    HOSTILE,
    STRAY_TOOL_ARGS,
    choose_answer,
    last_user_text,
    message_chars,
    reasoning_for,
    split_tokens,
    structured_answer,
    tool_arguments,
)
from .faults import fault_in_prompt

__all__ = [
    "MODELS",
    "STRAY_AFTER",
    "ChatRequest",
    "Plan",
    "Script",
    "counts_as_token",
    "make_plan",
]

#: Models the server knows, with what each one does differently.
MODELS: dict[str, str] = {
    "demo": "plain Markdown answers",
    "demo-think": "streams reasoning_content first, then the answer",
    "demo-tools": "answers with a streamed tool call",
}


@dataclass(frozen=True)
class ChatRequest:
    """A chat request an API accepted, in the one form plans are made from.

    `messages` and `tools` are OpenAI-shaped (role/content dicts, function
    tools): an encoder for another API translates its request into these, so
    the choice of answer never depends on the wire format it arrived in.
    """

    model: str
    messages: list[Any]
    tools: list[Any]
    #: The client's token limit (None: unlimited).
    max_tokens: int | None
    stream: bool
    #: Whether the client wants token counts with the answer.
    include_usage: bool
    #: Structured output: the answer must be JSON matching this schema ({} for any object).
    schema: dict[str, Any] | None = None
    #: A tool the client forces the model to call (Anthropic's structured output).
    forced_tool: str | None = None


@dataclass
class Script:
    """An exact answer queued with `DemoServer.script()`."""

    text: str
    reasoning: str | None


#: Event kinds that are not generated tokens: a tool call's header, and the
#: garbage tool-call fragment of the `nameless_tool` fault.
_NOT_TOKENS = frozenset({"tool_header", "stray_tool"})

#: Content events before the `nameless_tool` fault's stray fragment.
STRAY_AFTER = 3


def counts_as_token(kind: str) -> bool:
    """Whether an event of this kind is one generated token (a tool call's header is not)."""
    return kind not in _NOT_TOKENS


@dataclass
class Plan:
    """Everything one chat answer will contain, decided before any byte is sent."""

    model: str
    # (kind, piece): kind is "reasoning", "content", "tool_header", "args" or
    # "stray_tool" (a nameless garbage fragment); every kind except
    # "tool_header" and "stray_tool" counts as one token.
    events: list[tuple[str, str]]
    finish_reason: str
    prompt_tokens: int
    tool_id: str | None = None
    tool_name: str | None = None
    #: The tool call's arguments go out as they are even where the wire wants
    #: them parsed (Ollama, Gemini): the `bad_tool_args` fault.
    raw_args: bool = False

    @property
    def tokens(self) -> int:
        return sum(1 for kind, _ in self.events if counts_as_token(kind))

    def text(self, kind: str) -> str:
        return "".join(piece for k, piece in self.events if k == kind)


def make_plan(
    chat: ChatRequest,
    scripted: Script | None,
    *,
    seed: int,
    rng: random.Random,
    fault: str | None = None,
) -> Plan:
    """Decide the whole answer: fault > script > /echo > model behaviour.

    `rng` is the server's, so tool call ids follow the same sequence as its
    other ids for a given seed. `fault` is the request's: `hostile` replaces
    the text (and reasoning) with terminal tricks, `bad_tool_args` makes any
    model call a tool with arguments that never parse, `nameless_tool` puts a
    garbage tool-call fragment into a text answer.
    """
    model = chat.model
    messages = chat.messages
    prompt = fault_in_prompt(last_user_text(messages))[1]
    events: list[tuple[str, str]] = []
    finish = "stop"
    tool_id = tool_name = None
    if scripted is not None:
        reasoning, text = scripted.reasoning, scripted.text
    else:
        reasoning = reasoning_for(prompt) if model == "demo-think" else None
        text = _answer_text(model, messages, prompt)
    if fault == "hostile":
        reasoning, text = (HOSTILE if reasoning else None), HOSTILE
    if reasoning:
        events += [("reasoning", p) for p in split_tokens(reasoning, seed)]
    forced = _tool_named(chat.tools, chat.forced_tool)
    wants_tool = scripted is None and not _after_tool_result(messages)
    wants_tool = wants_tool and (
        forced is not None or (model == "demo-tools" and not prompt.startswith("/echo "))
    )
    if fault in ("hostile", "nameless_tool"):
        wants_tool = False
    if scripted is None and chat.schema is not None and not wants_tool:
        text = structured_answer(prompt, chat.schema)
    if wants_tool or fault == "bad_tool_args":
        first = forced or (chat.tools[0] if chat.tools else None)
        function = first.get("function") if isinstance(first, dict) else None
        tool_name = "get_weather"
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tool_name = function["name"]
        tool_id = "call_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24))
        events.append(("tool_header", tool_name))
        if fault == "bad_tool_args":
            args = BAD_TOOL_ARGS
        elif forced is not None:  # structured output: the schema's shape, in full
            function = forced.get("function") or {}
            args = structured_answer(prompt, function.get("parameters") or {})
        else:
            args = tool_arguments(prompt, first)
        events += [("args", p) for p in split_tokens(args, seed)]
        finish = "tool_calls"
    else:
        content = [("content", p) for p in split_tokens(text, seed)]
        if fault == "nameless_tool":
            at = min(STRAY_AFTER, len(content))
            content[at:at] = [("stray_tool", STRAY_TOOL_ARGS)]
        events += content
    if chat.max_tokens is not None:
        kept: list[tuple[str, str]] = []
        count = 0
        for kind, piece in events:
            if counts_as_token(kind):
                if count == chat.max_tokens:
                    finish = "length"
                    break
                count += 1
            kept.append((kind, piece))
        events = kept
    return Plan(
        model=model,
        events=events,
        finish_reason=finish,
        prompt_tokens=max(1, -(-message_chars(messages) // 4)),
        tool_id=tool_id,
        tool_name=tool_name,
        raw_args=fault == "bad_tool_args",
    )


def _tool_named(tools: list[Any], name: str | None) -> dict[str, Any] | None:
    for tool in tools if name else ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name") == name:
            return tool
    return None


def _after_tool_result(messages: list[Any]) -> bool:
    """True when the conversation ends with a tool result the model should now answer."""
    return bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"


def _answer_text(model: str, messages: list[Any], prompt: str) -> str:
    if model == "demo-tools" and _after_tool_result(messages):
        result = messages[-1].get("content")
        if not isinstance(result, str):
            result = json.dumps(result, ensure_ascii=False)
        return (
            "Here is what the tool returned:\n\n"
            f"```json\n{result}\n```\n\n"
            "In short: the call **succeeded**, and the values above are current."
        )
    return choose_answer(prompt)
