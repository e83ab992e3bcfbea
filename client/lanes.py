"""Lanes: one prompt, several models, each named `[PROVIDER:]MODEL`.

A race or a bench names its models the way a user thinks of them:
`openai:gpt-4o-mini`, `an:claude-sonnet-4-5` (a `[providers.an]` section),
`demo-think` (the default provider's model), `ollama:llama3.2:3b`. Model ids
hold colons themselves (Ollama's tags), so only a first part that names a
provider, built in or configured, is taken as one; anything else is all
model, for the default provider. `PROVIDER:` alone is that provider's own
model.

Each lane resolves to its own `Settings` exactly as `--provider P --model M`
would, so its key, base URL, wire format, headers and limits are the ones
the config file gives that provider, and every lane gets its own client
(its own connection pool): lanes of different wire formats run together
and one lane's stalled connection cannot hold up another's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import Settings, provider_names, resolve
from .errors import ConfigError

MAX_LANES = 6


@dataclass(frozen=True)
class LaneSpec:
    """What the user wrote, split: a provider (None: the default one) and a
    model (None: that provider's own)."""

    text: str
    provider: str | None
    model: str | None


def parse_lane(text: str, providers: set[str]) -> LaneSpec:
    """`[PROVIDER:]MODEL`, where PROVIDER counts only if `providers` knows it."""
    spec = text.strip()
    if not spec:
        raise ConfigError("a model to race is empty", fix="name it as [PROVIDER:]MODEL")
    head, colon, rest = spec.partition(":")
    if colon and head.strip().lower() in providers:
        return LaneSpec(spec, head.strip().lower(), rest.strip() or None)
    return LaneSpec(spec, None, spec)


@dataclass(frozen=True)
class Lane:
    """One model of a race: what the user wrote and where it goes."""

    spec: LaneSpec
    settings: Settings

    @property
    def label(self) -> str:
        """`provider:model`, as the user reads it in a column header or a table."""
        endpoint = self.settings.endpoint
        return f"{endpoint.name}:{endpoint.model}" if endpoint.model else endpoint.name


def resolve_lanes(
    specs: Sequence[str],
    *,
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    http2: bool | None = None,
    at_least: int = 1,
) -> list[Lane]:
    """Each spec's settings, in order; a one-line `ConfigError` for the first
    that cannot be resolved, naming it."""
    if len(specs) < at_least:
        raise ConfigError(
            f"name at least {at_least} model{'s' if at_least > 1 else ''} (got {len(specs)})",
            fix="add -m [PROVIDER:]MODEL",
        )
    if len(specs) > MAX_LANES:
        raise ConfigError(
            f"at most {MAX_LANES} models at once (got {len(specs)})", fix="drop some -m options"
        )
    known = provider_names(env, path)
    lanes = []
    for text in specs:
        spec = parse_lane(text, known)
        try:
            settings = resolve(
                provider=spec.provider,
                model=spec.model,
                system=system,
                env=env,
                path=path,
                http2=http2,
            )
        except ConfigError as exc:
            raise ConfigError(f"{text}: {exc}") from None
        lanes.append(Lane(spec, settings))
    return lanes


@contextmanager
def demo_lanes(lanes: Sequence[Lane]) -> Iterator[list[Lane]]:
    """The lanes, with every demo lane pointed at one demo server started here
    (one server serves every demo model and wire at once)."""
    if not any(lane.settings.endpoint.demo for lane in lanes):
        yield list(lanes)
        return
    from .demo import DemoServer

    with DemoServer() as server:
        yield [
            _at(lane, server.base_url) if lane.settings.endpoint.demo else lane for lane in lanes
        ]


def _at(lane: Lane, base_url: str) -> Lane:
    endpoint = dataclasses.replace(lane.settings.endpoint, base_url=base_url)
    return dataclasses.replace(lane, settings=dataclasses.replace(lane.settings, endpoint=endpoint))
