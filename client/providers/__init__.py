"""One module per wire format; `wire_format(kind)` picks one by name."""

from __future__ import annotations

from ..errors import StreamError
from .base import EventParser, HttpRequest, WireFormat
from .openai_chat import OpenAIChat

__all__ = ["EventParser", "HttpRequest", "OpenAIChat", "WireFormat", "wire_format"]

# Provider kinds that speak OpenAI Chat Completions. Ollama's /v1 and the demo
# server do; the native Anthropic, Responses and Ollama formats plug in here.
_FORMATS: dict[str, type] = {"openai": OpenAIChat, "ollama": OpenAIChat, "demo": OpenAIChat}


def wire_format(kind: str) -> WireFormat:
    try:
        return _FORMATS[kind]()
    except KeyError:
        raise StreamError(
            f"provider kind {kind!r} has no streaming support yet",
            kind="config",
            fix="use --provider openai with an OpenAI-compatible --base-url",
        ) from None
