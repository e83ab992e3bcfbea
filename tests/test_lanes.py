"""`[PROVIDER:]MODEL`: which part is the provider, and what each lane resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentide.client.errors import ConfigError
from tokentide.client.lanes import MAX_LANES, demo_lanes, parse_lane, resolve_lanes

KNOWN = {"openai", "ollama", "demo", "an"}


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("ollama:llama3.2:3b", "ollama", "llama3.2:3b"),  # a tag's colon stays in the model
        ("llama3.2:3b", None, "llama3.2:3b"),  # not a provider: all model
        ("AN:claude", "an", "claude"),
        ("demo:", "demo", None),  # the provider's own model
        ("gpt-4o", None, "gpt-4o"),
    ],
)
def test_parse_lane(text: str, provider: str | None, model: str | None) -> None:
    spec = parse_lane(text, KNOWN)
    assert (spec.provider, spec.model) == (provider, model)


def test_lanes_resolve_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[providers.oa]\nwire = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m1"\n'
        '[providers.an]\nwire = "anthropic"\nbase_url = "http://127.0.0.1:9"\nmodel = "m2"\n'
    )
    lanes = resolve_lanes(["oa:", "an:other", "demo:demo-think"], env={}, path=path)
    assert [lane.label for lane in lanes] == ["oa:m1", "an:other", "demo:demo-think"]
    assert [lane.settings.endpoint.wire for lane in lanes] == ["openai", "anthropic", "openai"]
    with demo_lanes(lanes) as running:
        assert running[2].settings.endpoint.base_url.startswith("http://127.0.0.1:")
        assert running[0].settings.endpoint.base_url == "http://127.0.0.1:9/v1"


def test_bad_lanes_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="at least 2"):
        resolve_lanes(["demo"], env={}, path=path, at_least=2)
    with pytest.raises(ConfigError, match=f"at most {MAX_LANES}"):
        resolve_lanes(["demo"] * (MAX_LANES + 1), env={}, path=path)
    with pytest.raises(ConfigError, match="empty"):
        resolve_lanes(["demo", " "], env={}, path=path)
