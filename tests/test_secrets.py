"""The API key is never shown, not even when a server echoes it back.

Each server here is real (loopback) and puts the key it received into what
it sends: a 401 body as OpenAI's does, an error in the middle of a stream, a
model list. Every place that text can reach a person is checked: stderr,
`--json`, `--debug` tracebacks, `tokentide models`, and the app's screen and
notifications.
"""

from __future__ import annotations

import json

import pytest

from tests.cli import clean_env, tokentide
from tests.pilot import screen_text, send, wait_idle
from tests.replay import Canned
from tokentide.client.config import Endpoint
from tokentide.client.errors import ApiError, Secrets, mask

KEY = "sk-proj-Q3vT9xLw2mN8pR5sK7jH1dF4wxyz"
MASKED = "sk-…wxyz"

ECHO_401 = Canned(
    b'{"error":{"message":"Incorrect API key provided: {bearer}. You can find your API key '
    b'at https://platform.openai.com/account/api-keys.","type":"invalid_request_error",'
    b'"param":null,"code":"invalid_api_key"}}',
    status=401,
    content_type="application/json",
)
ECHO_MIDSTREAM = Canned(
    b'data: {"choices":[{"index":0,"delta":{"content":"Once upon"}}]}\n\n'
    b'data: {"error":{"message":"key {bearer} was revoked","type":"invalid_api_key"}}\n\n'
)


def ask(replay, *args: str, tmp_path):
    env = clean_env(tmp_path, OPENAI_API_KEY=KEY)
    return tokentide("ask", "--base-url", replay.base_url, "-m", "m", *args, "hi", env=env)


def test_a_401_that_echoes_the_key_is_shown_masked(replay, tmp_path):
    replay.reply(ECHO_401)
    result = ask(replay, tmp_path=tmp_path)
    assert replay.seen[-1].headers["authorization"] == f"Bearer {KEY}"
    assert result.returncode == 1
    assert KEY not in result.stderr + result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert f"Incorrect API key provided: {MASKED}" in line and "$OPENAI_API_KEY" in line


def test_json_and_debug_never_carry_the_key(replay, tmp_path):
    replay.reply(ECHO_401)
    result = ask(replay, "--json", tmp_path=tmp_path)
    assert KEY not in result.stdout + result.stderr
    assert MASKED in json.loads(result.stdout)["error"]

    replay.reply(ECHO_401)
    result = ask(replay, "--debug", tmp_path=tmp_path)
    assert "Traceback" in result.stderr and "ApiError" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert MASKED in result.stderr


def test_an_error_mid_stream_that_echoes_the_key(replay, tmp_path):
    replay.reply(ECHO_MIDSTREAM)
    result = ask(replay, "--json", tmp_path=tmp_path)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["text"] == "Once upon"  # the partial answer is kept
    assert f"key {MASKED} was revoked" in data["error"]
    assert KEY not in result.stdout + result.stderr


def test_models_never_show_the_key(replay, tmp_path):
    env = clean_env(tmp_path, OPENAI_API_KEY=KEY)
    replay.reply(ECHO_401)
    result = tokentide("models", "--base-url", replay.base_url, env=env)
    assert result.returncode == 1 and MASKED in result.stderr
    assert KEY not in result.stdout + result.stderr

    replay.reply(ECHO_401)
    result = tokentide("models", "--debug", "--base-url", replay.base_url, env=env)
    assert "Traceback" in result.stderr and KEY not in result.stdout + result.stderr

    listing = b'{"data":[{"id":"gpt-x"},{"id":"{bearer}"},{"id":"evil\\u001b[2J\\nline"}]}'
    replay.reply(Canned(listing, content_type="application/json"))
    result = tokentide("models", "--base-url", replay.base_url, env=env)
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout
    # An id's controls are shown as escapes, its line breaks as spaces: one id a line.
    assert result.stdout.splitlines() == [r"evil\x1b[2J line", "gpt-x", MASKED]


async def test_the_app_never_shows_the_key(replay, tmp_path, monkeypatch):
    from textual.widgets import Static

    from tokentide.client.config import resolve
    from tokentide.tui.app import TokentideApp
    from tokentide.tui.widgets.composer import Composer
    from tokentide.tui.widgets.error_block import ErrorBlock

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    replay.reply(ECHO_401)
    replay.reply(ECHO_MIDSTREAM)
    app = TokentideApp(resolve(base_url=replay.base_url, model="m"))
    async with app.run_test(size=(120, 40)) as pilot:
        for prompt in ("first", "second"):
            await send(pilot, prompt)
            await wait_idle(pilot)
            app.screen.query_one(Composer).load_text("")  # the failed prompt was put back
        blocks = [block.message for block in app.screen.query(ErrorBlock)]
        assert len(blocks) == 2 and MASKED in blocks[0] and MASKED in blocks[1]
        shown = [str(widget.render()) for widget in app.screen.query(Static)]
        shown += [n.message for n in app._notifications]
        shown += screen_text(app)
        assert not [text for text in shown if KEY in text]


def test_secrets_mask_keys_and_credential_headers():
    endpoint = Endpoint(
        "lab",
        "openai",
        "http://127.0.0.1:9/v1",
        "m",
        api_key=KEY,
        headers={"x-api-key": "anthropic-key-0123456789", "X-Team": "search"},
        params=(("api-version", "2024-02-01"), ("key", "AIzaSyGeminiKey0123")),
    )
    secrets = endpoint.secrets
    said = f"Bearer {KEY} / anthropic-key-0123456789 / AIzaSyGeminiKey0123 / search 2024-02-01"
    assert secrets.scrub(said) == f"Bearer {MASKED} / ant…6789 / AIz…0123 / search 2024-02-01"
    assert mask("short-key") == "…"
    assert not Secrets([None, ""]) and Secrets(["abc"]).scrub("abc") == "abc"
    error = ApiError(f"no: {KEY}", fix=f"not {KEY}", detail={"message": [KEY]})
    clean = error.scrubbed(secrets)
    assert KEY not in f"{clean} {clean.detail}" and clean.detail == {"message": [MASKED]}


@pytest.mark.parametrize("header", ["Bearer", "bearer"])
def test_the_bare_token_of_an_authorization_value_is_masked(header):
    secrets = Secrets([f"{header} tok-0123456789abcdef"])
    assert secrets.scrub("echo: tok-0123456789abcdef") == "echo: tok…cdef"


def test_a_key_cut_short_split_or_escaped_is_still_masked():
    secrets = Secrets([f"Bearer {KEY}"])
    cut = secrets.scrub(f"Incorrect API key provided: {KEY[:30]}…")
    split = secrets.scrub(f"'{KEY[:25]}\n{KEY[25:]}'")
    assert KEY[:12] not in cut and KEY[:12] not in split and KEY[-12:] not in split
    base64ish = "AbCdEf/GhIjKl+MnOpQr=="
    secrets = Secrets([base64ish])
    for quoted in (
        '"AbCdEf\\/GhIjKl+MnOpQr=="',  # PHP's \/
        '"AbCdEf/GhIjKl\\u002bMnOpQr\\u003d\\u003d"',  # Gson's \u escapes
        "key=AbCdEf%2FGhIjKl%2BMnOpQr%3D%3D",  # in a URL
    ):
        said = secrets.scrub(f"rejected {quoted} (bad key)")
        assert "GhIjKl" not in said and "MnOpQr" not in said, said
        assert said.startswith("rejected ") and said.endswith(" (bad key)")
    assert secrets.scrub("nothing 100% secret \\n here") == "nothing 100% secret \\n here"


def test_a_logged_traceback_of_the_error_carries_no_key(replay):
    import asyncio
    import traceback

    from tokentide.client.events import Message
    from tokentide.client.request import ChatRequest
    from tokentide.client.stream import ChatClient

    async def fail() -> ApiError:
        endpoint = Endpoint("openai", "openai", replay.base_url, "m", api_key=KEY)
        async with ChatClient(endpoint) as client:
            try:
                async with client.stream(ChatRequest("m", [Message("user", "hi")])) as answer:
                    async for _ in answer:
                        pass
            except ApiError as exc:
                return exc
        raise AssertionError("expected a failure")

    for canned in (ECHO_401, ECHO_MIDSTREAM):
        replay.reply(canned)
        error = asyncio.run(fail())
        logged = "".join(traceback.format_exception(error))
        assert KEY not in logged and MASKED in logged
        assert error.origin is not None  # kept for --debug, which scrubs it


def test_an_answer_that_echoes_the_key_is_masked_even_split_over_deltas(replay, tmp_path):
    pieces = ["Your key is s", "k-proj-Q3vT9x", "Lw2mN8pR5sK7jH1dF", "4wxyz, keep it safe"]
    body = b"".join(
        b'data: {"choices":[{"index":0,"delta":{"content":' + json.dumps(p).encode() + b"}}]}\n\n"
        for p in pieces
    )
    body += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    replay.reply(Canned(body))
    result = ask(replay, "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == f"Your key is {MASKED}, keep it safe"
    replay.reply(Canned(body))
    result = ask(replay, tmp_path=tmp_path)
    assert result.stdout == f"Your key is {MASKED}, keep it safe" and KEY not in result.stderr


def test_credential_headers_by_any_common_name_are_masked():
    values = {
        "Ocp-Apim-Subscription-Key": "azure-sub-0123456789ab",
        "Helicone-Auth": "Bearer helicone-0123456789",
        "X-Goog-Api-Key": "AIzaSy-0123456789abcdef",
        "X-Team": "search-team-name",
    }
    endpoint = Endpoint("lab", "openai", "http://127.0.0.1:9/v1", "m", headers=values)
    said = endpoint.secrets.scrub(" ".join(values.values()))
    assert "0123456789" not in said and "search-team-name" in said


def test_config_mistakes_never_echo_a_key(tmp_path):
    from tokentide.client.config import resolve
    from tokentide.client.errors import ConfigError

    config = tmp_path / "c.toml"
    for body in (
        f'[providers.lab]\nwire = "openai"\nbase_url = "http://h/v1"\napi_key = ["{KEY}"]\n',
        f'[providers.lab]\nwire = "openai"\nbase_url = "http://h/v1"\nheaders = "Bearer {KEY}"\n',
        f'[providers.lab]\nwire = "openai"\nbase_url = "http://u:{KEY}@h/v1"\nmodel = "m"\n',
    ):
        config.write_text(body)
        with pytest.raises(ConfigError) as info:
            resolve(provider="lab", env={}, path=config)
        assert KEY not in str(info.value) and KEY[:12] not in str(info.value), str(info.value)
    with pytest.raises(ConfigError, match="user name or password"):
        resolve(base_url=f"http://u:{KEY}@127.0.0.1:9/v1", env={})


def test_a_401_with_the_key_from_the_file_says_where_it_came_from(replay, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        f'[providers.lab]\nwire = "openai"\nbase_url = "{replay.base_url}"\nmodel = "m"\n'
        f'api_key = "{KEY}"\n'
    )
    replay.reply(ECHO_401)
    env = clean_env(tmp_path, TOKENTIDE_CONFIG=str(config))
    result = tokentide("ask", "--provider", "lab", "hi", env=env)
    assert result.returncode == 1 and KEY not in result.stderr
    assert f"check the API key in api_key in [providers.lab] of {config}" in result.stderr
