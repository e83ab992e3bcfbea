from __future__ import annotations

import asyncio
import threading

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
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
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


class ServerLog(list[str]):
    """The demo server's log lines, which tests can await.

    The server writes a request's line after the last byte of its reply, so a
    client that has read the whole answer may still be ahead of the line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._grown = threading.Condition()

    def append(self, line: str) -> None:
        with self._grown:
            super().append(line)
            self._grown.notify_all()

    async def wait(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until `count` lines are written."""

        def wait() -> None:
            with self._grown:
                if not self._grown.wait_for(lambda: len(self) >= count, timeout):
                    raise TimeoutError(f"{len(self)} of {count} log lines after {timeout} s")

        await asyncio.to_thread(wait)


@pytest.fixture
def logs() -> ServerLog:
    return ServerLog()


@pytest.fixture
def path(tmp_path):
    """Where a test's history file goes (tests/test_store*.py)."""
    return tmp_path / "data" / "history.db"


@pytest.fixture
def store(path):
    """A real history file, open (tui/store.py)."""
    from tokentide.tui.store import Store

    with Store.open(path) as opened:
        yield opened


@pytest.fixture
def history_file(tmp_path, monkeypatch):
    """The app's history in a file of this test's own (TOKENTIDE_HISTORY)."""
    path = tmp_path / "history.db"
    monkeypatch.setenv("TOKENTIDE_HISTORY", str(path))
    return path


@pytest.fixture
def servers():
    """Two demo servers: two providers whose answers a test scripts apart."""
    from tokentide.client.demo import DemoServer

    with (
        DemoServer(tokens_per_second=400, ttft=0.01) as a,
        DemoServer(tokens_per_second=400, ttft=0.01) as b,
    ):
        yield a, b
