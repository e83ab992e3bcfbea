"""Where a copy goes, and how the notice says what was copied.

Textual copies by writing OSC 52 to the terminal, which sets the clipboard of
the machine the *terminal* runs on: the only way to reach it over SSH, but
some terminals ignore it (macOS Terminal; VTE-based ones such as GNOME
Terminal) and tmux passes it on only with `set-clipboard on`. On the
machine itself a clipboard tool sets the clipboard whatever the terminal
does, so one is used when it is there and the session is not remote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .safe_text import one_line

TOOL_TIMEOUT = 3.0
"""Seconds a clipboard tool gets to take the text (they return at once; a
stuck one must not hold a thread for ever)."""

FIRST_LINE = 48
"""Characters of the copied text's first line that the notice shows."""


@dataclass(frozen=True)
class Route:
    """How one copy reaches a clipboard: a local tool's command, or OSC 52."""

    command: tuple[str, ...] | None
    """The tool and its arguments (the text goes to its stdin); None: OSC 52."""
    why: str = ""
    """Why OSC 52 was chosen (said in the notice)."""

    @property
    def describe(self) -> str:
        """The destination, as the notice words it."""
        if self.command is not None:
            return f"the system clipboard ({self.command[0]})"
        return f"the terminal's clipboard (OSC 52, {self.why})"


def remote(env: Mapping[str, str]) -> bool:
    """An SSH session: a tool here would fill the server's clipboard, not the user's."""
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


def route(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Route:
    """The route for a copy made now: looked up each time (cheap: a PATH
    search) so a tool installed while the app runs is used."""
    env = os.environ if env is None else env
    if remote(env):
        return Route(None, "over SSH")
    path = env.get("PATH")
    candidates: list[tuple[str, ...]] = []
    if platform == "darwin":
        candidates.append(("pbcopy",))
    if env.get("WAYLAND_DISPLAY"):
        candidates.append(("wl-copy",))
    if env.get("DISPLAY"):
        candidates += [("xclip", "-selection", "clipboard"), ("xsel", "--clipboard", "--input")]
    for command in candidates:
        found = shutil.which(command[0], path=path)
        if found is not None:
            return Route((found, *command[1:]))
    return Route(None, "no clipboard tool here")


def run(command: tuple[str, ...], text: str) -> str | None:
    """Give `text` to a clipboard tool; None when it took it, else why not.

    Output goes to /dev/null, not to pipes: xclip and wl-copy leave a process
    behind that serves the clipboard, and it would hold a pipe open (and the
    read) until the clipboard changes again."""
    try:
        done = subprocess.run(
            command,
            input=text.encode("utf-8"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"{os.path.basename(command[0])} failed: {error}"
    if done.returncode != 0:
        return f"{os.path.basename(command[0])} exited with {done.returncode}"
    return None


def notice(text: str, what: str, destination: str) -> str:
    """`what` (“the answer”), its first line and size, and where it went."""
    lines = text.split("\n")
    first = one_line(next((line for line in lines if line.strip()), ""))
    if len(first) > FIRST_LINE:
        first = first[: FIRST_LINE - 1] + "…"
    size = f"{len(text):,} character{'s' if len(text) != 1 else ''}"
    if len(lines) > 1:
        size += f", {len(lines):,} lines"
    return f"{what} “{first}” ({size}) to {destination}"
