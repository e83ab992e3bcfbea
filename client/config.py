"""Which provider, wire format, base URL, model and key to use.

Precedence, highest first: command-line options, environment variables, the
TOML config file (`config.toml` in the platformdirs config directory, or the
file named by `TOKENTIDE_CONFIG`), built-in defaults. The provider itself is
chosen by `--provider`, `TOKENTIDE_PROVIDER` or the file's `provider`; when
none names one, the environment decides (`--base-url`/`OPENAI_*` -> openai,
`ANTHROPIC_*` -> anthropic, `GEMINI_API_KEY`/`GOOGLE_API_KEY` -> gemini,
`OLLAMA_HOST` -> ollama), and with nothing configured at all the built-in
demo provider answers offline (`Settings.unconfigured`: the commands first look
for a local server on loopback, `client.discovery`).

A built-in provider's default model goes only with its own base URL (the
built-in one or its ecosystem's variable). A base URL the user gave
(`--base-url`, `base_url` in the file) with no model anywhere leaves the model
unknown (`Settings.model_known`), and the commands ask that server for its
models before sending anything: a local server would refuse `gpt-4o-mini` or,
worse, answer with whatever model it has loaded. This module does no network
I/O; it runs at every start and in tests.

A provider is a name; the format its requests are written in is its `wire`
(`[providers.NAME] wire = "openai"`). Keeping the two apart lets "ollama"
move from the OpenAI-compatible `/v1` to the native API without a config
file silently changing meaning.

Everything is checked here, each problem a one-line `ConfigError` naming the
setting and where it came from, so nothing fails later, mid-request, blaming
the server. Unknown keys are only warnings (`Settings.warnings`): a typo must
be visible, but must not lock the user out.

API keys are read from the environment (or from a config file the user wrote
by hand); tokentide never writes a key anywhere, and `repr()` of an
`Endpoint` never shows one.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import SECRET_NAME, ConfigError, Secrets, one_line
from .providers import WIRES

if TYPE_CHECKING:
    from .request import Thinking

APP_NAME = "tokentide"
CONFIG_ENV = "TOKENTIDE_CONFIG"
DEMO = "demo"


@dataclass(frozen=True)
class BuiltinProvider:
    wire: str
    base_url: str
    model: str
    key_env: str | None = None
    base_url_env: str | None = None
    other_key_envs: tuple[str, ...] = ()
    """Variables also read for the key, after `key_env` (GOOGLE_API_KEY for Gemini)."""


BUILTIN_PROVIDERS: Mapping[str, BuiltinProvider] = MappingProxyType(
    {
        "openai": BuiltinProvider(
            "openai",
            "https://api.openai.com/v1",
            "gpt-4o-mini",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ),
        # Base URLs follow each ecosystem's own variable: OpenAI's include /v1,
        # Anthropic's, Ollama's and Google's are the host.
        "responses": BuiltinProvider(
            "responses",
            "https://api.openai.com/v1",
            "gpt-4o-mini",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ),
        "anthropic": BuiltinProvider(
            "anthropic",
            "https://api.anthropic.com",
            "claude-sonnet-4-5",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
        ),
        "ollama": BuiltinProvider(
            "ollama", "http://127.0.0.1:11434", "llama3.2", None, "OLLAMA_HOST"
        ),
        "gemini": BuiltinProvider(
            "gemini",
            "https://generativelanguage.googleapis.com",
            "gemini-2.5-flash",
            "GEMINI_API_KEY",
            other_key_envs=("GOOGLE_API_KEY",),
        ),
        # No base URL: the app starts the demo server and fills it in.
        DEMO: BuiltinProvider("openai", "", "demo"),
    }
)

_HOST_SUFFIXES = {"anthropic": ("/v1",), "ollama": ("/api", "/v1"), "gemini": ("/v1beta",)}
"""What a base URL copied from elsewhere may end with, for wires whose base URL
is the host: the request paths add it again."""

_TOP_KEYS = (
    "provider",
    "model",
    "system",
    "expected_tokens",
    "retries",
    "providers",
    "timeouts",
    "limits",
    "prices",
    "prompts",
    "theme",
)
MAX_RETRIES = 10
_PRICE_KEYS = ("input", "output")
_SECTION_KEYS = (
    "wire",
    "base_url",
    "model",
    "api_key_env",
    "api_key",
    "headers",
    "http2",
    "thinking",
)
_TIMEOUT_KEYS = ("connect", "read")
_LIMIT_KEYS = ("event_mb", "answer_mb")
_RENAMED = {"kind": "wire"}

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 token


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `read` is the longest silence allowed between two reads of
    the stream (not the total time): thinking models can go quiet for a
    while, keep-alive comments reset it."""

    connect: float = 10.0
    read: float = 120.0


MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bytes one answer may take, so that no server can take the memory: a
    line that never ends, or an answer that never does, is stopped with the
    part that arrived kept. Far beyond real answers (a long one is ~100 KB).
    `[limits] event_mb = 8, answer_mb = 32` in the config file."""

    event_bytes: int = 8 * MB
    """One SSE event or NDJSON line (or a whole unstreamed reply)."""
    answer_bytes: int = 32 * MB
    """Text, reasoning and tool arguments of one answer, together."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how they are written.

    Frozen, so a UI holding one cannot change where a running stream points;
    the demo server's URL goes in with `dataclasses.replace`. Neither the key
    nor the headers (which may hold credentials) appear in `repr()`.
    """

    name: str
    wire: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None
    key_from: str | None = None
    """Where the key was read (`$OPENAI_API_KEY`, `api_key in [providers.lab] of FILE`),
    so a 401 names the place to fix."""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    params: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """The base URL's query (e.g. Azure's `api-version`), sent on every request:
    httpx would otherwise join request paths after the query."""
    demo: bool = False
    """The built-in demo provider: the app starts the server and sets `base_url`."""
    http2: bool = False
    """Speak HTTP/2 (`--http2`, `http2 = true`): ALPN over https, prior knowledge over http."""

    def __post_init__(self) -> None:
        # A read-only copy: a caller's dict changing later must not change this.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @property
    def secrets(self) -> Secrets:
        """The values no message may show: the key and credential headers, and
        credential-looking query parameters (some APIs take the key there)."""
        pairs = (*self.headers.items(), *self.params)
        return Secrets([self.api_key, *(v for k, v in pairs if SECRET_NAME.search(k))])

    def describe(self) -> str:
        where = "built-in demo server" if self.demo else self.base_url
        return f"{self.name} · {self.model} · {where}"


@dataclass(frozen=True)
class Settings:
    endpoint: Endpoint
    system: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    expected_tokens: int | None = None
    notice: str | None = None
    """One line telling the user something they would want to know, e.g. that
    the demo provider is in use because nothing is configured."""
    warnings: tuple[str, ...] = ()
    """One line each: config keys tokentide does not know (typos, old names)."""
    prices: Mapping[str, Price] = field(default_factory=dict)
    """Per-model prices from `[prices."MODEL"]`, over the built-in price table."""
    retries: int = 2
    """How many times a request refused before any answer (429, 5xx, no
    connection) is sent again (`retries = N` in the file; 0: never)."""
    limits: Limits = field(default_factory=Limits)
    """How large one event and one answer may grow (`[limits]` in the file)."""
    thinking: Thinking | None = None
    """Ask for reasoning (`--thinking [BUDGET]`, `thinking = true | BUDGET` in a
    provider's section)."""
    theme: str | None = None
    """The app's theme (`theme = "NAME"` in the file; the app checks the name,
    which only Textual knows, and writes the key back when the user picks one)."""
    unconfigured: bool = False
    """Nothing names a provider, a key or a base URL: the demo stands in as the
    last resort, unless `client.discovery.settle` finds a server on loopback."""
    prompts: Mapping[str, str] = field(default_factory=dict)
    """Named system prompts from `[prompts]` (`concise = "Answer briefly."`),
    which the app offers per conversation besides `system`, the default."""
    providers: tuple[ConfiguredProvider, ...] = ()
    """The other providers this configuration can reach, for the app's model
    picker; the one in use is `endpoint`."""

    @property
    def model_known(self) -> bool:
        """False for a base URL given without a model: `client.discovery.settle`
        asks the server which it serves before anything is sent."""
        return bool(self.endpoint.model)

    def needs_settling(self, *, need_model: bool = True) -> bool:
        """Whether `client.discovery.settle` has anything to do: no import, no
        I/O, so a configured start pays two attribute reads for it."""
        return self.unconfigured or (need_model and not self.model_known)


@dataclass(frozen=True)
class ConfiguredProvider:
    """A provider besides the one in use: its endpoint, or why it cannot be
    used (a broken section must not lock the user out of the one that works,
    so its error is kept here as one line instead of raised)."""

    name: str
    endpoint: Endpoint | None
    problem: str | None = None


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens, as price lists are written."""

    input: float
    output: float


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit := env.get(CONFIG_ENV):
        return Path(explicit).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def load_file(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The file's settings; a missing file is no settings unless `required`
    (the user named it in $TOKENTIDE_CONFIG, so a typo must not go unnoticed)."""
    try:
        if path.is_dir():
            raise ConfigError(
                f"config file {path} is a directory",
                fix=f"point ${CONFIG_ENV} at a TOML file" if required else "make it a TOML file",
            )
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if not required:
            return {}
        raise ConfigError(
            f"config file {path} (from ${CONFIG_ENV}) does not exist",
            fix=f"create it, or unset {CONFIG_ENV}",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}",
            fix="check its permissions",
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}", fix="fix or remove the file"
        ) from None


def resolve(
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    http2: bool | None = None,
    thinking: Thinking | bool | None = None,
) -> Settings:
    """Settings from options, environment and the config file, in that order.

    `path` replaces the default config location (a missing file there means
    no settings); `env` replaces `os.environ`.
    """
    env = os.environ if env is None else env
    top = _read_config(env, path)
    name, notice = _provider_name(provider, base_url, env, top)
    if name == DEMO:
        endpoint = _demo_endpoint(model, bool(http2))
    else:
        endpoint = _endpoint(name, top, env, model=model, base_url=base_url, http2=http2)
    return Settings(
        endpoint=endpoint,
        system=system if system is not None else top.text("system"),
        timeouts=_timeouts(top),
        expected_tokens=_expected_tokens(top),
        retries=_retries(top),
        limits=_limits(top),
        prices=_prices(top),
        notice=notice,
        warnings=_warnings(top),
        thinking=_thinking(name, top) if thinking is None else (thinking or None),
        theme=top.text("theme"),
        # Only _detect's last resort picks the demo with a notice.
        unconfigured=name == DEMO and notice is not None,
        prompts=_prompts(top),
        providers=_other_providers(name, top, env),
    )


def _read_config(env: Mapping[str, str], path: Path | None = None) -> _Table:
    """The config file's top level; required only when $TOKENTIDE_CONFIG names it."""
    required = path is None and bool(env.get(CONFIG_ENV))
    path = path or config_path(env)
    return _Table(load_file(path, required=required), path)


def _provider_name(
    option: str | None, base_url: str | None, env: Mapping[str, str], top: _Table
) -> tuple[str, str | None]:
    """The provider's name, and a notice when the environment had to pick it."""
    chosen = option or env.get("TOKENTIDE_PROVIDER") or top.text("provider")
    if chosen:
        return chosen.strip().lower(), None
    return _detect(base_url, env)


_DETECT = (
    ("openai", ("OPENAI_API_KEY", "OPENAI_BASE_URL")),
    ("anthropic", ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")),
    ("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    ("ollama", ("OLLAMA_HOST",)),
)
"""Which provider a variable points to, in the order they are tried."""


def _detect(base_url: str | None, env: Mapping[str, str]) -> tuple[str, str | None]:
    if base_url:
        return "openai", None
    found = [(name, var) for name, names in _DETECT for var in names if env.get(var)]
    if found:
        name, var = found[0]
        others = sorted({n for n, _ in found} - {name})
        if not others:
            return name, None
        return name, (
            f"using {name} (from ${var}); {', '.join(others)} also configured: "
            "pick one with --provider"
        )
    names = ", ".join(var for _, names in _DETECT for var in names[:1])
    return DEMO, (
        f"no provider configured (no {names} or config file): using the built-in demo "
        "provider (offline)"
    )


def _demo_endpoint(model: str | None, http2: bool = False) -> Endpoint:
    # The demo serves its own models: a model meant for a real provider
    # (TOKENTIDE_MODEL, the file) must not break the offline fallback.
    builtin = BUILTIN_PROVIDERS[DEMO]
    return Endpoint(
        name=DEMO,
        wire=builtin.wire,
        base_url="",
        model=model or builtin.model,
        demo=True,
        http2=http2,
    )


def _endpoint(
    name: str,
    top: _Table,
    env: Mapping[str, str],
    *,
    model: str | None,
    base_url: str | None,
    http2: bool | None = None,
) -> Endpoint:
    builtin = BUILTIN_PROVIDERS.get(name)
    section = _section(name, top, builtin)
    wire = _wire(name, section, builtin)
    api_key, key_env, key_from = _api_key(section, builtin, env)
    raw_url, url_source = _base_url(name, wire, section, builtin, base_url, env)
    url, params = split_query(raw_url)
    own_url = builtin is not None and url_source in (_BUILTIN_URL, f"${builtin.base_url_env}")
    return Endpoint(
        name=name,
        wire=wire,
        base_url=url,
        model=_model(model, env, section, top, builtin if own_url else None),
        api_key=api_key,
        key_env=key_env,
        key_from=key_from,
        headers=_headers(name, section),
        params=params,
        http2=http2 if http2 is not None else bool(section.get("http2", bool)),
    )


def _section(name: str, top: _Table, builtin: BuiltinProvider | None) -> _Table:
    """`[providers.NAME]`, empty for a built-in provider the file does not mention."""
    sections = top.table("providers")
    # Provider names are case-insensitive: `--provider mylab` finds [providers.MyLab].
    name = next((key for key in sections.data if key.lower() == name), name)
    if name not in sections.data and builtin is None:
        configured = sorted(k for k in sections.data if k not in BUILTIN_PROVIDERS)
        choices = f"{', '.join(sorted(BUILTIN_PROVIDERS))} (built in)"
        if configured:
            choices += f", {', '.join(configured)} (in {top.path})"
        raise ConfigError(
            f"unknown provider {name!r}{_did_you_mean(name, [*BUILTIN_PROVIDERS, *configured])}",
            fix=f"use one of: {choices} or add [providers.{name}] with wire, base_url and model",
        )
    return sections.table(name, f"[providers.{name}]")


def _wire(name: str, section: _Table, builtin: BuiltinProvider | None) -> str:
    """The section's wire, else the built-in provider's; only implemented ones pass."""
    where = f"{section.where} of {section.path}"
    if "kind" in section.data:
        new = "anthropic" if section.data["kind"] == "anthropic" else "openai"
        raise ConfigError(
            f"kind in {where} was renamed to wire", fix=f'replace it with wire = "{new}"'
        )
    wire = section.text("wire")
    if wire is None:
        return _builtin_wire(name, builtin, where)
    wire = wire.strip().lower()
    if wire not in WIRES:
        raise ConfigError(
            f"wire = {wire!r} in {where} is not a wire format",
            fix=f"use one of: {', '.join(WIRES)}",
        )
    return wire


def _builtin_wire(name: str, builtin: BuiltinProvider | None, where: str) -> str:
    if builtin is None:
        raise ConfigError(
            f"{where} has no wire (the format its requests are written in)",
            fix=f'add wire = "openai" (or {", ".join(WIRES[1:])})',
        )
    return builtin.wire


def _api_key(
    section: _Table, builtin: BuiltinProvider | None, env: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """The key, the variable it is meant to come from, and where it was found;
    the variable wins over the file."""
    key_env = section.text("api_key_env")
    if key_env is not None and not _ENV_NAME.match(key_env):
        # Often the key itself pasted in the wrong place: never echo it.
        raise ConfigError(
            f"api_key_env in {section.where} of {section.path} must be the name of "
            "an environment variable (letters, digits, _), not the key",
            fix='e.g. api_key_env = "LAB_API_KEY", with the key in that variable',
        )
    named = [key_env] if key_env else []
    if builtin is not None and not key_env:
        named = [n for n in (builtin.key_env, *builtin.other_key_envs) if n]
    for name in named:
        if key := env.get(name):
            _check_key(key, f"${name}")
            return key, name, f"${name}"
    key_env = named[0] if named else None
    key = section.text("api_key")
    if key is None:
        return None, key_env, None
    source = f"api_key in {section.where} of {section.path}"
    _check_key(key, source)
    return key, key_env, source


_BUILTIN_URL = "the built-in default"


def _base_url(
    name: str,
    wire: str,
    section: _Table,
    builtin: BuiltinProvider | None,
    option: str | None,
    env: Mapping[str, str],
) -> tuple[str, str]:
    """The base URL and where it came from."""
    env_name = builtin.base_url_env if builtin else None
    from_env = env.get(env_name) if env_name else None
    if from_env and env_name == "OLLAMA_HOST":
        from_env = _ollama_url(from_env, wire)
    candidates = [
        (option, "--base-url"),
        (from_env, f"${env_name}"),
        (section.text("base_url"), f"base_url in {section.where} of {section.path}"),
        (builtin.base_url if builtin else None, _BUILTIN_URL),
    ]
    for url, source in candidates:
        if url:
            _check_url(url, source)
            return _host_url(url, wire), source
    raise ConfigError(
        f"provider {name!r} has no base URL",
        fix=f"pass --base-url or set base_url under {section.where} in {section.path}",
    )


def split_query(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`http://h/v1?api-version=x` -> (`http://h/v1`, (("api-version", "x"),)).

    httpx joins request paths onto the raw base URL, query included, which
    would send `/v1?api-version=xchat/completions`; the query goes out as
    `params=` on every request instead. The fragment is never sent: dropped.
    """
    parts = urlsplit(url)
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return base.rstrip("/"), params


def _model(
    option: str | None,
    env: Mapping[str, str],
    section: _Table,
    top: _Table,
    default: BuiltinProvider | None,
) -> str:
    """The model asked for, else `default`'s (the built-in provider at its own
    URL), else "": unknown, for the commands to ask the server."""
    return (
        option
        or env.get("TOKENTIDE_MODEL")
        or section.text("model")
        or top.text("model")
        or (default.model if default else "")
    )


def _headers(name: str, section: _Table) -> dict[str, str]:
    """Extra headers, checked now: httpx would fail at send time quoting the
    value, which may be a credential."""
    headers = section.table("headers", f"[providers.{name}.headers]")
    for header, value in headers.data.items():
        if not _HEADER_NAME.match(header):
            raise ConfigError(
                f"{header!r} under {headers.where} is not a valid header name",
                fix=f"edit {headers.path}",
            )
        if not isinstance(value, str) or not value.isascii() or not _header_safe(value):
            raise ConfigError(
                f"header {header!r} under {headers.where} must be a one-line ASCII string",
                fix=f"edit {headers.path}",
            )
    return dict(headers.data)


def _thinking(name: str, top: _Table) -> Thinking | None:
    """`thinking = true` (the provider's default budget), a budget in tokens,
    or false / 0 for none, in the provider's section."""
    sections = top.table("providers")
    key = next((k for k in sections.data if k.lower() == name), None)
    if key is None:
        return None
    section = sections.table(key, f"[providers.{key}]")
    value = section.data.get("thinking")
    if value is None or value is False or value == 0:
        return None
    from .request import Thinking  # not on the start-up path of the common case

    if value is True:
        return Thinking()
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return Thinking(value)
    raise ConfigError(
        f"thinking in {section.where} of {section.path} must be true, false or a budget in tokens",
        fix="e.g. thinking = true, or thinking = 8192",
    )


def _prompts(top: _Table) -> Mapping[str, str]:
    """`[prompts] concise = "Answer briefly."`: each a name and a non-empty text.
    "default" is taken: it is the top-level `system`."""
    table = top.table("prompts")
    prompts = {}
    for name in table.data:
        text = table.get(name, str)
        if name.strip().lower() == "default":
            raise ConfigError(
                f"{name!r} in [prompts] of {top.path} is taken by the top-level system prompt",
                fix='set system = "..." at the top of the file, or rename the prompt',
            )
        if not text.strip():
            raise ConfigError(
                f"{name!r} in [prompts] of {top.path} is empty",
                fix="give it a text, or remove it",
            )
        prompts[name] = text
    return MappingProxyType(prompts)


def _other_providers(
    current: str, top: _Table, env: Mapping[str, str]
) -> tuple[ConfiguredProvider, ...]:
    """Every provider besides `current` that this configuration points at: each
    `[providers.NAME]` section, and each built-in provider whose variables are
    set. One that needs a key and has none is left out (every request would be
    refused); one whose settings are wrong is kept with its error."""
    names = [name.lower() for name in top.table("providers").data if name.lower() != DEMO]
    names += [name for name, variables in _DETECT if any(env.get(v) for v in variables)]
    found = []
    for name in dict.fromkeys(names):
        if name == current:
            continue
        try:
            endpoint = _endpoint(name, top, env, model=None, base_url=None)
        except ConfigError as exc:
            found.append(ConfiguredProvider(name, None, one_line(str(exc))))
            continue
        if endpoint.api_key is None and endpoint.key_env is not None:
            continue
        found.append(ConfiguredProvider(name, endpoint))
    return tuple(found)


def _timeouts(top: _Table) -> Timeouts:
    table = top.table("timeouts")
    return Timeouts(
        connect=table.seconds("connect", Timeouts.connect),
        read=table.seconds("read", Timeouts.read),
    )


def _limits(top: _Table) -> Limits:
    table = top.table("limits")
    return Limits(
        event_bytes=table.megabytes("event_mb", Limits.event_bytes),
        answer_bytes=table.megabytes("answer_mb", Limits.answer_bytes),
    )


def _expected_tokens(top: _Table) -> int | None:
    value = top.get("expected_tokens", int)
    if value is not None and value < 1:
        raise ConfigError(
            f"expected_tokens in the config file must be at least 1, not {value}",
            fix=f"edit {top.path}",
        )
    return value


def _retries(top: _Table) -> int:
    value = top.get("retries", int)
    if value is None:
        return Settings.retries
    if not 0 <= value <= MAX_RETRIES:
        raise ConfigError(
            f"retries in the config file must be 0 to {MAX_RETRIES}, not {value}",
            fix=f"edit {top.path} (0 turns retries off)",
        )
    return value


def _prices(top: _Table) -> Mapping[str, Price]:
    """`[prices."gpt-4o-mini"] input = 0.15, output = 0.60`: USD per million tokens."""
    table = top.table("prices")
    prices = {}
    for model in table.data:
        entry = table.table(model, f'[prices."{model}"]')
        values = {key: entry.get(key, (int, float)) for key in _PRICE_KEYS}
        for key, value in values.items():
            if value is None or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"{key} in {entry.where} of {top.path} must be a price in USD per million "
                    "tokens (0 or more)",
                    fix="e.g. input = 0.15 and output = 0.60",
                )
        prices[model] = Price(float(values["input"]), float(values["output"]))
    return MappingProxyType(prices)


def _warnings(top: _Table) -> tuple[str, ...]:
    found = [
        *top.unknown(_TOP_KEYS),
        *top.table("timeouts").unknown(_TIMEOUT_KEYS),
        *top.table("limits").unknown(_LIMIT_KEYS),
    ]
    prices = top.table("prices")
    for model in prices.data:
        found += prices.table(model, f'[prices."{model}"]').unknown(_PRICE_KEYS)
    sections = top.table("providers")
    for name in sections.data:
        section = sections.table(name, f"[providers.{name}]")
        if name == DEMO:
            found.append(f"{top.path}: {section.where} is ignored: the demo provider is built in")
        else:
            found += section.unknown(_SECTION_KEYS, renamed=_RENAMED)
    return tuple(one_line(warning) for warning in found)


@dataclass(frozen=True)
class _Table:
    """Typed reads from a TOML table; a wrong type is a one-line error."""

    data: Mapping[str, Any]
    path: Path
    name: str = ""
    """`[timeouts]`, `[providers.lab]`; empty for the top level."""

    @property
    def where(self) -> str:
        return self.name or "the config file"

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            names = {str: "a string", int: "an integer", dict: "a table", bool: "true or false"}
            wanted = names.get(kind, "a number") if isinstance(kind, type) else "a number"
            # A number is shown; anything else only by its kind: a key pasted
            # into the wrong place must not end up on the screen.
            number = isinstance(value, int | float) and not isinstance(value, bool)
            shown = repr(value) if number else _KINDS.get(type(value), type(value).__name__)
            raise ConfigError(
                f"{key} in {self.where} must be {wanted}, not {shown}",
                fix=f"edit {self.path}",
            )
        return value

    def text(self, key: str) -> str | None:
        return self.get(key, str) or None

    def table(self, key: str, name: str | None = None) -> _Table:
        return _Table(self.get(key, dict) or {}, self.path, name or f"[{key}]")

    def seconds(self, key: str, default: float) -> float:
        value = self.get(key, (int, float))
        if value is None:
            return default
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"{key} in {self.where} must be more than 0 seconds, not {value!r}",
                fix=f"edit {self.path}",
            )
        return float(value)

    def megabytes(self, key: str, default: int) -> int:
        """A size given in MB (fractions allowed: 0.5 is 512 KB), in bytes."""
        value = self.get(key, (int, float))
        if value is None:
            return default
        if not math.isfinite(value) or value <= 0 or value * MB >= 2**53:
            raise ConfigError(
                f"{key} in {self.where} must be a size in MB more than 0, not {value!r}",
                fix=f"edit {self.path} (e.g. {key} = {default // MB})",
            )
        return max(1, int(value * MB))

    def unknown(self, known: Iterable[str], renamed: Mapping[str, str] | None = None) -> list[str]:
        """A warning for each key nobody reads, with the likely intended key."""
        known, renamed = list(known), renamed or {}
        inside = f" in {self.name}" if self.name else ""
        warnings = []
        for key in self.data:
            if key in known:
                continue
            if key in renamed:
                warnings.append(f"{self.path}: {key!r}{inside} was renamed to {renamed[key]!r}")
            else:
                hint = _did_you_mean(key, known)
                warnings.append(f"{self.path}: unknown key {key!r}{inside}{hint}")
        return warnings


_KINDS = {str: "a string", list: "a list", dict: "a table", bool: "true/false"}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_key(key: str, source: str) -> None:
    """A key with a newline or non-ASCII in it would be rejected by httpx with
    the key quoted in the message; refuse it here without showing it."""
    if not key.isascii() or not _header_safe(key) or key != key.strip():
        raise ConfigError(
            f"the API key in {source} contains spaces, control or non-ASCII characters",
            fix="copy the key again, without quotes or line breaks",
        )


def _header_safe(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def _check_url(url: str, source: str) -> None:
    # The standard library's parser, not httpx's: the app must not import
    # httpx before its first frame (100 ms of a cold start).
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        ok = ok and (parts.port is None or 0 < parts.port < 65536)
        ok = ok and not any(ch.isspace() or not ch.isprintable() for ch in url)
        secret = bool(parts.username or parts.password)
    except ValueError:
        ok, secret = False, False
    if secret:
        # It would be shown wherever the URL is (the title bar, every error).
        raise ConfigError(
            f"the base URL ({source}) has a user name or password in it",
            fix="take it out; put the key in a variable named by api_key_env, or in "
            "[providers.NAME.headers]",
        )
    if not ok:
        raise ConfigError(
            f"{url!r} ({source}) is not a usable base URL",
            fix="use http(s)://host[:port]/path, e.g. http://127.0.0.1:8080/v1",
        )


def _host_url(url: str, wire: str) -> str:
    """`https://api.anthropic.com/v1` -> `https://api.anthropic.com` for a wire
    whose paths start with the version; the query is kept."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for suffix in _HOST_SUFFIXES.get(wire, ()):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
    return url


def _ollama_url(host: str, wire: str) -> str:
    """OLLAMA_HOST (`host:port`, `0.0.0.0`, or a URL) -> the base URL for `wire`:
    the OpenAI-compatible API lives under `/v1`, the native one at the root."""
    if "://" not in host:
        host = "http://" + host
    host = host.replace("://0.0.0.0", "://127.0.0.1").rstrip("/")
    return host + "/v1" if wire == "openai" else host


def provider_names(env: Mapping[str, str] | None = None, path: Path | None = None) -> set[str]:
    """Every provider name a lane may start with (`NAME:MODEL`): the built-in
    ones and each `[providers.NAME]` of the config file, lower case."""
    env = os.environ if env is None else env
    top = _read_config(env, path)
    return {*BUILTIN_PROVIDERS, *(name.lower() for name in top.table("providers").data)}
