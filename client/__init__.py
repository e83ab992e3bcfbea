"""tokentide's streaming client, usable as a library.

    import asyncio
    from tokentide.client import ChatClient, ChatRequest, Message, TextDelta, resolve

    async def main() -> None:
        settings = resolve(base_url="http://127.0.0.1:8765/v1", model="demo")
        async with ChatClient(settings.endpoint) as client:
            async with client.stream(ChatRequest("demo", [Message("user", "hi")])) as answer:
                async for event in answer:
                    if isinstance(event, TextDelta):
                        print(event.text, end="", flush=True)
        print(answer.state, answer.metrics().tokens_per_s)

    asyncio.run(main())

Names are loaded on first use, so `from tokentide.client.errors import …`
(the command line's `--help`) does not pay for importing httpx. Nothing
here imports Textual or Rich.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .accumulate import Accumulator, arguments_so_far
    from .config import Endpoint, Settings, Timeouts, resolve
    from .errors import ApiError, ConfigError, ErrorKind, Redactor, Secrets, TokentideError
    from .events import (
        Finished,
        Message,
        ReasoningDelta,
        Replay,
        Retrying,
        Started,
        StreamEvent,
        TextDelta,
        ToolCall,
        ToolCallDelta,
        Usage,
    )
    from .lifecycle import State
    from .meter import Expectation, Metrics, TokensSaved, expectation
    from .request import ChatRequest, OutputSchema, Thinking, Tool
    from .stream import AnswerStream, ChatClient

_WHERE = {
    "Accumulator": "accumulate",
    "arguments_so_far": "accumulate",
    "Endpoint": "config",
    "Settings": "config",
    "Timeouts": "config",
    "resolve": "config",
    "ApiError": "errors",
    "ConfigError": "errors",
    "ErrorKind": "errors",
    "Redactor": "errors",
    "Secrets": "errors",
    "TokentideError": "errors",
    "Finished": "events",
    "Message": "events",
    "ReasoningDelta": "events",
    "Replay": "events",
    "Retrying": "events",
    "Started": "events",
    "StreamEvent": "events",
    "TextDelta": "events",
    "ToolCall": "events",
    "ToolCallDelta": "events",
    "Usage": "events",
    "Expectation": "meter",
    "Metrics": "meter",
    "TokensSaved": "meter",
    "expectation": "meter",
    "ChatRequest": "request",
    "OutputSchema": "request",
    "Thinking": "request",
    "Tool": "request",
    "AnswerStream": "stream",
    "ChatClient": "stream",
    "State": "lifecycle",
}

__all__ = [
    "Accumulator",
    "AnswerStream",
    "ApiError",
    "ChatClient",
    "ChatRequest",
    "ConfigError",
    "Endpoint",
    "ErrorKind",
    "Expectation",
    "Finished",
    "Message",
    "Metrics",
    "OutputSchema",
    "ReasoningDelta",
    "Redactor",
    "Replay",
    "Retrying",
    "Secrets",
    "Settings",
    "Started",
    "State",
    "StreamEvent",
    "TextDelta",
    "Thinking",
    "Timeouts",
    "TokensSaved",
    "TokentideError",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "arguments_so_far",
    "expectation",
    "resolve",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
