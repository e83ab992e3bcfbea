"""What every command does before its own work: the settings resolved,
settled and announced, or a one-line error. No typer (or Click) here: the
app's own start (tui/start.py) uses it without building the command line."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from tokentide.client.config import Settings
from tokentide.client.errors import ConfigError

from .exit_codes import ExitCode
from .report import error_line, note


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    error_line(message)
    raise SystemExit(code)


def need_terminal() -> None:
    """The chat app draws on a terminal and reads keys from one: with stdout
    redirected it would write escape codes into a pipe or file, with stdin
    redirected it would wait for keys nobody sends. A driver set through
    TEXTUAL_DRIVER (a web front end over pipes) brings its own screen."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        try:
            terminal = stream is not None and stream.isatty()
        except ValueError:  # closed
            terminal = False
        if not terminal:
            fail(
                f"the chat app needs a terminal, and {name} is not one"
                " — in a script or a pipe, use `tokentide ask PROMPT`",
                code=ExitCode.USAGE,
            )


def settings(
    provider: str | None,
    model: str | None,
    base_url: str | None,
    system: str | None,
    demo: bool,
    debug: bool,
    http2: bool | None = None,
    thinking: str | None = None,
    *,
    need_model: bool = True,
) -> Settings:
    from tokentide.client.config import resolve

    try:
        chosen = resolve(
            provider="demo" if demo else provider,
            model=model,
            base_url=base_url,
            system=system,
            http2=http2,
            thinking=_thinking(thinking),
        )
    except ConfigError as exc:
        if debug:
            raise
        fail(str(exc), code=ExitCode.USAGE)
    chosen = settle(chosen, debug, need_model)
    for line in (chosen.notice, *chosen.warnings):
        if line:
            note(line)  # made terminal-safe: a notice may name a server's model
    return chosen


def settle(settings: Settings, debug: bool, need_model: bool) -> Settings:
    """What the settings leave open, asked of the network before anything is
    sent or drawn: a base URL's model, or a local server when nothing is
    configured. A configured start imports and sends nothing here."""
    if not settings.needs_settling(need_model=need_model):
        return settings
    import asyncio

    from tokentide.client.discovery import settle as ask_the_network
    from tokentide.client.errors import ApiError

    from .report import print_traceback

    try:
        return asyncio.run(ask_the_network(settings, need_model=need_model))
    except ConfigError as exc:
        if debug:
            raise
        fail(str(exc), code=ExitCode.USAGE)
    except ApiError as exc:
        if debug:
            print_traceback(exc, settings.endpoint.secrets)
        fail(settings.endpoint.secrets.scrub(str(exc)))


def settle_lanes(lanes, debug: bool):
    """Each lane's settings settled as `settle` does one command's (a base URL
    without a model asks the server), and its notices printed, naming the lane."""
    import dataclasses

    settled = []
    for lane in lanes:
        chosen = settle(lane.settings, debug, True)
        for line in (chosen.notice, *chosen.warnings):
            if line:
                note(f"{lane.spec.text}: {line}")
        settled.append(dataclasses.replace(lane, settings=chosen))
    return settled


def _thinking(value: str | None):
    if value is None:
        return None
    from . import request_options

    return request_options.thinking(value)
