"""The ways the demo server can be told to misbehave, and how to spell them.

A catalogue of its own because several places must agree on it: `inject()`,
`serve_forever(faults=...)`, the `--fault` option, the `X-Demo-Fault` request
header and a prompt starting with `/fault NAME` reject a misspelt fault up
front (a typo silently answering normally would make a test pass for the
wrong reason), while `pacing`, `plan`, the encoders and the server act on the
names. Each entry says in one line what the fault does; the encoders write it
the way their API would (see each module's docstring for the details).
"""

from __future__ import annotations

import re
from types import MappingProxyType

__all__ = [
    "DATED",
    "FAULTS",
    "FAULT_HEADER",
    "HOLDING_FAULTS",
    "MIDSTREAM_FAULTS",
    "REDIRECTS",
    "check_fault",
    "fault_in_prompt",
    "http_status",
]

#: The request header that asks for a fault for that one request.
FAULT_HEADER = "x-demo-fault"

#: What a fault with the `-date` suffix does to `http:<status>`.
DATED = "-date"

#: Every fault by name, with what it does (besides `http:<status>[-date]`).
FAULTS: MappingProxyType[str, str] = MappingProxyType(
    {
        "midstream_error": "an error event after 5 tokens, then the body ends",
        "truncate": "the body ends after 5 tokens: no finish reason, no end marker",
        "done_no_finish": "the end marker ([DONE], message_stop) after 5 tokens, no finish reason",
        "empty_200": "a 200 with an empty body",
        "stall": "5 tokens, then nothing (the connection stays open) until the client leaves",
        "no_usage": "no token counts anywhere",
        "keepalive": "keep-alive comments (Anthropic: ping events) before and between events",
        "crlf": "CRLF line endings in the framing",
        "finish_no_end": "the whole answer, finish reason and usage, then the connection is "
        "held open with no end marker (no [DONE], message_stop, response.completed or EOF)",
        "huge_event": "5 tokens, then one event that never ends: bytes without a newline "
        "until the client leaves",
        "endless": "5 tokens, then 64 KiB deltas at the server's pace until the client leaves",
        "bad_usage": "usage counts of 1e400, NaN, Infinity, -12 and 10^30 (JSON Python accepts)",
        "bad_tool_args": 'a tool call whose arguments end as invalid JSON: {"city": "Par',
        "nameless_tool": "a text answer with a garbage tool-call fragment: no name, no id",
        "hostile": "answer text with terminal escapes (clear screen, OSC 52 clipboard write), "
        "C1 CSI, bidi overrides and Rich markup",
        "error_message_only": 'an error event after 5 tokens whose data is {"message": ...} '
        "with no error key",
        "fake_gzip": "Content-Encoding: gzip on a body that is not compressed",
        "redirect": "a 307 to another port on 127.0.0.1 (Location keeps the path)",
        "redirect_host": "a 302 to another host name (localhost, same port and path)",
    }
)

#: Faults that strike part way through an answer (after `pacing.FAULT_AFTER` tokens).
MIDSTREAM_FAULTS: frozenset[str] = frozenset(
    {
        "midstream_error",
        "truncate",
        "done_no_finish",
        "stall",
        "huge_event",
        "endless",
        "error_message_only",
    }
)

#: Faults after which the server keeps the response open until the client leaves.
HOLDING_FAULTS: frozenset[str] = frozenset({"stall", "finish_no_end", "huge_event", "endless"})

#: Redirect faults and their status.
REDIRECTS: MappingProxyType[str, int] = MappingProxyType({"redirect": 307, "redirect_host": 302})

_HTTP = re.compile(r"http:(\d{3})(-date)?\Z")
_IN_PROMPT = re.compile(r"/fault[ \t]+(\S+)[ \t]*\n?")


def check_fault(fault: str) -> None:
    """Raise ValueError, naming the fault and what would be accepted, unless it is known."""
    if fault.startswith("http:"):
        match = _HTTP.match(fault)
        if match and 400 <= int(match.group(1)) <= 599:
            return
        raise ValueError(
            f"bad HTTP fault {fault!r}: expected http:<400-599>, e.g. http:503, "
            "or http:<400-599>-date for a Retry-After that is an HTTP date"
        )
    if fault not in FAULTS:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(
            f"unknown fault {fault!r}: expected http:<400-599>[-date] or one of {known}"
        )


def http_status(fault: str | None) -> int | None:
    """The status an "http:<status>[-date]" fault answers with; None for any other fault."""
    if fault is None or (match := _HTTP.match(fault)) is None:
        return None
    return int(match.group(1))


def fault_in_prompt(prompt: str) -> tuple[str | None, str]:
    """The fault a prompt asks for with a leading `/fault NAME`, and the prompt without it.

    The name is not checked here (the server refuses a misspelt one in words
    the user sees); a prompt without the prefix comes back unchanged.
    """
    match = _IN_PROMPT.match(prompt)
    if match is None:
        return None, prompt
    return match.group(1), prompt[match.end() :]
