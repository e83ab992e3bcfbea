"""How the command line tells a person something: one line on stderr (a
notice, or what went wrong), or with `--debug` the traceback, secrets masked
either way."""

from __future__ import annotations

import os
import sys
import traceback
from typing import TextIO

from tokentide.client.errors import Secrets

from .safe_text import terminal_safe


def error_line(message: str, secrets: Secrets | None = None) -> None:
    if secrets is not None:
        message = secrets.scrub(message)
    note(f"error: {message}")


def note(line: str, stream: TextIO | None = None) -> None:
    """`tokentide: LINE` on stderr. The line may quote a server (an error, a
    model id): never raw. A terminal that hung up (SIGHUP) gets nothing, and
    stderr is pointed at /dev/null so the exit is quiet too."""
    stream = sys.stderr if stream is None else stream
    try:
        print(f"tokentide: {terminal_safe(line)}", file=stream, flush=True)
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


class Stdout:
    """stdout for an answer: a reader that went away (`| head`) or a full disk
    closes it, and whatever comes after is dropped instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False
        self.error: str | None = None
        """Why writing failed, when it was not the reader going away."""

    def write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            self.closed = True
            if not isinstance(exc, BrokenPipeError):
                self.error = exc.strerror or str(exc)
            # Point stdout at /dev/null so the interpreter's final flush is quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())


def print_traceback(exc: BaseException, secrets: Secrets) -> None:
    """The whole chain, for a bug report; a server that echoed the key in an
    error body must not put it in the report."""
    text = "".join(traceback.format_exception(exc))
    print(secrets.scrub(text), file=sys.stderr, end="", flush=True)
