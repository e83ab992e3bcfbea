"""The `tokentide` entry point. `tokentide` alone, the start people type all
day, goes straight to the app without importing typer (or Click) and
building the command line, which costs about 30-50 ms; anything else on the
command line goes to `cli`.
"""

from __future__ import annotations

import sys

from .exit_codes import ExitCode
from .garbage import hold_collections_at_start


def main() -> None:
    if len(sys.argv) > 1:
        from .cli import main as command_line

        command_line()
        return
    try:
        raise SystemExit(_open_app())
    except KeyboardInterrupt:
        # Ctrl-C before a stream started (while starting up): nothing to save.
        sys.exit(ExitCode.CANCELLED)


def _open_app() -> int:
    """What `tokentide` with no arguments does: the app, on the configured
    provider (the command line's default command, without the command line)."""
    hold_collections_at_start()  # until the app's first frame (`after_start`)
    from .prelude import need_terminal, settings

    need_terminal()
    chosen = settings(None, None, None, None, demo=False, debug=False)
    from .app import run_app

    return run_app(chosen)
