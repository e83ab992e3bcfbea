"""Command-line options that shape a request: tools, a JSON Schema, thinking.

Each file is read and checked here, before anything is sent, so a typo in a
schema is a one-line error naming the file and the fix, not a provider's 400.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tokentide.client.errors import ConfigError
from tokentide.client.request import OutputSchema, Thinking, Tool

THINKING_DEFAULT = "on"
"""What a bare `--thinking` (no budget) stands for on the command line."""

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
"""A function name every provider accepts (OpenAI's and Anthropic's rule)."""


def tool(spec: str) -> Tool:
    """`NAME=SCHEMA_FILE` -> a Tool whose parameters are the file's JSON Schema;
    the schema's own `description`, if any, describes the tool."""
    name, sep, path = spec.partition("=")
    name = name.strip()
    if not sep or not path:
        raise ConfigError(
            f"--tool {spec!r} is not NAME=SCHEMA_FILE",
            fix="e.g. --tool get_weather=weather.json (the file holds the parameters' JSON Schema)",
        )
    if not _NAME.match(name):
        raise ConfigError(
            f"--tool name {name!r} must be 1-64 letters, digits, _ or -",
            fix="e.g. --tool get_weather=weather.json",
        )
    schema = _schema_file(Path(path), f"--tool {name}")
    kind = schema.setdefault("type", "object")  # `properties` alone mean an object
    if kind != "object":
        raise ConfigError(
            f"--tool {name}: {path} describes a {kind!r}, but a tool's parameters are an object",
            fix='e.g. {"type": "object", "properties": {"city": {"type": "string"}}}',
        )
    description = schema.get("description")
    return Tool(name, schema, description if isinstance(description, str) else "")


def output_schema(path: str) -> OutputSchema:
    """`--json-schema FILE`: the answer must be one JSON value matching the file."""
    file = Path(path)
    schema = _schema_file(file, "--json-schema")
    title = schema.get("title")
    name = title if isinstance(title, str) and _NAME.match(title) else file.stem
    return OutputSchema(schema, name if _NAME.match(name) else "answer")


def thinking(value: str | None) -> Thinking | bool | None:
    """`--thinking` -> on with the default budget; `--thinking 8192` -> that
    budget; `--thinking 0` -> off even if the config file turns it on."""
    if value is None:
        return None
    if value == THINKING_DEFAULT:
        return Thinking()
    if not _digits(value):
        raise ConfigError(
            f"--thinking {value!r} is not a budget in tokens",
            fix="use --thinking alone, or --thinking 8192 (0 turns it off)",
        )
    budget = int(value)
    return Thinking(budget) if budget else False


def optional_value(argv: list[str], option: str, default: str) -> list[str]:
    """`--thinking` may stand alone or take a number: give a lone one its
    default, since the command-line parser needs every option to be one or the
    other."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return [*out, *argv[i:]]
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if arg == option and not _digits(following):
            arg = f"{option}={default}"
        out.append(arg)
    return out


def _digits(value: str) -> bool:
    """0-9 only: `str.isdigit` also takes "²" and other digits `int` refuses."""
    return value.isascii() and value.isdigit()


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _schema_file(path: Path, option: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{option}: {path} does not exist", fix="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{option}: cannot read {path}: {reason}", fix="check the file") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{option}: {path} is not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})",
            fix="the file must hold one JSON Schema object",
        ) from None
    if not isinstance(schema, dict):
        kind = _JSON_KINDS.get(type(schema), "value")
        raise ConfigError(
            f"{option}: {path} holds a JSON {kind}, not a schema object",
            fix='e.g. {"type": "object", "properties": {"city": {"type": "string"}}}',
        )
    return schema
