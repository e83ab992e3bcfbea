"""How the command line tells a person that something went wrong: one line on
stderr, or with `--debug` the traceback, secrets masked either way."""

from __future__ import annotations

import sys
import traceback

from tokentide.client.errors import Secrets

from .safe_text import terminal_safe


def error_line(message: str, secrets: Secrets | None = None) -> None:
    if secrets is not None:
        message = secrets.scrub(message)
    # The message may quote a server (a model id, an error body): never raw.
    print(f"tokentide: error: {terminal_safe(message)}", file=sys.stderr, flush=True)


def print_traceback(exc: BaseException, secrets: Secrets) -> None:
    """The whole chain, for a bug report; a server that echoed the key in an
    error body must not put it in the report."""
    text = "".join(traceback.format_exception(exc))
    print(secrets.scrub(text), file=sys.stderr, end="", flush=True)
