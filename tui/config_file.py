"""Writing to the user's config file without rewriting it.

The file is the user's: hand-written, commented, aligned. tokentide writes
one thing to it, a top-level key the user chose in the app (`theme`), and does
that by editing the one line that holds the key, or by adding one line among
the top-level keys. Nothing else changes: comments, order, blank lines, line
endings and the file's permissions stay. The result is parsed again and must
equal the old settings plus the new value, or nothing is written.

No TOML writer is involved (the standard library has only a reader), which is
also why the file is never re-serialised.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path

from tokentide.client.errors import ConfigError

TEMPLATE = """\
# tokentide's config file. Every line here is a comment: uncomment what you need.
# Command-line options and environment variables win over this file.
# `tokentide config show` prints what is in effect and where each value came from.

# provider = "lmstudio"          # default provider: openai, anthropic, responses,
#                                # ollama, gemini, demo, or a [providers.NAME] below
# model = "gpt-4o-mini"          # default model
# system = "Answer briefly."     # default system prompt
# theme = "tokentide-dark"       # the app's theme (the palette's theme picker sets it)
# expected_tokens = 600          # answer length assumed for "tokens saved"
# retries = 2                    # sends again after a 429, 5xx or no connection (0: never)

# [providers.lmstudio]           # any name you like
# wire = "openai"                # openai, anthropic, responses, ollama or gemini
# base_url = "http://127.0.0.1:1234/v1"
# model = "qwen2.5-7b-instruct"
# api_key_env = "LMSTUDIO_KEY"   # the *name* of the variable holding the key
# http2 = true                   # HTTP/2, if the server speaks it
# thinking = 8192                # ask for reasoning (true: the default budget)

# [providers.lmstudio.headers]   # extra request headers
# X-Team = "search"

# [prompts]                      # more system prompts to pick in the app (Ctrl+S)
# concise = "Answer in one short paragraph."

# [timeouts]
# connect = 10                   # seconds to connect
# read = 120                     # longest silence between two reads of a stream

# [limits]
# event_mb = 8                   # one SSE event or NDJSON line from the server
# answer_mb = 32                 # one answer: text, reasoning and tool arguments

# [prices."my-model"]            # USD per million tokens, over the built-in table
# input = 0.15
# output = 0.60
"""
"""What `tokentide config edit` starts a missing file with: every key, commented."""

_HEADER = re.compile(r"\s*\[")
"""A table header (`[x]`, `[[x]]`): the top-level keys end at the first one."""


def create_template(path: Path) -> bool:
    """Write `TEMPLATE` to `path` unless a file is there; True if it was written."""
    if path.exists():
        return False
    _write(path, TEMPLATE)
    return True


def set_top_key(path: Path, key: str, value: str) -> None:
    """Set `key = "value"` at the top level of the TOML file at `path`.

    Raises ConfigError (one line) when the file cannot be read or parsed, or
    when the edit would not come out as exactly that change.
    """
    path = path.expanduser()
    with contextlib.suppress(OSError):
        path = path.resolve()  # a symlinked dotfile: write where it points
    line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            text = fh.read()
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        _write(path, f"# tokentide's config file (`tokentide config edit` opens it)\n{line}\n")
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {_why(exc)}") from None
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}", fix="fix it first"
        ) from None
    wanted = {**before, key: value}
    for candidate in _edits(text, key, line):
        try:
            if tomllib.loads(candidate) == wanted:
                _write(path, candidate, mode)
                return
        except tomllib.TOMLDecodeError:
            continue
    raise ConfigError(
        f"could not add {line} to {path} without changing anything else",
        fix="add it at the top of the file by hand",
    )


def _edits(text: str, key: str, line: str) -> list[str]:
    """Ways to put `line` in `text`, best first: over the key's own line (its
    comment kept), below a commented-out example of it (the template's), after
    the last top-level key, and at the very top (which is always top level,
    whatever multi-line strings the file holds)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    own = re.compile(
        rf"""(\s*)(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*="""
        r"""\s*(?:"(?:[^"\\]|\\.)*"|'[^']*')?(\s*#.*)?$"""
    )
    edits = []
    header = next((i for i, row in enumerate(lines) if _HEADER.match(row)), len(lines))
    for index, row in enumerate(lines[:header]):
        if match := own.match(row.rstrip("\r\n")):
            indent, comment = match.group(1), match.group(2) or ""
            edited = [*lines[:index], f"{indent}{line}{comment}{newline}", *lines[index + 1 :]]
            edits.append("".join(edited))
    example = re.compile(rf"\s*#\s*{re.escape(key)}\s*=")
    for index, row in enumerate(lines[:header]):
        if example.match(row):  # the template's commented example: right below it
            edits.append("".join([*lines[: index + 1], line + newline, *lines[index + 1 :]]))
            break
    keys = [i for i, row in enumerate(lines[:header]) if row.strip() and row.lstrip()[0] != "#"]
    if keys:
        at = keys[-1] + 1
        edits.append("".join([*lines[:at], line + newline, *lines[at:]]))
    elif header < len(lines):
        # No top-level keys: just above the first table and the comment on it.
        at = header
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
        edits.append("".join([*lines[:at], line + newline + newline, *lines[at:]]))
    else:
        edits.append("".join([*lines, line + newline]))
    edits.append(line + newline + "".join(lines))
    return edits


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace the file at once (a crash leaves the old file or the new one,
    never half of one), keeping its permissions: it may hold a key. A new file
    is private (0600) for the same reason."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path}: {_why(exc)}", fix="check its permissions"
        ) from None


def _why(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
