"""The exit codes of every command, in one place (the README lists them)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    """A request or stream failed; one line on stderr says why."""
    USAGE = 2
    """A bad option, setting or prompt: nothing was sent."""
    HANGUP = 129
    """The terminal went away (128 + SIGHUP): the connection is closed, the answer
    so far kept and stored as interrupted, the terminal restored (tui/signals.py)."""
    CANCELLED = 130
    """Stopped with Ctrl-C (128 + SIGINT); the partial answer stays printed."""
    BROKEN_PIPE = 141
    """The reader went away (`... | head`): 128 + SIGPIPE, what a shell reports."""
    TERMINATED = 143
    """Stopped by SIGTERM (128 + 15), with the same care as HANGUP."""
