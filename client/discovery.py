"""What the configuration leaves open, settled by asking the network.

`config.resolve` never touches the network: it runs at every start and in
tests. Two things it can only leave open, and the commands settle them here
before anything is sent (`Settings.needs_settling`, then `settle`):

- A base URL given without a model (`Settings.model_known` is false). The
  built-in provider's default model would go to whatever server is there: a
  local one (llama.cpp, vLLM, LM Studio) would refuse `gpt-4o-mini` or, worse,
  answer with whatever model it has loaded. So the server is asked: one model
  listed is used (and said so), several or none is a one-line error naming
  them and the fix (`--model NAME`).
- Nothing configured at all (`Settings.unconfigured`). Before the offline demo
  stands in, the usual ports of local servers are tried on 127.0.0.1 - only
  there, all at once, `PROBE_SECONDS` in all: a closed port refuses in
  microseconds, but a firewalled one would hang until the deadline.

A configured start (the usual one) pays nothing: it does not import this
module, which imports httpx and h11 only when it asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import BUILTIN_PROVIDERS, DEMO, Endpoint, Settings
from .errors import ApiError, ConfigError, one_line

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LOCAL_SERVERS",
    "LOOPBACK",
    "PROBE_SECONDS",
    "Found",
    "LocalServer",
    "probe",
    "settle",
    "settle_model",
]

LOOPBACK = "127.0.0.1"
"""The only host the probe ever connects to: a probe of the network would be
a scan, and a server elsewhere is something the user configures."""

PROBE_SECONDS = 0.3
"""The whole probe's deadline, every port at once."""

SHOWN = 8
"""Model ids named in one line; the rest are counted."""

_BODY_LIMIT = 1 << 20
"""A model list is a few kilobytes; a port that streams more is not one."""


@dataclass(frozen=True)
class LocalServer:
    """A local server's usual port and how to ask it for its models."""

    label: str
    """For the notice: "found Ollama on 127.0.0.1:11434"."""
    port: int
    wire: str
    provider: str
    """The endpoint's provider name once found: what `--provider` would say."""
    models_path: str
    list_key: str
    """The reply's key holding the list: a JSON reply without it is some other
    program on that port, not a model server."""
    base_path: str = ""

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{self.base_path}"


LOCAL_SERVERS: tuple[LocalServer, ...] = (
    LocalServer("Ollama", 11434, "ollama", "ollama", "/api/tags", "models"),
    LocalServer("llama.cpp", 8080, "openai", "openai", "/v1/models", "data", "/v1"),
    LocalServer("LM Studio", 1234, "openai", "openai", "/v1/models", "data", "/v1"),
    LocalServer("vLLM", 8000, "openai", "openai", "/v1/models", "data", "/v1"),
)
"""Tried in parallel; when several answer, the first in this order is used."""


@dataclass(frozen=True)
class Found:
    server: LocalServer
    models: tuple[str, ...]


async def settle(
    settings: Settings,
    *,
    need_model: bool = True,
    servers: Sequence[LocalServer] = LOCAL_SERVERS,
    deadline: float = PROBE_SECONDS,
    env: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Settings:
    """`settings` with nothing left open: a local server instead of the demo
    when nothing is configured and one answers, the server's only model when
    a base URL came without one. `need_model=False` (`tokentide models`)
    leaves an unknown model unknown.

    Raises ConfigError (several models or none: the user must pick) or
    ApiError (the server could not be asked).
    """
    if settings.unconfigured:
        return await _local_or_demo(settings, servers, deadline, need_model, env)
    if need_model and not settings.model_known:
        return await settle_model(settings, transport=transport)
    return settings


async def settle_model(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Settings:
    """The endpoint's model from the server's own list, when it lists exactly one."""
    from .stream import ChatClient

    endpoint = settings.endpoint
    try:
        async with ChatClient(endpoint, timeouts=settings.timeouts, transport=transport) as client:
            listed = await client.list_models()
    except ApiError as exc:
        raise _list_failed(exc) from None
    models = _usable(listed)
    secrets = endpoint.secrets
    where = secrets.scrub(endpoint.base_url)
    if not models:
        raise ConfigError(
            f"no model given, and the server at {where} lists none",
            fix="pass --model NAME",
        )
    if len(models) > 1:
        raise ConfigError(
            secrets.scrub(
                f"no model given, and the server at {where} lists {len(models)} models: "
                f"{_some(models, SHOWN)}"
            ),
            fix="pick one with --model NAME",
        )
    (model,) = models
    if secrets.scrub(model) != model:
        # Adopted, it would be shown, sent back in `--json` and stored in the
        # history with every answer: a name the user never typed must not hold it.
        raise ConfigError(
            f"no model given, and the only model the server at {where} lists has your "
            f"API key in its name: {secrets.scrub(model)}",
            fix="pass --model NAME",
        )
    note = secrets.scrub(f"model: {model} (the only one the server lists)")
    return dataclasses.replace(
        settings,
        endpoint=dataclasses.replace(endpoint, model=model),
        notice=_join(settings.notice, note),
    )


def _list_failed(exc: ApiError) -> ApiError:
    """The list's failure, saying what it was for: the model must be given."""
    if exc.kind == "not_found":
        fix = "this server does not list its models: pass --model NAME"
    elif exc.fix:
        fix = f"{exc.fix}; name the model with --model NAME"
    else:
        fix = "name the model with --model NAME"
    return dataclasses.replace(
        exc,
        message=f"no model given, and asking the server for its models failed: {exc.message}",
        fix=fix,
    )


# -- nothing configured: a local server, else the demo ------------------------


async def _local_or_demo(
    settings: Settings,
    servers: Sequence[LocalServer],
    deadline: float,
    need_model: bool,
    env: Mapping[str, str] | None,
) -> Settings:
    wanted = _wanted(settings, os.environ if env is None else env) if need_model else None
    found = [f for f in await probe(servers, deadline=deadline) if f.models]
    if wanted is not None:
        found = [f for f in found if wanted in f.models]
    if not found:
        return dataclasses.replace(settings, unconfigured=False)  # the demo, as resolved
    pick = found[0]
    model = wanted or pick.models[0]
    endpoint = Endpoint(
        name=pick.server.provider,
        wire=pick.server.wire,
        base_url=pick.server.base_url,
        model=model,
        http2=settings.endpoint.http2,
    )
    if not need_model:
        notice = _found(pick)
    elif wanted is not None or len(pick.models) == 1:
        notice = f"{_found(pick)}: using {model}"
    else:
        others = _some(pick.models[1:], SHOWN)
        notice = f"{_found(pick)}: using {model}; also {others} — pick another with --model"
    return dataclasses.replace(
        settings, endpoint=endpoint, notice=one_line(notice), unconfigured=False
    )


def _wanted(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The model asked for by `--model` (resolve kept it on the demo endpoint)
    or $TOKENTIDE_MODEL: a local server is used only if it lists it."""
    model = settings.endpoint.model
    if model and model != BUILTIN_PROVIDERS[DEMO].model:
        return model
    return env.get("TOKENTIDE_MODEL") or None


def _found(found: Found) -> str:
    count = len(found.models)
    return (
        f"found {found.server.label} on {LOOPBACK}:{found.server.port} "
        f"({count} model{'' if count == 1 else 's'})"
    )


async def probe(
    servers: Sequence[LocalServer] = LOCAL_SERVERS, *, deadline: float = PROBE_SECONDS
) -> list[Found]:
    """The servers that answered with a model list within `deadline` seconds
    (all asked at once), in the order given. Only 127.0.0.1 is ever contacted."""
    tasks = [asyncio.ensure_future(_ask(server)) for server in servers]
    if not tasks:
        return []
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [found for task in tasks if task not in pending and (found := task.result())]


async def _ask(server: LocalServer) -> Found | None:
    """One GET on loopback; anything but a model list is None."""
    import h11

    try:
        reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
    except OSError:
        return None  # refused: nothing there
    try:
        status, body = await _get(reader, writer, server)
    except (OSError, h11.ProtocolError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if status != 200 or body is None:
        return None
    return _models_of(server, body)


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: LocalServer
) -> tuple[int, bytes | None]:
    """Status and body of `GET models_path`; a body over the limit is None."""
    import h11

    conn = h11.Connection(h11.CLIENT)
    headers = [
        ("Host", f"{LOOPBACK}:{server.port}"),
        ("Accept", "application/json"),
        ("Connection", "close"),
    ]
    writer.write(conn.send(h11.Request(method="GET", target=server.models_path, headers=headers)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _BODY_LIMIT:
                return status, None
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, bytes(body)


def _models_of(server: LocalServer, body: bytes) -> Found | None:
    from .providers import wire_format

    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get(server.list_key), list):
        return None
    models = _usable(wire_format(server.wire).parse_models(parsed))
    return Found(server, tuple(models))


# -- wording -------------------------------------------------------------------


def _usable(ids: Sequence[str]) -> list[str]:
    """Ids that can be shown as they will be sent: the server is not trusted
    to send printable ones, and a cleaned-up id would name another model."""
    seen: dict[str, None] = {}
    for model_id in ids:
        if model_id.strip() and all(ch.isprintable() for ch in model_id):
            seen.setdefault(model_id, None)
    return list(seen)


def _some(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown}, … ({len(items) - limit} more)" if len(items) > limit else shown


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second
