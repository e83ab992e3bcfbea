"""Which provider, base URL, model and key to use.

Precedence, highest first: command-line options, environment variables, the
TOML config file (`config.toml` in the platformdirs config directory, or the
file named by `TOKENTIDE_CONFIG`), built-in defaults. The provider itself is
chosen by `--provider`, `TOKENTIDE_PROVIDER` or the file's `provider`; when
none names one, the environment decides (`--base-url`/`OPENAI_*` -> openai,
`OLLAMA_HOST` -> ollama), and with nothing configured at all the built-in
demo provider answers offline.

API keys are read from the environment (or from a config file the user wrote
by hand); tokentide never writes a key anywhere, and `Endpoint.__repr__`
never shows one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StreamError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "tokentide"


@dataclass(frozen=True)
class BuiltinProvider:
    kind: str
    base_url: str
    model: str
    key_env: str | None = None
    base_url_env: str | None = None


BUILTIN_PROVIDERS: dict[str, BuiltinProvider] = {
    "openai": BuiltinProvider(
        "openai", "https://api.openai.com/v1", "gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL"
    ),
    "anthropic": BuiltinProvider(
        "anthropic", "https://api.anthropic.com/v1", "claude-sonnet-4-5", "ANTHROPIC_API_KEY"
    ),
    # Ollama's OpenAI-compatible endpoint; the native NDJSON API plugs in later.
    "ollama": BuiltinProvider(
        "ollama", "http://127.0.0.1:11434/v1", "llama3.2", None, "OLLAMA_HOST"
    ),
    "demo": BuiltinProvider("demo", "", "demo"),
}


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `read` is the longest silence allowed between two reads of
    the stream (not the total time): thinking models can go quiet for a
    while, keep-alive comments reset it."""

    connect: float = 10.0
    read: float = 120.0


@dataclass
class Endpoint:
    """Where requests go. `api_key` is never printed (see `__repr__`)."""

    name: str
    kind: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold credentials

    @property
    def is_demo(self) -> bool:
        return self.kind == "demo"

    def describe(self) -> str:
        where = "built-in demo server" if self.is_demo else self.base_url
        return f"{self.name} · {self.model} · {where}"


@dataclass
class Settings:
    endpoint: Endpoint
    system: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    expected_tokens: int | None = None
    notice: str | None = None
    """One line telling the user something they would want to know, e.g. that
    the demo provider is in use because nothing is configured."""


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit := env.get("TOKENTIDE_CONFIG"):
        return Path(explicit).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def load_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StreamError(
            f"config file {path} is not valid TOML: {exc}",
            kind="config",
            fix="fix or remove the file",
        ) from None


def resolve(
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Settings from options, environment and the config file, in that order.

    Everything is checked here, so a bad value is one line naming the
    setting and where it came from, not a traceback later on.
    """
    env = os.environ if env is None else env
    path = path or config_path(env)
    top = _Table(load_file(path), "the config file", path)
    sections = top.table("providers")
    notice = None

    name = provider or env.get("TOKENTIDE_PROVIDER") or top.str("provider")
    if not name:
        name, notice = _detect(base_url, env)
    name = name.strip().lower()

    section = sections.table(name, where=f"[providers.{name}]")
    builtin = BUILTIN_PROVIDERS.get(name)
    kind = section.str("kind") or (builtin.kind if builtin else None)
    if kind is None:
        known = ", ".join(sorted({*BUILTIN_PROVIDERS, *sections.data}))
        raise StreamError(
            f"unknown provider {name!r}",
            kind="config",
            fix=f"use one of: {known}, or add [providers.{name}] with kind and base_url",
        )
    from .providers import wire_format

    wire_format(kind)  # an unsupported kind fails here, in one line

    key_env = section.str("api_key_env") or (builtin.key_env if builtin else None)
    api_key = (env.get(key_env) if key_env else None) or section.str("api_key")
    if api_key is not None:
        _check_key(api_key, key_env)

    url = base_url
    if not url and builtin and builtin.base_url_env:
        url = env.get(builtin.base_url_env)
        if url and name == "ollama":
            url = _ollama_url(url)
    url = url or section.str("base_url") or (builtin.base_url if builtin else "")
    if kind != "demo":
        if not url:
            raise StreamError(
                f"provider {name!r} has no base URL",
                kind="config",
                fix=f"pass --base-url or set base_url under [providers.{name}]",
            )
        _check_url(url)

    if kind == "demo" and builtin:
        # The demo serves its own models: a model meant for a real provider
        # (TOKENTIDE_MODEL, the file) must not break the offline fallback.
        model = model or builtin.model
    model = (
        model
        or env.get("TOKENTIDE_MODEL")
        or section.str("model")
        or top.str("model")
        or (builtin.model if builtin else None)
    )
    if not model:
        raise StreamError(
            f"no model chosen for provider {name!r}",
            kind="config",
            fix="pass --model, set TOKENTIDE_MODEL, or set model in the config file",
        )

    timeouts_table = top.table("timeouts", where="[timeouts]")
    timeouts = Timeouts(
        connect=timeouts_table.seconds("connect", Timeouts.connect),
        read=timeouts_table.seconds("read", Timeouts.read),
    )
    headers = section.table("headers", where=f"[providers.{name}.headers]").data
    for header, value in headers.items():
        if not isinstance(value, str) or not _header_safe(value):
            raise StreamError(
                f"header {header!r} under [providers.{name}.headers] must be a one-line string",
                kind="config",
            )
    endpoint = Endpoint(
        name=name,
        kind=kind,
        base_url=url.rstrip("/"),
        model=model,
        api_key=api_key,
        key_env=key_env,
        headers=dict(headers),
    )
    expected = top.get("expected_tokens", int)
    if expected is not None and expected < 1:
        raise StreamError("expected_tokens in the config file must be at least 1", kind="config")
    return Settings(
        endpoint=endpoint,
        system=system if system is not None else top.str("system"),
        timeouts=timeouts,
        expected_tokens=expected,
        notice=notice,
    )


class _Table:
    """Typed reads from a TOML table; a wrong type is a one-line error."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.where = where
        self.path = path

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            names = {str: "a string", int: "an integer", dict: "a table"}
            wanted = names.get(kind, "a number") if isinstance(kind, type) else "a number"
            raise StreamError(
                f"{key} in {self.where} must be {wanted}, not {value!r}"[:200],
                kind="config",
                fix=f"edit {self.path}",
            )
        return value

    def str(self, key: str) -> str | None:
        return self.get(key, str) or None

    def table(self, key: str, where: str | None = None) -> _Table:
        return _Table(self.get(key, dict) or {}, where or f"[{key}]", self.path)

    def seconds(self, key: str, default: float) -> float:
        value = self.get(key, (int, float))
        if value is None:
            return default
        if value <= 0:
            raise StreamError(f"{key} in {self.where} must be more than 0 seconds", kind="config")
        return float(value)


def _check_key(key: str, key_env: str | None) -> None:
    """A key with a newline or non-ASCII in it would be rejected by httpx with
    the key quoted in the message; refuse it here without showing it."""
    if not key.isascii() or not _header_safe(key) or key != key.strip():
        where = f"${key_env}" if key_env else "the api_key in the config file"
        raise StreamError(
            f"the API key in {where} contains spaces, control or non-ASCII characters",
            kind="config",
            fix="copy the key again, without quotes or line breaks",
        )


def _header_safe(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def _check_url(url: str) -> None:
    import httpx

    try:
        parsed = httpx.URL(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.host)
        ok = ok and (parsed.port is None or 0 < parsed.port < 65536)
    except (httpx.InvalidURL, ValueError, OverflowError):
        ok = False
    if not ok:
        raise StreamError(
            f"{url!r} is not a usable base URL",
            kind="config",
            fix="use http(s)://host[:port]/path, e.g. http://127.0.0.1:8080/v1",
        )


def _detect(base_url: str | None, env: Mapping[str, str]) -> tuple[str, str | None]:
    if base_url or env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        return "openai", None
    if env.get("OLLAMA_HOST"):
        return "ollama", None
    if env.get("ANTHROPIC_API_KEY"):
        return "demo", (
            "ANTHROPIC_API_KEY is set, but the Anthropic wire format is not supported yet: "
            "using the built-in demo provider (offline)"
        )
    return "demo", (
        "no provider configured (no OPENAI_API_KEY, OPENAI_BASE_URL, OLLAMA_HOST or config "
        "file): using the built-in demo provider (offline)"
    )


def _ollama_url(host: str) -> str:
    """OLLAMA_HOST (`host:port`, `0.0.0.0`, or a URL) -> its OpenAI-compatible base URL."""
    if "://" not in host:
        host = "http://" + host
    return host.replace("://0.0.0.0", "://127.0.0.1").rstrip("/") + "/v1"
