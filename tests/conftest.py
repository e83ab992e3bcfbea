from __future__ import annotations

import pytest

from tests.replay import ReplayServer


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test sees the developer's keys, config or data directories.

    The config file is found through XDG_CONFIG_HOME (platformdirs honours it
    on Linux), not TOKENTIDE_CONFIG: a TOKENTIDE_CONFIG naming a missing file
    is an error, and tests must see the default "no file, no settings" case.
    """
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "OLLAMA_HOST",
        "TOKENTIDE_CONFIG",
        "TOKENTIDE_MODEL",
        "TOKENTIDE_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path


@pytest.fixture
def replay():
    with ReplayServer() as server:
        yield server
