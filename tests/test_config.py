"""Which provider, wire, URL, model and key get used, and in what order."""

from __future__ import annotations

import dataclasses

import pytest

from tokentide.client.config import Endpoint, config_path, resolve, split_query
from tokentide.client.errors import ConfigError
from tokentide.client.providers import IMPLEMENTED_WIRES, WIRES, wire_format

LAB = "[providers.lab]\nwire = 'openai'\nbase_url = 'http://127.0.0.1:8000/v1'\nmodel = 'm'\n"


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def config_error(**kw) -> ConfigError:
    """The error `resolve(**kw)` raises, checked to be one line."""
    with pytest.raises(ConfigError) as info:
        resolve(**kw)
    assert "\n" not in str(info.value)
    return info.value


def test_nothing_configured_means_demo_with_a_notice(tmp_path):
    settings = resolve(env={}, path=tmp_path / "none.toml")
    endpoint = settings.endpoint
    assert endpoint.demo and endpoint.model == "demo" and endpoint.wire == "openai"
    assert endpoint.base_url == "" and endpoint.describe() == "demo · demo · built-in demo server"
    assert "demo provider" in settings.notice and "\n" not in settings.notice
    assert settings.warnings == ()


def test_the_test_config_lives_in_tmp_path(isolated_env):
    # Without this, a test could read (or fail on) the developer's own config.
    assert config_path().is_relative_to(isolated_env)
    assert resolve().endpoint.demo


@pytest.mark.parametrize(
    ("variable", "name", "wire", "url"),
    [
        ("ANTHROPIC_API_KEY", "anthropic", "anthropic", "https://api.anthropic.com"),
        ("GEMINI_API_KEY", "gemini", "gemini", "https://generativelanguage.googleapis.com"),
        ("GOOGLE_API_KEY", "gemini", "gemini", "https://generativelanguage.googleapis.com"),
        ("OPENAI_API_KEY", "openai", "openai", "https://api.openai.com/v1"),
    ],
)
def test_a_key_variable_alone_picks_its_provider(variable, name, wire, url):
    endpoint = resolve(env={variable: "sk-123456"}).endpoint
    assert (endpoint.name, endpoint.wire, endpoint.base_url) == (name, wire, url)
    assert endpoint.api_key == "sk-123456" and endpoint.key_from == f"${variable}"


def test_two_key_variables_pick_the_first_and_say_so():
    settings = resolve(env={"ANTHROPIC_API_KEY": "sk-ant-1", "GEMINI_API_KEY": "g-123456"})
    assert settings.endpoint.name == "anthropic"
    assert settings.notice == (
        "using anthropic (from $ANTHROPIC_API_KEY); gemini also configured: "
        "pick one with --provider"
    )


def test_host_style_base_urls_take_off_a_copied_version_path():
    env = {"ANTHROPIC_API_KEY": "k" * 8}
    assert resolve(
        provider="anthropic", base_url="http://h:4000/v1/", env=env
    ).endpoint.base_url == ("http://h:4000")
    assert resolve(provider="gemini", base_url="http://h/v1beta", env={}).endpoint.base_url == (
        "http://h"
    )
    assert resolve(provider="ollama", base_url="http://h:11434/api", env={}).endpoint.base_url == (
        "http://h:11434"
    )
    assert resolve(provider="responses", base_url="http://h/v1", env={}).endpoint.base_url == (
        "http://h/v1"
    )


def test_openai_key_in_env_selects_openai():
    settings = resolve(env={"OPENAI_API_KEY": "sk-env"})
    endpoint = settings.endpoint
    assert (endpoint.name, endpoint.wire, endpoint.base_url, endpoint.model) == (
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    )
    assert endpoint.api_key == "sk-env" and settings.notice is None and not endpoint.demo
    assert endpoint.describe() == "openai · gpt-4o-mini · https://api.openai.com/v1"
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


def test_provider_option_beats_env_beats_file(tmp_path):
    path = write(tmp_path, f"provider = 'lab'\n{LAB}")
    assert resolve(env={}, path=path).endpoint.name == "lab"
    env = {"TOKENTIDE_PROVIDER": "ollama"}
    assert resolve(env=env, path=path).endpoint.name == "ollama"
    assert resolve(provider="openai", env=env, path=path).endpoint.name == "openai"


def test_custom_provider_from_file_with_key_env(tmp_path):
    path = write(
        tmp_path,
        '[providers.lmstudio]\nwire = "openai"\nbase_url = "http://127.0.0.1:1234/v1"\n'
        'model = "qwen"\napi_key_env = "LMSTUDIO_KEY"\n[timeouts]\nread = 5\n',
    )
    settings = resolve(provider="lmstudio", env={"LMSTUDIO_KEY": "k"}, path=path)
    assert settings.endpoint.wire == "openai" and settings.endpoint.api_key == "k"
    assert settings.endpoint.key_env == "LMSTUDIO_KEY" and settings.endpoint.name == "lmstudio"
    assert settings.timeouts.read == 5 and settings.timeouts.connect == 10
    assert settings.warnings == ()


def test_a_named_provider_with_wire_base_url_and_model_works(tmp_path):
    path = write(
        tmp_path,
        f"{LAB}api_key_env = 'LAB_KEY'\n[providers.lab.headers]\nX-Team = 'search'\n",
    )
    endpoint = resolve(provider="lab", env={"LAB_KEY": "sk-lab-0123456789"}, path=path).endpoint
    assert (endpoint.name, endpoint.wire, endpoint.base_url, endpoint.model) == (
        "lab",
        "openai",
        "http://127.0.0.1:8000/v1",
        "m",
    )
    assert endpoint.api_key == "sk-lab-0123456789" and endpoint.key_env == "LAB_KEY"
    assert endpoint.headers == {"X-Team": "search"} and endpoint.params == ()
    assert endpoint.describe() == "lab · m · http://127.0.0.1:8000/v1"


def test_api_key_from_the_file_when_the_variable_is_unset(tmp_path):
    path = write(tmp_path, f"{LAB}api_key_env = 'LAB_KEY'\napi_key = 'sk-file'\n")
    assert resolve(provider="lab", env={}, path=path).endpoint.api_key == "sk-file"
    endpoint = resolve(provider="lab", env={"LAB_KEY": "sk-env"}, path=path).endpoint
    assert endpoint.api_key == "sk-env"


def test_a_section_may_take_its_model_from_the_top_level(tmp_path):
    path = write(
        tmp_path, "model = 'top'\n[providers.lab]\nwire = 'openai'\nbase_url = 'http://h/v1'\n"
    )
    assert resolve(provider="lab", env={}, path=path).endpoint.model == "top"


def test_ollama_host_forms():
    for host, url in [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("http://box:11434", "http://box:11434"),
        ("0.0.0.0", "http://127.0.0.1"),
    ]:
        settings = resolve(env={"OLLAMA_HOST": host})
        endpoint = settings.endpoint
        assert (endpoint.name, endpoint.wire, endpoint.base_url) == ("ollama", "ollama", url)


def test_ollama_is_a_name_its_url_comes_from_the_section(tmp_path):
    path = write(
        tmp_path,
        "[providers.gpu]\nwire = 'openai'\nbase_url = 'http://gpu:11434/v1'\nmodel = 'm'\n"
        "[providers.ollama]\nwire = 'openai'\nbase_url = 'http://proxy/api'\nmodel = 'm'\n",
    )
    assert resolve(provider="gpu", env={}, path=path).endpoint.base_url == "http://gpu:11434/v1"
    assert resolve(provider="ollama", env={}, path=path).endpoint.base_url == "http://proxy/api"
    assert resolve(provider="ollama", env={}).endpoint.base_url == "http://127.0.0.1:11434"


def test_an_ollama_section_on_the_openai_wire_keeps_the_v1_url(tmp_path):
    path = write(tmp_path, "[providers.ollama]\nwire = 'openai'\n")
    endpoint = resolve(provider="ollama", env={"OLLAMA_HOST": "box:11434"}, path=path).endpoint
    assert (endpoint.wire, endpoint.base_url) == ("openai", "http://box:11434/v1")


def test_base_url_alone_means_openai_compatible():
    settings = resolve(base_url="http://127.0.0.1:9/v1", model="m", env={})
    assert settings.endpoint.wire == "openai" and settings.endpoint.api_key is None


# -- the wire ---------------------------------------------------------------------


def test_a_section_without_wire_says_how_to_add_it(tmp_path):
    path = write(tmp_path, "[providers.lab]\nbase_url = 'http://h/v1'\nmodel = 'm'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert str(error) == (
        f"[providers.lab] of {path} has no wire (the format its requests are written in)"
        ' — add wire = "openai" (or anthropic, responses, ollama, gemini)'
    )


def test_the_old_kind_key_says_it_was_renamed(tmp_path):
    path = write(tmp_path, "[providers.lab]\nkind = 'ollama'\nbase_url = 'http://h/v1'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert str(error) == (
        f'kind in [providers.lab] of {path} was renamed to wire — replace it with wire = "openai"'
    )


def test_an_unknown_wire_names_the_key_the_file_and_the_valid_values(tmp_path):
    path = write(tmp_path, "[providers.lab]\nwire = 'smoke'\nbase_url = 'http://h/v1'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert str(error) == (
        f"wire = 'smoke' in [providers.lab] of {path} is not a wire format"
        " — use one of: openai, anthropic, responses, ollama, gemini"
    )


@pytest.mark.parametrize("wire", ["anthropic", "responses", "ollama", "gemini"])
def test_every_wire_can_be_named_in_a_section(tmp_path, wire):
    path = write(
        tmp_path, f"[providers.lab]\nwire = '{wire}'\nbase_url = 'http://h'\nmodel = 'm'\n"
    )
    endpoint = resolve(provider="lab", env={}, path=path).endpoint
    assert (endpoint.wire, endpoint.model) == (wire, "m")
    assert wire_format(wire).label


def test_wire_names_and_wire_format():
    assert WIRES == ("openai", "anthropic", "responses", "ollama", "gemini")
    assert sorted(IMPLEMENTED_WIRES) == sorted(WIRES)
    with pytest.raises(ConfigError, match="'demo' is not a wire format — use one of: openai"):
        wire_format("demo")


def test_unknown_provider_lists_the_choices():
    error = config_error(provider="nosuch", env={})
    assert str(error) == (
        "unknown provider 'nosuch' — use one of: anthropic, demo, gemini, ollama, openai, "
        "responses (built in)"
        " or add [providers.nosuch] with wire, base_url and model"
    )


def test_unknown_provider_lists_the_configured_ones_and_a_near_miss(tmp_path):
    path = write(tmp_path, LAB)
    error = config_error(provider="opneai", env={}, path=path)
    assert "unknown provider 'opneai' (did you mean 'openai'?)" in str(error)
    assert f"responses (built in), lab (in {path}) or add [providers.opneai]" in error.fix


# -- the file ---------------------------------------------------------------------


def test_errors_are_one_line_with_a_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown provider 'nope'.*use one of"):
        resolve(provider="nope", env={})
    bad = write(tmp_path, "provider = [")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        resolve(env={}, path=bad)
    assert "\n" not in str(info.value)


def test_tokentide_config_is_read(tmp_path):
    path = write(tmp_path, f"provider = 'lab'\n{LAB}")
    assert resolve(env={"TOKENTIDE_CONFIG": str(path)}).endpoint.name == "lab"


def test_tokentide_config_naming_a_missing_file_is_an_error(tmp_path):
    missing = tmp_path / "typo.toml"
    error = config_error(env={"TOKENTIDE_CONFIG": str(missing)})
    assert str(error) == (
        f"config file {missing} (from $TOKENTIDE_CONFIG) does not exist"
        " — create it, or unset TOKENTIDE_CONFIG"
    )


def test_the_default_config_missing_is_no_settings(isolated_env):
    assert not config_path().exists()
    settings = resolve(env={"OPENAI_API_KEY": "k"})
    assert settings.endpoint.name == "openai" and settings.warnings == ()


@pytest.mark.parametrize("via_env", [True, False])
def test_a_directory_as_config_file_is_an_error(tmp_path, via_env):
    folder = tmp_path / "conf.d"
    folder.mkdir()
    kw = {"env": {"TOKENTIDE_CONFIG": str(folder)}} if via_env else {"env": {}, "path": folder}
    error = config_error(**kw)
    assert f"config file {folder} is a directory" in str(error)


def test_the_default_config_path_being_a_directory_is_an_error(isolated_env):
    config_path().mkdir(parents=True)
    error = config_error(env={})
    assert f"config file {config_path()} is a directory" in str(error)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[timeouts]\nread = 'x'\n", "read in [timeouts] must be a number"),
        ("[timeouts]\nread = true\n", "read in [timeouts] must be a number"),
        ("timeouts = 3\n", "timeouts in the config file must be a table"),
        ("providers = 3\n", "providers in the config file must be a table"),
        ("[providers]\nlab = 3\n", "lab in [providers] must be a table"),
        ("provider = 5\n", "provider in the config file must be a string"),
        ("model = 5\n", "model in the config file must be a string"),
        ("system = 5\n", "system in the config file must be a string"),
        ("expected_tokens = 'lots'\n", "expected_tokens in the config file must be an integer"),
        ("expected_tokens = 2.5\n", "expected_tokens in the config file must be an integer"),
        ("expected_tokens = 0\n", "expected_tokens in the config file must be at least 1"),
        ("[timeouts]\nread = 0\n", "read in [timeouts] must be more than 0 seconds, not 0"),
        ("[timeouts]\nread = -1\n", "read in [timeouts] must be more than 0 seconds, not -1"),
        ("[timeouts]\nread = nan\n", "read in [timeouts] must be more than 0 seconds, not nan"),
        ("[timeouts]\nread = inf\n", "read in [timeouts] must be more than 0 seconds, not inf"),
        ("[timeouts]\nconnect = -inf\n", "connect in [timeouts] must be more than 0 seconds"),
        ("[timeouts]\nconnect = 0.0\n", "connect in [timeouts] must be more than 0 seconds"),
        (
            "[providers.x]\nwire = 'openai'\nbase_url = 'http://h/v1'\nmodel = 'm'\nheaders = 'x'\n",
            "headers in [providers.x] must be a table",
        ),
        ("[providers.x]\nwire = 3\n", "wire in [providers.x] must be a string"),
    ],
)
def test_bad_config_values_are_one_line_errors_naming_the_file(tmp_path, text, words):
    path = write(tmp_path, text)
    provider = "x" if "providers.x" in text else None
    error = config_error(provider=provider, env={"OPENAI_API_KEY": "k"}, path=path)
    assert words in str(error) and str(path) in str(error)


def test_good_timeouts_are_seconds(tmp_path):
    path = write(tmp_path, "[timeouts]\nconnect = 2\nread = 0.5\n")
    timeouts = resolve(env={}, path=path).timeouts
    assert (timeouts.connect, timeouts.read) == (2.0, 0.5)


def test_config_errors_name_the_file_read(tmp_path):
    path = write(tmp_path, "model = 5\n")
    with pytest.raises(ConfigError) as info:
        resolve(env={"OPENAI_API_KEY": "k"}, path=path)
    assert str(path) in str(info.value)


def test_unknown_keys_are_warnings_naming_the_file_and_the_key(tmp_path):
    path = write(
        tmp_path,
        "provider = 'lab'\nmodle = 'x'\ncolour = 'red'\n"
        f"{LAB}api_key_evn = 'LAB_KEY'\n[providers.lab.headers]\nAnything-Goes = 'yes'\n"
        "[providers.old]\nkind = 'openai'\n"
        "[timeouts]\nraed = 3\n",
    )
    settings = resolve(env={}, path=path)
    assert settings.endpoint.name == "lab"
    assert settings.warnings == (
        f"{path}: unknown key 'modle' (did you mean 'model'?)",
        f"{path}: unknown key 'colour'",
        f"{path}: unknown key 'raed' in [timeouts] (did you mean 'read'?)",
        f"{path}: unknown key 'api_key_evn' in [providers.lab] (did you mean 'api_key_env'?)",
        f"{path}: 'kind' in [providers.old] was renamed to 'wire'",
    )


def test_a_demo_section_is_ignored_with_a_warning(tmp_path):
    path = write(tmp_path, "[providers.demo]\nmodel = 'gpt-4o'\n")
    settings = resolve(provider="demo", env={}, path=path)
    assert settings.endpoint.demo and settings.endpoint.model == "demo"
    assert settings.warnings == (
        f"{path}: [providers.demo] is ignored: the demo provider is built in",
    )


def test_warnings_are_one_line(tmp_path):
    path = write(tmp_path, '"bad\\nkey" = 1\n')
    (warning,) = resolve(env={}, path=path).warnings
    assert "\n" not in warning and "unknown key" in warning


# -- URLs, keys, headers ----------------------------------------------------------


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://h:99999/v1", "ftp://h/v1", "nohost"])
def test_bad_base_url(url):
    error = config_error(base_url=url, env={})
    assert "not a usable base URL" in str(error) and "--base-url" in str(error)


def test_bad_base_url_in_the_file_names_it(tmp_path):
    path = write(tmp_path, "[providers.lab]\nwire = 'openai'\nbase_url = 'h:1'\nmodel = 'm'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert f"base_url in [providers.lab] of {path}" in str(error)


def test_a_section_without_base_url_says_where_to_put_one(tmp_path):
    path = write(tmp_path, "[providers.lab]\nwire = 'openai'\nmodel = 'm'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert "provider 'lab' has no base URL" in str(error) and str(path) in str(error)


def test_the_query_string_is_split_off_the_base_url(tmp_path):
    endpoint = resolve(base_url="http://h/v1?api-version=2024-02-01", model="m", env={}).endpoint
    assert endpoint.base_url == "http://h/v1"
    assert endpoint.params == (("api-version", "2024-02-01"),)
    assert endpoint.describe() == "openai · m · http://h/v1"
    path = write(
        tmp_path,
        "[providers.azure]\nwire = 'openai'\nmodel = 'm'\n"
        "base_url = 'https://x.openai.azure.com/openai/v1/?api-version=preview&flag=#frag'\n",
    )
    endpoint = resolve(provider="azure", env={}, path=path).endpoint
    assert endpoint.base_url == "https://x.openai.azure.com/openai/v1"
    assert endpoint.params == (("api-version", "preview"), ("flag", ""))


def test_split_query():
    assert split_query("http://h/v1/") == ("http://h/v1", ())
    assert split_query("http://h/v1?a=1&a=2&b=x%20y") == (
        "http://h/v1",
        (("a", "1"), ("a", "2"), ("b", "x y")),
    )


@pytest.mark.parametrize("key", ["sk-secret\nX", "sk-secretÄBC", " sk-secret"])
def test_bad_key_is_refused_without_showing_it(key):
    error = config_error(env={"OPENAI_API_KEY": key})
    assert "secret" not in str(error) and "$OPENAI_API_KEY" in str(error)


def test_bad_key_in_the_file_names_the_file_without_showing_it(tmp_path):
    path = write(tmp_path, f'{LAB}api_key = "sk-secret\\n"\n')
    error = config_error(provider="lab", env={}, path=path)
    assert "secret" not in str(error) and f"api_key in [providers.lab] of {path}" in str(error)


def test_a_key_pasted_as_api_key_env_is_refused_without_showing_it(tmp_path):
    path = write(tmp_path, f"{LAB}api_key_env = 'sk-proj-secret-123'\n")
    error = config_error(provider="lab", env={}, path=path)
    assert "secret" not in str(error)
    assert f"api_key_env in [providers.lab] of {path} must be the name" in str(error)


def test_headers_are_not_in_the_repr(tmp_path):
    path = write(
        tmp_path,
        "[providers.x]\nwire = 'openai'\nbase_url = 'http://h/v1'\nmodel = 'm'\n"
        "[providers.x.headers]\nx-api-key = 'sk-hidden'\n",
    )
    settings = resolve(provider="x", env={}, path=path)
    assert settings.endpoint.headers == {"x-api-key": "sk-hidden"}
    assert "sk-hidden" not in repr(settings)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("'X-Team' = \"two\\nlines\"", "header 'X-Team' under [providers.lab.headers] must be"),
        ("'X-Team' = 'héllo'", "must be a one-line ASCII string"),
        ("'X-Team' = 3", "must be a one-line ASCII string"),
        ("'X Team' = 'a'", "'X Team' under [providers.lab.headers] is not a valid header name"),
    ],
)
def test_bad_headers_are_one_line_errors(tmp_path, header, words):
    path = write(tmp_path, f"{LAB}[providers.lab.headers]\n{header}\n")
    error = config_error(provider="lab", env={}, path=path)
    assert words in str(error) and str(path) in str(error)


def test_secrets_hold_the_key_and_credential_headers_and_params(tmp_path):
    path = write(
        tmp_path,
        "[providers.lab]\nwire = 'openai'\nmodel = 'm'\n"
        "base_url = 'http://h/v1?api_key=sk-query-0123456789&v=1'\n"
        "[providers.lab.headers]\nAuthorization = 'Bearer tok-header-0123456789'\n"
        "X-Team = 'search-team'\n",
    )
    endpoint = resolve(provider="lab", env={}, path=path).endpoint
    scrubbed = endpoint.secrets.scrub("sk-query-0123456789 tok-header-0123456789 search-team v=1")
    assert scrubbed == "sk-…6789 tok…6789 search-team v=1"
    assert "sk-query" not in repr(endpoint)
    key_only = resolve(env={"OPENAI_API_KEY": "sk-env-0123456789"}).endpoint
    assert key_only.secrets.scrub("key sk-env-0123456789") == "key sk-…6789"


# -- immutability and the demo ----------------------------------------------------


def test_endpoints_and_settings_are_immutable():
    settings = resolve(env={"OPENAI_API_KEY": "sk-env"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.endpoint.base_url = "http://elsewhere/v1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.endpoint = settings.endpoint
    with pytest.raises(TypeError):
        settings.endpoint.headers["X-Injected"] = "1"


def test_an_endpoints_headers_do_not_follow_the_callers_dict():
    headers = {"X-Team": "a"}
    endpoint = Endpoint("lab", "openai", "http://h/v1", "m", headers=headers)
    headers["X-Team"] = "b"
    assert endpoint.headers == {"X-Team": "a"}
    assert hash(endpoint) == hash(dataclasses.replace(endpoint))


def test_the_app_gives_the_demo_its_url_with_replace(tmp_path):
    settings = resolve(env={}, path=tmp_path / "none.toml")
    started = dataclasses.replace(settings.endpoint, base_url="http://127.0.0.1:5555/v1")
    assert started.demo and started.base_url == "http://127.0.0.1:5555/v1"
    assert started.describe() == "demo · demo · built-in demo server"
    assert settings.endpoint.base_url == ""


def test_demo_ignores_a_model_meant_for_a_real_provider(tmp_path):
    settings = resolve(env={"TOKENTIDE_MODEL": "gpt-4o"}, path=tmp_path / "none.toml")
    assert settings.endpoint.demo and settings.endpoint.model == "demo"
    settings = resolve(provider="demo", model="demo-think", env={})
    assert settings.endpoint.model == "demo-think"


def test_provider_names_are_case_insensitive(tmp_path):
    path = write(
        tmp_path, '[providers.MyLab]\nwire = "openai"\nbase_url = "http://h/v1"\nmodel = "m"\n'
    )
    for name in ("mylab", "MyLab", "MYLAB"):
        assert resolve(provider=name, env={}, path=path).endpoint.base_url == "http://h/v1"


def test_a_config_path_that_cannot_be_examined_is_one_line(tmp_path):
    error = config_error(env={"TOKENTIDE_CONFIG": str(tmp_path / ("a" * 300))})
    assert "\n" not in str(error) and "config file" in str(error)


# --------------------------------------------------------------------------- prompts and other providers


def test_prompts_are_named_presets_beside_the_default_system_prompt(tmp_path):
    path = write(
        tmp_path,
        'system = "Be kind."\n[prompts]\nconcise = "Answer briefly."\npirate = "Talk like one."\n',
    )
    settings = resolve(env={}, path=path)
    assert settings.system == "Be kind."
    assert dict(settings.prompts) == {"concise": "Answer briefly.", "pirate": "Talk like one."}
    assert settings.warnings == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[prompts]\nconcise = 3\n", "concise in [prompts] must be a string, not 3"),
        ('[prompts]\nconcise = "  "\n', "is empty — give it a text"),
        ('[prompts]\ndefault = "x"\n', "is taken by the top-level system prompt"),
        ('prompts = "concise"\n', "prompts in the config file must be a table, not a string"),
    ],
)
def test_a_bad_prompt_is_a_one_line_error(tmp_path, text, words):
    error = config_error(env={}, path=write(tmp_path, text))
    assert words in str(error)


def test_other_providers_are_those_the_configuration_reaches(tmp_path):
    """Sections in the file, and built-in providers whose variables are set; a
    section needing a key that is not set is left out, a broken one says why."""
    path = write(
        tmp_path,
        "provider = 'lab'\n"
        + LAB
        + "[providers.local]\nwire = 'ollama'\nbase_url = 'http://127.0.0.1:11434'\n"
        + "[providers.keyless]\nwire = 'openai'\nbase_url = 'http://h/v1'\napi_key_env = 'NOPE'\n"
        + "[providers.broken]\nwire = 'telepathy'\n",
    )
    settings = resolve(env={"ANTHROPIC_API_KEY": "sk-ant-1"}, path=path)
    assert settings.endpoint.name == "lab"
    others = {p.name: p for p in settings.providers}
    assert list(others) == ["local", "broken", "anthropic"]
    assert others["local"].endpoint.base_url == "http://127.0.0.1:11434"
    assert others["anthropic"].endpoint.api_key == "sk-ant-1"
    assert others["broken"].endpoint is None
    assert "telepathy" in others["broken"].problem and "\n" not in others["broken"].problem
