"""The ways the demo server can be told to misbehave, and how to spell them.

A catalogue of its own because three places must agree on it: `inject()`,
`serve_forever(faults=...)` and the `--fault` option reject a misspelt fault
up front (a typo silently answering normally would make a test pass for the
wrong reason), while `pacing` and the server act on the names.
"""

from __future__ import annotations

__all__ = ["FAULTS", "MIDSTREAM_FAULTS", "check_fault", "http_status"]

#: Faults that `inject()` accepts besides "http:<status>".
FAULTS: frozenset[str] = frozenset(
    {
        "midstream_error",
        "truncate",
        "done_no_finish",
        "empty_200",
        "stall",
        "no_usage",
        "keepalive",
        "crlf",
    }
)

#: Faults that strike part way through an answer (after `pacing.FAULT_AFTER` tokens).
MIDSTREAM_FAULTS: frozenset[str] = frozenset(
    {"midstream_error", "truncate", "done_no_finish", "stall"}
)


def check_fault(fault: str) -> None:
    """Raise ValueError, naming the fault and what would be accepted, unless it is known."""
    if fault.startswith("http:"):
        code = fault[5:]
        if code.isdigit() and 400 <= int(code) <= 599:
            return
        raise ValueError(f"bad HTTP fault {fault!r}: expected http:<400-599>, e.g. http:503")
    if fault not in FAULTS:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault {fault!r}: expected http:<400-599> or one of {known}")


def http_status(fault: str | None) -> int | None:
    """The status an "http:<status>" fault answers with; None for any other fault."""
    if fault is None or not fault.startswith("http:"):
        return None
    return int(fault[5:])
