"""One module per wire format; `wire_format(name)` picks one by its wire name.

A wire name is the format requests are written in (`wire = "..."` in the
config file), not the provider: Ollama, vLLM and the demo server all speak
"openai". Modules are imported on first use, so checking a config file never
imports a parser (nor breaks because one is being rewritten).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import EventParser, HttpRequest, WireFormat


def __getattr__(name: str) -> Any:
    """The contract's names (`EventParser`, ...) loaded on first use: `WIRES`
    (read by config.py on every start) needs none of them."""
    if name in ("EventParser", "HttpRequest", "WireFormat"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IMPLEMENTED_WIRES",
    "WIRES",
    "EventParser",
    "HttpRequest",
    "WireFormat",
    "wire_format",
]

WIRES = ("openai", "anthropic", "responses", "ollama", "gemini")
"""Every wire name a config file may use."""


def _openai_chat() -> WireFormat:
    from .openai_chat import OpenAIChat

    return OpenAIChat()


def _anthropic() -> WireFormat:
    from .anthropic import AnthropicMessages

    return AnthropicMessages()


def _responses() -> WireFormat:
    from .responses import OpenAIResponses

    return OpenAIResponses()


def _ollama() -> WireFormat:
    from .ollama import OllamaChat

    return OllamaChat()


def _gemini() -> WireFormat:
    from .gemini import GeminiGenerate

    return GeminiGenerate()


_FORMATS: dict[str, Callable[[], WireFormat]] = {
    "openai": _openai_chat,
    "anthropic": _anthropic,
    "responses": _responses,
    "ollama": _ollama,
    "gemini": _gemini,
}

IMPLEMENTED_WIRES = frozenset(_FORMATS)
"""The wire names `wire_format` can build today; the rest of `WIRES` is planned."""


def wire_format(name: str) -> WireFormat:
    """The wire format called `name`; a planned or unknown one is a ConfigError."""
    if name in _FORMATS:
        return _FORMATS[name]()
    if name in WIRES:
        raise ConfigError(
            f"the {name} wire format is not supported yet",
            fix='use wire = "openai" with an OpenAI-compatible base_url',
        )
    raise ConfigError(f"{name!r} is not a wire format", fix=f"use one of: {', '.join(WIRES)}")
