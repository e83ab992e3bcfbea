"""Which provider, URL, model and key get used, and in what order."""

from __future__ import annotations

import pytest

from tokentide.client.config import resolve
from tokentide.client.errors import StreamError


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_nothing_configured_means_demo_with_a_notice(tmp_path):
    settings = resolve(env={}, path=tmp_path / "none.toml")
    assert settings.endpoint.is_demo and settings.endpoint.model == "demo"
    assert "demo provider" in settings.notice and "\n" not in settings.notice


def test_openai_key_in_env_selects_openai():
    settings = resolve(env={"OPENAI_API_KEY": "sk-env"})
    endpoint = settings.endpoint
    assert (endpoint.name, endpoint.base_url, endpoint.model) == (
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    )
    assert endpoint.api_key == "sk-env" and settings.notice is None
    assert "sk-env" not in repr(endpoint) and "sk-env" not in repr(settings)


def test_cli_beats_env_beats_file(tmp_path):
    path = write(
        tmp_path,
        'provider = "openai"\nmodel = "file-model"\nsystem = "from file"\n'
        '[providers.openai]\nbase_url = "http://file/v1"\n',
    )
    env = {"OPENAI_BASE_URL": "http://env/v1", "TOKENTIDE_MODEL": "env-model"}
    settings = resolve(env=env, path=path)
    assert settings.endpoint.base_url == "http://env/v1"
    assert settings.endpoint.model == "env-model"
    assert settings.system == "from file"
    settings = resolve(env=env, path=path, base_url="http://cli/v1/", model="cli-model", system="x")
    assert settings.endpoint.base_url == "http://cli/v1"
    assert settings.endpoint.model == "cli-model" and settings.system == "x"
    settings = resolve(env={}, path=path)
    assert (
        settings.endpoint.base_url == "http://file/v1" and settings.endpoint.model == "file-model"
    )


def test_custom_provider_from_file_with_key_env(tmp_path):
    path = write(
        tmp_path,
        '[providers.lmstudio]\nkind = "openai"\nbase_url = "http://127.0.0.1:1234/v1"\n'
        'model = "qwen"\napi_key_env = "LMSTUDIO_KEY"\n[timeouts]\nread = 5\n',
    )
    settings = resolve(provider="lmstudio", env={"LMSTUDIO_KEY": "k"}, path=path)
    assert settings.endpoint.kind == "openai" and settings.endpoint.api_key == "k"
    assert settings.endpoint.key_env == "LMSTUDIO_KEY"
    assert settings.timeouts.read == 5 and settings.timeouts.connect == 10


def test_ollama_host_forms():
    for host, url in [
        ("127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("http://box:11434", "http://box:11434/v1"),
        ("0.0.0.0", "http://127.0.0.1/v1"),
    ]:
        settings = resolve(env={"OLLAMA_HOST": host})
        assert settings.endpoint.name == "ollama" and settings.endpoint.base_url == url


def test_base_url_alone_means_openai_compatible():
    settings = resolve(base_url="http://127.0.0.1:9/v1", model="m", env={})
    assert settings.endpoint.kind == "openai" and settings.endpoint.api_key is None


def test_errors_are_one_line_with_a_fix(tmp_path):
    with pytest.raises(StreamError, match=r"unknown provider 'nope'.*use one of"):
        resolve(provider="nope", env={})
    bad = write(tmp_path, "provider = [")
    with pytest.raises(StreamError, match="not valid TOML") as info:
        resolve(env={}, path=bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[timeouts]\nread = 'x'\n", "read in [timeouts] must be a number"),
        ("timeouts = 3\n", "timeouts in the config file must be a table"),
        ("providers = 3\n", "providers in the config file must be a table"),
        ("provider = 5\n", "provider in the config file must be a string"),
        ("model = 5\n", "model in the config file must be a string"),
        ("system = 5\n", "system in the config file must be a string"),
        ("expected_tokens = 'lots'\n", "expected_tokens in the config file must be an integer"),
        ("[timeouts]\nread = 0\n", "read in [timeouts] must be more than 0 seconds"),
        (
            "[providers.x]\nkind = 'openai'\nbase_url = 'http://h/v1'\nmodel = 'm'\nheaders = 'x'\n",
            "headers in [providers.x] must be a table",
        ),
    ],
)
def test_bad_config_values_are_one_line_errors(tmp_path, text, words):
    path = write(tmp_path, text)
    provider = "x" if "providers.x" in text else None
    with pytest.raises(StreamError) as info:
        resolve(provider=provider, env={"OPENAI_API_KEY": "k"}, path=path)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert info.value.kind == "config"


def test_unsupported_wire_format_fails_at_resolve():
    with pytest.raises(StreamError, match="'anthropic' has no streaming support yet"):
        resolve(provider="anthropic", env={"ANTHROPIC_API_KEY": "sk-ant"})


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://h:99999/v1", "ftp://h/v1", "nohost"])
def test_bad_base_url(url):
    with pytest.raises(StreamError, match="not a usable base URL"):
        resolve(base_url=url, env={})


@pytest.mark.parametrize("key", ["sk-secret\nX", "sk-secretÄBC", " sk-secret"])
def test_bad_key_is_refused_without_showing_it(key):
    with pytest.raises(StreamError) as info:
        resolve(env={"OPENAI_API_KEY": key})
    assert "secret" not in str(info.value) and "$OPENAI_API_KEY" in str(info.value)


def test_headers_are_not_in_the_repr(tmp_path):
    path = write(
        tmp_path,
        "[providers.x]\nkind = 'openai'\nbase_url = 'http://h/v1'\nmodel = 'm'\n"
        "[providers.x.headers]\nx-api-key = 'sk-hidden'\n",
    )
    settings = resolve(provider="x", env={}, path=path)
    assert settings.endpoint.headers == {"x-api-key": "sk-hidden"}
    assert "sk-hidden" not in repr(settings)


def test_demo_ignores_a_model_meant_for_a_real_provider(tmp_path):
    settings = resolve(env={"TOKENTIDE_MODEL": "gpt-4o"}, path=tmp_path / "none.toml")
    assert settings.endpoint.is_demo and settings.endpoint.model == "demo"
    settings = resolve(provider="demo", model="demo-think", env={})
    assert settings.endpoint.model == "demo-think"


def test_ollama_url_follows_the_kind_not_the_name(tmp_path):
    path = write(
        tmp_path,
        "[providers.gpu]\nkind = 'ollama'\nbase_url = 'http://gpu:11434/v1'\nmodel = 'm'\n"
        "[providers.ollama]\nkind = 'openai'\nbase_url = 'http://proxy/api'\nmodel = 'm'\n",
    )
    assert resolve(provider="gpu", env={}, path=path).endpoint.base_url == "http://gpu:11434/v1"
    assert resolve(provider="ollama", env={}, path=path).endpoint.base_url == "http://proxy/api"
    assert resolve(provider="ollama", env={}).endpoint.base_url == "http://127.0.0.1:11434/v1"


def test_config_errors_name_the_file_read(tmp_path):
    path = write(tmp_path, "model = 5\n")
    with pytest.raises(StreamError) as info:
        resolve(env={"OPENAI_API_KEY": "k"}, path=path)
    assert str(path) in str(info.value)
