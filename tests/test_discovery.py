"""What the configuration leaves open, settled over real loopback sockets: a base
URL's only model, and a local server found when nothing at all is configured.

The probe's port list is injected: every server here listens on an ephemeral
port of 127.0.0.1, never on the real well-known ones.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.replay import Canned, ReplayServer
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.client.discovery import (
    LOCAL_SERVERS,
    LOOPBACK,
    PROBE_SECONDS,
    LocalServer,
    probe,
    settle,
)
from tokentide.client.errors import ApiError, ConfigError
from tokentide.tui.app import TokentideApp

OLLAMA, LLAMA_CPP, LM_STUDIO, VLLM = LOCAL_SERVERS


def at(server: LocalServer, port: int) -> LocalServer:
    """A probe target with the semantics of `server` on an ephemeral port."""
    return dataclasses.replace(server, port=port)


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel completes but nobody ever answers."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@contextmanager
def refused_port() -> Iterator[int]:
    """A port held (bound, not listening) so that connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


@pytest.fixture
def demo():
    with DemoServer(tokens_per_second=4000, ttft=0.01) as server:
        yield server


def models_json(*ids: str, key: str = "data") -> Canned:
    if key == "models":
        body = {"models": [{"name": i, "model": i} for i in ids]}
    else:
        body = {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}
    return Canned(json.dumps(body).encode(), content_type="application/json")


def unconfigured(tmp_path, **kw):
    settings = resolve(env={}, path=tmp_path / "none.toml", **kw)
    assert settings.unconfigured and settings.endpoint.demo
    return settings


# -- the probe ------------------------------------------------------------------


async def test_probe_asks_every_port_at_once_and_the_deadline_holds(demo):
    port = demo.port
    with silent_port() as silent, refused_port() as refused:
        servers = [at(OLLAMA, refused), at(LLAMA_CPP, silent), at(OLLAMA, port), at(VLLM, port)]
        started = time.perf_counter()
        found = await probe(servers)
        elapsed = time.perf_counter() - started
    # The silent port is given up at the deadline, not at a connect or read timeout.
    assert PROBE_SECONDS - 0.05 <= elapsed < 0.5, elapsed
    assert [(f.server.label, f.server.port) for f in found] == [("Ollama", port), ("vLLM", port)]
    assert found[0].models == ("demo-think:latest", "demo-tools:latest", "demo:latest")
    assert found[1].models == ("demo", "demo-think", "demo-tools")
    assert sorted(r.path for r in demo.requests) == ["/api/tags", "/v1/models"]


async def test_probe_of_closed_ports_returns_at_once():
    with refused_port() as a, refused_port() as b:
        started = time.perf_counter()
        assert await probe([at(OLLAMA, a), at(LM_STUDIO, b)]) == []
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    "canned",
    [
        Canned(b'{"detail": "Not Found"}', status=404, content_type="application/json"),
        Canned(b"<html>a web app</html>", content_type="text/html"),
        Canned(b'{"status": "ok"}', content_type="application/json"),  # JSON, not a model list
    ],
)
async def test_a_port_that_is_not_a_model_server_is_not_found(canned):
    with ReplayServer() as other:
        other.reply(canned)
        assert await probe([at(LLAMA_CPP, other.port)]) == []
        assert [s.path for s in other.seen] == ["/v1/models"]


async def test_probe_reads_a_chunked_list_and_drops_unprintable_ids():
    with ReplayServer() as server:
        server.reply(models_json("qwen", "bad\x1b[31mid", " ", "qwen", key="models"))
        (found,) = await probe([at(OLLAMA, server.port)])
        assert server.seen[0].headers["host"] == f"{LOOPBACK}:{server.port}"
    assert found.models == ("qwen",)


# -- nothing configured: a local server instead of the demo ---------------------


async def test_nothing_configured_and_a_local_server_with_one_model(tmp_path):
    settings = unconfigured(tmp_path)
    with ReplayServer() as server, refused_port() as refused:
        server.reply(models_json("llama3.2", key="models"))
        servers = [at(OLLAMA, server.port), at(LLAMA_CPP, refused)]
        settled = await settle(settings, servers=servers, env={})
    endpoint = settled.endpoint
    assert (endpoint.name, endpoint.wire, endpoint.model) == ("ollama", "ollama", "llama3.2")
    assert endpoint.base_url == f"http://127.0.0.1:{server.port}" and not endpoint.demo
    assert settled.notice == f"found Ollama on 127.0.0.1:{server.port} (1 model): using llama3.2"
    assert not settled.unconfigured and not settled.needs_settling()


async def test_several_models_use_the_first_and_name_the_others(tmp_path, demo):
    settings = unconfigured(tmp_path)
    with refused_port() as refused:
        servers = [at(OLLAMA, refused), at(LM_STUDIO, demo.port), at(VLLM, demo.port)]
        settled = await settle(settings, servers=servers, env={})
    endpoint = settled.endpoint
    assert (endpoint.name, endpoint.wire, endpoint.model) == ("openai", "openai", "demo")
    assert endpoint.base_url == demo.base_url  # LM Studio comes before vLLM
    assert settled.notice == (
        f"found LM Studio on 127.0.0.1:{demo.port} (3 models): using demo; "
        "also demo-think, demo-tools — pick another with --model"
    )


async def test_a_model_asked_for_picks_the_server_that_lists_it(tmp_path, demo):
    with ReplayServer() as other:
        other.reply(models_json("qwen3"))
        servers = [at(LLAMA_CPP, other.port), at(VLLM, demo.port)]
        settled = await settle(
            unconfigured(tmp_path), servers=servers, env={"TOKENTIDE_MODEL": "demo-think"}
        )
    assert settled.endpoint.model == "demo-think" and settled.endpoint.base_url == demo.base_url
    assert settled.notice == f"found vLLM on 127.0.0.1:{demo.port} (3 models): using demo-think"

    # --model beats the variable; a server that does not list it is not used.
    settings = unconfigured(tmp_path, model="nowhere")
    settled = await settle(settings, servers=[at(VLLM, demo.port)], env={})
    assert settled.endpoint.demo and settled.endpoint.model == "nowhere"
    assert "demo provider" in settled.notice


async def test_nothing_found_keeps_the_demo_and_its_notice(tmp_path):
    settings = unconfigured(tmp_path)
    with silent_port() as silent, refused_port() as refused, ReplayServer() as empty:
        empty.reply(models_json(key="models"))  # Ollama with nothing pulled: nothing to chat with
        servers = [at(OLLAMA, empty.port), at(LLAMA_CPP, silent), at(VLLM, refused)]
        settled = await settle(settings, servers=servers, env={})
    assert settled.endpoint == settings.endpoint and settled.notice == settings.notice
    assert "demo provider" in settled.notice and not settled.unconfigured


async def test_the_models_command_needs_no_model_from_the_found_server(tmp_path, demo):
    settled = await settle(
        unconfigured(tmp_path), need_model=False, servers=[at(VLLM, demo.port)], env={}
    )
    assert settled.endpoint.base_url == demo.base_url
    assert settled.notice == f"found vLLM on 127.0.0.1:{demo.port} (3 models)"


async def test_anything_configured_is_never_probed(tmp_path, demo):
    servers = [at(OLLAMA, demo.port), at(VLLM, demo.port)]
    for settings in (
        resolve(env={"OPENAI_API_KEY": "sk-0123456789"}, path=tmp_path / "none.toml"),
        resolve(provider="demo", env={}, path=tmp_path / "none.toml"),
        resolve(base_url=demo.base_url, model="demo", env={}, path=tmp_path / "none.toml"),
    ):
        assert not settings.unconfigured and not settings.needs_settling()
        assert await settle(settings, servers=servers, env={}) is settings
    assert demo.requests == []


def test_a_configured_start_imports_no_network_code():
    """The command line's settle step costs a configured start nothing."""
    code = (
        "import sys\n"
        "from tokentide.client.config import resolve\n"
        "from tokentide.tui import prelude\n"
        "settings = resolve(base_url='http://127.0.0.1:9/v1', model='m', env={})\n"
        "assert prelude.settle(settings, False, True) is settings\n"
        "print(sorted(m for m in ('httpx', 'h11', 'textual') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- a base URL without a model ---------------------------------------------------


def test_a_base_url_without_a_model_leaves_the_model_unknown(tmp_path):
    none = tmp_path / "none.toml"
    settings = resolve(base_url="http://127.0.0.1:8080/v1", env={}, path=none)
    assert settings.endpoint.model == "" and not settings.model_known
    assert settings.needs_settling() and not settings.needs_settling(need_model=False)
    # A model from anywhere is known; the built-in default only at its own URLs.
    assert resolve(base_url="http://h/v1", env={"TOKENTIDE_MODEL": "m"}, path=none).model_known
    assert resolve(env={"OPENAI_API_KEY": "sk-0123456789"}, path=none).endpoint.model == (
        "gpt-4o-mini"
    )
    proxy = resolve(env={"OPENAI_BASE_URL": "http://proxy/v1"}, path=none)
    assert proxy.endpoint.model == "gpt-4o-mini"
    config = tmp_path / "config.toml"
    config.write_text("[providers.lab]\nwire = 'openai'\nbase_url = 'http://h/v1'\n")
    assert not resolve(provider="lab", env={}, path=config).model_known
    config.write_text("[providers.openai]\nbase_url = 'http://127.0.0.1:1234/v1'\n")
    assert not resolve(provider="openai", env={}, path=config).model_known


async def test_the_only_model_listed_is_used_and_said_once(tmp_path):
    with ReplayServer() as server:
        server.reply(models_json("qwen2.5-7b"))
        settings = resolve(base_url=server.base_url, env={}, path=tmp_path / "none.toml")
        settled = await settle(settings)
    assert settled.endpoint.model == "qwen2.5-7b" and settled.model_known
    assert settled.notice == "model: qwen2.5-7b (the only one the server lists)"
    assert [s.path for s in server.seen] == ["/v1/models"]
    assert settled.endpoint.base_url == settings.endpoint.base_url


async def test_ollama_native_base_url_asks_its_own_list(tmp_path):
    with ReplayServer() as server:
        server.reply(models_json("llama3.2:latest", key="models"))
        url = f"http://127.0.0.1:{server.port}"
        settings = resolve(provider="ollama", base_url=url, env={}, path=tmp_path / "none.toml")
        settled = await settle(settings)
    assert settled.endpoint.model == "llama3.2:latest"
    assert [s.path for s in server.seen] == ["/api/tags"]


async def test_several_models_are_a_one_line_error_naming_them(tmp_path, demo):
    settings = resolve(base_url=demo.base_url, env={}, path=tmp_path / "none.toml")
    with pytest.raises(ConfigError) as info:
        await settle(settings)
    message = str(info.value)
    assert message == (
        f"no model given, and the server at {demo.base_url} lists 3 models: demo, demo-think, "
        "demo-tools — pick one with --model NAME"
    )


async def test_many_models_are_named_up_to_eight(tmp_path):
    ids = [f"m{i:02}" for i in range(12)]
    with ReplayServer() as server:
        server.reply(models_json(*ids))
        settings = resolve(base_url=server.base_url, env={}, path=tmp_path / "none.toml")
        with pytest.raises(ConfigError) as info:
            await settle(settings)
    message = str(info.value)
    assert "lists 12 models: m00, m01, m02, m03, m04, m05, m06, m07, … (4 more)" in message
    assert "m08" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("canned", "kind", "words"),
    [
        (models_json(), ConfigError, ["lists none", "--model NAME"]),
        (
            Canned(b'{"error": "no such route"}', status=404, content_type="application/json"),
            ApiError,
            ["HTTP 404", "does not list its models", "--model NAME"],
        ),
        (
            Canned(b'{"error": {"message": "boom"}}', status=500, content_type="application/json"),
            ApiError,
            ["HTTP 500", "boom", "--model NAME"],
        ),
    ],
)
async def test_no_model_listed_says_the_model_must_be_given(tmp_path, canned, kind, words):
    with ReplayServer() as server:
        server.reply(canned)
        settings = resolve(base_url=server.base_url, env={}, path=tmp_path / "none.toml")
        with pytest.raises(kind) as info:
            await settle(settings)
    message = str(info.value)
    assert message.startswith("no model given") and "\n" not in message
    assert all(word in message for word in words), message


async def test_an_unreachable_server_says_why_and_what_to_pass(tmp_path):
    with refused_port() as port:
        settings = resolve(
            base_url=f"http://127.0.0.1:{port}/v1", env={}, path=tmp_path / "none.toml"
        )
        with pytest.raises(ApiError) as info:
            await settle(settings)
    assert info.value.kind == "connect"
    assert str(info.value) == (
        f"no model given, and asking the server for its models failed: cannot connect to "
        f"http://127.0.0.1:{port}/v1 (connection refused) — check that the server is running "
        "and the base URL is right; name the model with --model NAME"
    )


async def test_a_key_echoed_in_the_only_model_id_is_never_adopted(tmp_path):
    """Masking the notice was not enough: the model was then shown, sent back
    in `--json` and stored in the history with the key in its name."""
    key = "sk-secret-0123456789"
    with ReplayServer() as server:
        server.reply(models_json("proxy/{bearer}"))
        settings = resolve(
            base_url=server.base_url,
            env={"OPENAI_API_KEY": key},
            path=tmp_path / "none.toml",
        )
        with pytest.raises(ConfigError) as caught:
            await settle(settings)
    line = str(caught.value)
    assert key not in line and "has your API key in its name: proxy/sk-…" in line
    assert line.endswith("— pass --model NAME")


async def test_the_app_shows_the_settled_model_as_its_notice(tmp_path, demo):
    with ReplayServer() as lister:
        lister.reply(models_json("demo-think"))
        settings = resolve(base_url=lister.base_url, env={}, path=tmp_path / "none.toml")
        settled = await settle(settings)
    # The chat goes to the demo server, with the model the lister named.
    endpoint = dataclasses.replace(settled.endpoint, base_url=demo.base_url)
    app = TokentideApp(dataclasses.replace(settled, endpoint=endpoint))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert notes.count("model: demo-think (the only one the server lists)") == 1
        assert "demo-think" in app.sub_title
