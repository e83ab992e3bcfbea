"""Handing text to the user's own editor ($VISUAL, else $EDITOR).

Used by Ctrl+E in the app (a long prompt is easier to write in a real editor)
and by `tokentide config edit`. The command is split like a shell would
(`EDITOR="code --wait"` works) but no shell runs it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

NO_EDITOR = "set $VISUAL or $EDITOR to the editor to use (e.g. export EDITOR=nano)"


class EditorError(Exception):
    """The editor could not be run, or failed: one line for the user."""


def editor_argv(env: Mapping[str, str] | None = None) -> list[str] | None:
    """The editor's command line from $VISUAL or $EDITOR, or None if neither is set."""
    env = os.environ if env is None else env
    for name in ("VISUAL", "EDITOR"):
        command = env.get(name, "").strip()
        if command:
            try:
                return shlex.split(command)
            except ValueError as exc:
                raise EditorError(f"${name} is not a command line: {exc}") from None
    return None


def edit_file(path: Path, argv: list[str]) -> None:
    """Run the editor on `path` in this terminal and wait for it to exit."""
    try:
        status = subprocess.run([*argv, str(path)], check=False).returncode
    except OSError as exc:
        raise EditorError(f"cannot run {shlex.join(argv)}: {exc.strerror or exc}") from None
    if status != 0:
        raise EditorError(f"{shlex.join(argv)} exited with status {status}")


def edit_text(text: str, argv: list[str], *, suffix: str = ".md") -> str:
    """`text` as the user left it in the editor, through a private temporary
    file (a prompt may be confidential). The newline editors add at the end of
    the file is dropped when `text` had none."""
    fd, name = tempfile.mkstemp(prefix="tokentide-prompt-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        edit_file(path, argv)
        edited = path.read_text(encoding="utf-8", errors="replace")
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    if not text.endswith("\n") and edited.endswith("\n"):
        edited = edited[:-1]
    return edited
