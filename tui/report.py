"""How the command line tells a person that something went wrong: one line on
stderr, or with `--debug` the traceback, secrets masked either way."""

from __future__ import annotations

import sys
import traceback

from tokentide.client.errors import Secrets


def error_line(message: str, secrets: Secrets | None = None) -> None:
    if secrets is not None:
        message = secrets.scrub(message)
    print(f"tokentide: error: {message}", file=sys.stderr, flush=True)


def print_traceback(exc: BaseException, secrets: Secrets) -> None:
    """The whole chain, for a bug report; a server that echoed the key in an
    error body must not put it in the report."""
    text = "".join(traceback.format_exception(exc))
    print(secrets.scrub(text), file=sys.stderr, end="", flush=True)
