"""Drive a program in a real terminal: a detached tmux session on a private socket.

Every call goes through `tmux -L <socket>`, a server of our own that never
touches the user's tmux, and `kill()` takes the whole server down (and the
program with it). tmux reports nothing but the screen, so waiting for
something means polling `capture-pane` against a deadline.

The program's exit status is written to a file by a wrapping `sh` rather
than read from `#{pane_dead_status}`: tmux learns it from SIGCHLD, and on
some machines (seen here with tmux 3.3a in a VM, about one pane in three,
even for `python3 -c "import time; time.sleep(0.3)"`) the server never reaps
the exited child, so `pane_dead` turns 1 while `pane_dead_status` stays empty
for good. `sh` waits for its child itself, so the file is always written.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.02
"""Seconds between two looks at the screen while waiting."""


class ScreenTimeout(AssertionError):
    """What was awaited never showed up; the message carries the last screen."""


class Tmux:
    """One tmux server (private socket) holding one session with one pane."""

    def __init__(
        self, workdir: Path, *, width: int = 120, height: int = 40, session: str = "e2e"
    ) -> None:
        self.socket = f"tokentide-e2e-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.width = width
        self.height = height
        self.session = session
        self.target = f"{session}:0.0"
        # tmux itself runs with a minimal environment: no TMUX (we may be inside
        # the user's tmux), no user config (-f /dev/null), UTF-8 so capture-pane
        # keeps non-ASCII characters.
        self._env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "SHELL": "/bin/sh",
            "TERM": "xterm-256color",
        }
        self._status_file = workdir / f"{self.socket}.exit-status"
        self._socket_path: str | None = None
        self._started = False

    # ---------------------------------------------------------------- plumbing

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`tmux -L <socket> ARGS...`, output captured as text."""
        return subprocess.run(
            ["tmux", "-u", "-L", self.socket, "-f", os.devnull, *args],
            env=self._env,
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """Run `argv` with exactly `env` (nothing inherited) in a width x height pane.

        remain-on-exit keeps the pane after the program ends, so whatever it
        printed last (a traceback) can still be read.
        """
        assignments = [f"{name}={value}" for name, value in env.items()]
        program = shlex.join(["env", "-i", *assignments, *argv])
        command = f"{program}; echo $? > {shlex.quote(str(self._status_file))}"
        self.run(
            "new-session", "-d", "-s", self.session,
            "-x", str(self.width), "-y", str(self.height),
            command,
            ";", "set-option", "-w", "-t", self.session, "remain-on-exit", "on",
            ";", "set-option", "-s", "escape-time", "0",
        )  # fmt: skip
        self._started = True
        self._socket_path = self.display("#{socket_path}")

    def kill(self) -> None:
        """Kill the server (and the program in it); safe to call more than once."""
        if self._started:
            self.run("kill-server", check=False)
            self._started = False
        if self._socket_path:  # tmux 3.3 leaves the socket file behind
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._socket_path)
            self._socket_path = None

    # ---------------------------------------------------------------- input

    def send_text(self, text: str) -> None:
        """Type `text` literally (no key-name lookup)."""
        self.run("send-keys", "-t", self.target, "-l", text)

    def send_keys(self, *keys: str) -> None:
        """Press named keys: Enter, Escape, C-q, ..."""
        self.run("send-keys", "-t", self.target, *keys)

    # ---------------------------------------------------------------- output

    def screen(self) -> str:
        """The visible screen as plain text, one line per row."""
        return self.run("capture-pane", "-p", "-t", self.target).stdout

    def display(self, fmt: str) -> str:
        """A tmux format expanded for the pane, e.g. `#{pane_dead}`."""
        return self.run("display-message", "-p", "-t", self.target, fmt).stdout.strip()

    def size(self) -> tuple[int, int]:
        width, height = self.display("#{pane_width} #{pane_height}").split()
        return int(width), int(height)

    def exit_status(self) -> int | None:
        """The program's exit status once it has exited and its pane is dead, else None."""
        try:
            written = self._status_file.read_text()
        except FileNotFoundError:
            return None
        if not written.endswith("\n") or self.display("#{pane_dead}") != "1":
            return None
        return int(written)

    def wait_until(
        self, check: Callable[[str], T | None], timeout: float, what: str
    ) -> tuple[T, str]:
        """Poll the screen until `check(screen)` is truthy; return (that value, screen)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            result = check(screen)
            if result:
                return result, screen
            if time.monotonic() >= deadline:
                raise ScreenTimeout(f"timed out after {timeout} s waiting for {what}:\n{screen}")
            time.sleep(POLL_INTERVAL)

    def wait_for_text(self, text: str, timeout: float = 10.0) -> str:
        """Poll until `text` is on the screen; return the screen."""
        _, screen = self.wait_until(lambda s: text in s, timeout, repr(text))
        return screen

    def wait_for_exit(self, timeout: float = 10.0) -> int:
        """Poll until the program has exited; return its exit status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.exit_status()
            if status is not None:
                return status
            if time.monotonic() >= deadline:
                raise ScreenTimeout(f"program still running {timeout} s later:\n{self.screen()}")
            time.sleep(POLL_INTERVAL)
