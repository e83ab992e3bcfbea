"""Run the installed `tokentide` command as a user would: a subprocess with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "tokentide"
CMD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tokentide.tui.cli"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What a new user has: no keys, no config, an empty home."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", **extra}


def tokentide(*args: str, env: dict[str, str], input: str | None = None, timeout: float = 30):
    return subprocess.run(
        [*CMD, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
