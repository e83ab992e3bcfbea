"""`tokentide config path|show|edit`: the config file without hunting for it.

`show` prints the settings in effect, each with where it came from, by
resolving them exactly as every command does (client/config.py) and then
naming the first place, in the order of precedence, that holds the value. It
asks no server anything: a model the server will be asked for is said so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokentide.client.config import (
    BUILTIN_PROVIDERS,
    CONFIG_ENV,
    DEMO,
    MB,
    Settings,
    config_path,
    load_file,
    resolve,
)
from tokentide.client.errors import ConfigError, mask

from .exit_codes import ExitCode
from .report import error_line, note


def path() -> int:
    """The file's path, whether or not it exists yet."""
    print(config_path())
    return ExitCode.OK


def show(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    file = config_path(env)
    try:
        settings = resolve(env=env)
        raw = load_file(file)
    except ConfigError as exc:
        error_line(str(exc))
        return ExitCode.USAGE
    for name, value, source in _rows(settings, raw, file, env):
        print(f"{name:<15} {value}" + (f"  ({source})" if source else ""))
    for warning in settings.warnings:
        note(warning)
    for provider in settings.providers:
        if provider.problem:
            note(f"not usable as configured: {provider.problem}")
    return ExitCode.OK


def edit() -> int:
    """Open the file in $VISUAL/$EDITOR (a commented template if it is new),
    then check it as the next start would, and say what is wrong in one line."""
    from .config_file import create_template
    from .editor import NO_EDITOR, EditorError, edit_file, editor_argv

    file = config_path()
    try:
        argv = editor_argv()
        if argv is None:
            raise EditorError(NO_EDITOR)
        if create_template(file):
            note(f"created {file} from a commented template")
        edit_file(file, argv)
    except (EditorError, ConfigError) as exc:
        error_line(str(exc))
        return ExitCode.USAGE
    return check(file)


def check(file: Path) -> int:
    """The file as every command will read it: one line per problem."""
    try:
        settings = resolve()
    except ConfigError as exc:
        error_line(str(exc))
        return ExitCode.USAGE
    if settings.theme is not None:
        from tokentide import themes

        if settings.theme not in themes.names():
            error_line(themes.unknown(settings.theme, f"theme in {file}"))
            return ExitCode.USAGE
    for warning in settings.warnings:
        note(warning)
    # The providers not in use are read too: a mistake there shows when one is picked.
    broken = [provider.problem for provider in settings.providers if provider.problem]
    for error in broken:
        error_line(error)
    if broken:
        return ExitCode.USAGE
    print(f"{file}: OK")
    return ExitCode.OK


def _rows(
    settings: Settings, raw: Mapping[str, Any], file: Path, env: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    endpoint = settings.endpoint
    section = _section(raw, endpoint.name)
    in_file = f"{file}"
    in_section = f"[providers.{endpoint.name}] in {file}"
    builtin = BUILTIN_PROVIDERS.get(endpoint.name)
    exists = "" if file.exists() else "not created yet: `tokentide config edit` makes one"
    where = f"${CONFIG_ENV}" if env.get(CONFIG_ENV) else exists
    rows = [("config file", str(file), where)]
    rows.append(("provider", endpoint.name, _provider_source(settings, raw, in_file, env)))
    rows.append(("wire", endpoint.wire, in_section if "wire" in section else "built in"))
    if endpoint.demo:
        rows.append(("base URL", "(a local demo server, started when needed)", ""))
    else:
        url_env = builtin.base_url_env if builtin else None
        rows.append(
            (
                "base URL",
                endpoint.base_url,
                _first(
                    (url_env and env.get(url_env) and f"${url_env}"),
                    ("base_url" in section and in_section),
                    "built-in default",
                ),
            )
        )
    if endpoint.model:
        model_source = _first(
            (env.get("TOKENTIDE_MODEL") and "$TOKENTIDE_MODEL"),
            ("model" in section and in_section),
            ("model" in raw and in_file),
            "built-in default",
        )
        rows.append(("model", endpoint.model, model_source))
    else:
        rows.append(("model", "(none: the server is asked which it serves)", ""))
    key = mask(endpoint.api_key) if endpoint.api_key else "(none)"
    rows.append(("API key", key, endpoint.key_from or ""))
    if endpoint.headers:
        rows.append(("headers", ", ".join(endpoint.headers), in_section))
    rows.append(("system prompt", _short(settings.system) or "(none)", _src(raw, "system", file)))
    from_file = _src(raw, "theme", file)
    rows.append(("theme", settings.theme or "tokentide-dark", from_file or "default"))
    timeouts = settings.timeouts
    rows.append(
        (
            "timeouts",
            f"connect {timeouts.connect:g} s, read {timeouts.read:g} s",
            _src(raw, "timeouts", file) or "default",
        )
    )
    rows.append(("retries", str(settings.retries), _src(raw, "retries", file) or "default"))
    limits = settings.limits
    rows.append(
        (
            "limits",
            f"event {limits.event_bytes / MB:g} MB, answer {limits.answer_bytes / MB:g} MB",
            _src(raw, "limits", file) or "default",
        )
    )
    http2_source = in_section if "http2" in section else ""
    rows.append(("http2", "on" if endpoint.http2 else "off", http2_source))
    thinking = settings.thinking
    budget = f"on, budget {thinking.budget}" if thinking and thinking.budget else "on"
    rows.append(("thinking", budget if thinking else "off", in_section if thinking else ""))
    if settings.prices:
        rows.append(("prices", ", ".join(settings.prices), in_file))
    return rows


def _provider_source(
    settings: Settings, raw: Mapping[str, Any], in_file: str, env: Mapping[str, str]
) -> str:
    name = settings.endpoint.name
    if env.get("TOKENTIDE_PROVIDER"):
        return "$TOKENTIDE_PROVIDER"
    if raw.get("provider"):
        return f"provider in {in_file}"
    if name == DEMO and settings.unconfigured:
        return "nothing configured; the app looks for a local server first"
    builtin = BUILTIN_PROVIDERS.get(name)
    if builtin is not None:
        for var in (builtin.key_env, *builtin.other_key_envs, builtin.base_url_env):
            if var and env.get(var):
                return f"found ${var}"
    return ""


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    sections = raw.get("providers")
    if not isinstance(sections, dict):
        return {}
    key = next((k for k in sections if k.lower() == name), None)
    section = sections.get(key) if key is not None else None
    return section if isinstance(section, dict) else {}


def _src(raw: Mapping[str, Any], key: str, file: Path) -> str:
    return str(file) if key in raw else ""


def _first(*candidates: object) -> str:
    return next((str(c) for c in candidates if c), "")


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
