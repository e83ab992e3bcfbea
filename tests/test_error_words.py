"""Errors say what happened: the server's own words, a bad Content-Encoding,
a redirect and where it points.

Each case is a real loopback server: the ReplayServer for canned streams, and
small asyncio servers for replies it cannot give (a body that lies about its
compression, a redirect to a server that records whether anyone came). Each
is read through the library and through `tokentide ask`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from tests.cli import clean_env, tokentide
from tests.replay import Canned, ReplayServer
from tests.test_wire_formats import base_for, endpoint, stream
from tokentide.client.config import Endpoint
from tokentide.client.errors import ApiError
from tokentide.client.stream import ChatClient

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
KEY = "sk-words-0123456789abcdef"

# -- the server's words, whatever shape its error has ------------------------------

SHAPES: list[tuple[Any, str]] = [
    ({"message": "quota gone for today"}, "quota gone for today"),
    ({"error": "model is still loading"}, "model is still loading"),
    ({"detail": "upstream timed out after 30 s"}, "upstream timed out after 30 s"),
    (
        {"detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]},
        "body.model: Field required",
    ),
]


def partial(wire: str) -> bytes:
    """The start of an answer ("Hi"), before the error."""
    if wire == "openai":
        return b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    if wire == "anthropic":
        return (
            b'event: message_start\ndata: {"type":"message_start","message":{"usage":{}}}\n\n'
            b"event: content_block_start\n"
            b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text"}}\n\n'
            b"event: content_block_delta\n"
            b'data: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
        )
    if wire == "responses":
        return (
            b"event: response.output_text.delta\n"
            b'data: {"type":"response.output_text.delta","output_index":0,"delta":"Hi"}\n\n'
        )
    if wire == "gemini":
        return b'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}\n\n'
    return b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'


def error_frame(wire: str, payload: Any, *, named: bool) -> bytes:
    """The error: an NDJSON line, or an SSE frame with or without `event: error`."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    if wire == "ollama":
        return data.encode() + b"\n"
    return (b"event: error\n" if named else b"") + f"data: {data}\n\n".encode()


async def failed(replay: ReplayServer, wire: str, body: bytes) -> tuple[ApiError, str]:
    kind = NDJSON if wire == "ollama" else SSE
    replay.reply(Canned(body, content_type=kind))
    answer, _, error = await stream(endpoint(wire, base_for(wire, replay), key=KEY))
    assert error is not None, wire
    return error, answer.message.text


SSE_WIRES = ["openai", "anthropic", "responses", "gemini"]


@pytest.mark.parametrize("payload,words", SHAPES)
@pytest.mark.parametrize("wire", [*SSE_WIRES, "ollama"])
@pytest.mark.parametrize("named", [True, False], ids=["event-error", "data-only"])
async def test_an_error_in_any_shape_says_the_servers_words(replay, wire, payload, words, named):
    if wire == "ollama" and named:
        pytest.skip("NDJSON has no event names")
    error, text = await failed(
        replay, wire, partial(wire) + error_frame(wire, payload, named=named)
    )
    assert error.kind == "provider" and str(error).startswith("the server reported an error")
    assert words in str(error), str(error)
    assert text == "Hi"  # what arrived before it is kept


@pytest.mark.parametrize("wire", SSE_WIRES)
async def test_an_error_event_in_plain_text_is_quoted_not_called_foreign(replay, wire):
    body = partial(wire) + b"event: error\ndata: backend exploded: out of memory\n\n"
    error, _ = await failed(replay, wire, body)
    assert "backend exploded: out of memory" in str(error) and "not JSON" not in str(error)


async def test_vllm_error_object_is_an_error_not_an_empty_chunk(replay):
    vllm = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError"}
    error, _ = await failed(
        replay, "openai", partial("openai") + error_frame("openai", vllm, named=False)
    )
    assert str(error) == (
        "the server reported an error mid-stream (BadRequestError): max_tokens is too large"
    )


@pytest.mark.parametrize("wire", [*SSE_WIRES, "ollama"])
def test_ask_prints_the_servers_words(tmp_path, replay, wire):
    kind = NDJSON if wire == "ollama" else SSE
    payload = {"message": "quota gone for today"}
    body = partial(wire) + error_frame(wire, payload, named=wire != "ollama")
    replay.reply(Canned(body, content_type=kind))
    result = tokentide(
        "ask", "--no-log", "--provider", wire, "--base-url", base_for(wire, replay),
        "--model", "m", "q", env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tokentide: error: the server reported an error") and (
        "quota gone for today" in line
    ), line


async def test_an_ordinary_chunk_without_words_is_not_an_error(replay):
    """A usage-only chunk has no `choices`; it must not be taken for an error."""
    body = (
        partial("openai")
        + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        + b'data: {"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
        + b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is None and answer.message.text == "Hi"


# -- Content-Encoding ----------------------------------------------------------------


ANSWER = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize(
    "encoding,status,said",
    [
        ("gzip", 200, "the reply's body is not what its Content-Encoding: gzip header says"),
        ("br", 200, "the reply came with Content-Encoding: br, which cannot be decoded here"),
        ("x-snappy", 200, "Content-Encoding: x-snappy, which cannot be decoded here"),
        ("gzip", 401, "HTTP 401 X: the reply's body is not what its Content-Encoding: gzip"),
    ],
)
async def test_a_body_not_in_its_content_encoding_names_the_header_and_the_fix(
    replay, encoding, status, said
):
    replay.reply(Canned(ANSWER, status=status, headers={"Content-Encoding": encoding}))
    _, _, error = await stream(endpoint("openai", replay.base_url), retries=0)
    assert error is not None
    assert said in str(error), str(error)
    assert "point the base URL past the proxy" in str(error)
    assert "\n" not in str(error)
    if encoding == "br":
        assert "install the brotli package" in str(error)


async def test_model_list_with_a_lying_content_encoding(replay):
    body = b'{"data":[{"id":"m"}]}'
    replay.reply(
        Canned(body, content_type="application/json", headers={"Content-Encoding": "gzip"})
    )
    async with ChatClient(endpoint("openai", replay.base_url)) as client:
        with pytest.raises(ApiError) as raised:
            await client.list_models()
    assert "Content-Encoding: gzip" in str(raised.value)
    assert "point the base URL past the proxy" in str(raised.value)


def test_ask_names_the_content_encoding(tmp_path, replay):
    replay.reply(Canned(ANSWER, headers={"Content-Encoding": "gzip"}))
    result = tokentide(
        "ask", "--no-log", "--base-url", replay.base_url, "-m", "m", "q", env=clean_env(tmp_path)
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "Content-Encoding: gzip" in line and "point the base URL past the proxy" in line


# -- redirects -----------------------------------------------------------------------


class Counter:
    """A loopback server that answers 200 to anything and counts who came:
    where a redirect points, to prove nobody followed it."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> Counter:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


def redirect(status: int, location: str) -> Canned:
    return Canned(b"", status=status, headers={"Location": location})


async def test_a_307_to_another_port_is_not_followed_and_names_the_new_base(replay):
    with Counter() as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.port}/v1/chat/completions"
        replay.reply(redirect(307, target))
        _, _, error = await stream(endpoint("openai", replay.base_url, key=KEY), retries=0)
        assert elsewhere.requests == []  # nothing went there, the key least of all
    assert error is not None and error.status == 307
    assert str(error) == (
        f"HTTP 307 X to {target}: redirects are not followed, so the API key is not sent "
        f"where the server points — set the base URL to http://127.0.0.1:{elsewhere.port}/v1"
    )
    assert len(replay.seen) == 1  # and not sent again: a redirect is not worth a retry


async def test_a_302_to_another_host_masks_credentials_in_the_target(replay):
    replay.reply(
        redirect(302, f"https://user:pw@api.example.net/v1/chat/completions?key={KEY}&x=1")
    )
    _, _, error = await stream(endpoint("openai", replay.base_url, key=KEY), retries=0)
    assert error is not None
    said = str(error)
    assert "HTTP 302 X to https://api.example.net/v1/chat/completions?key=…&x=1" in said
    assert "set the base URL to https://api.example.net/v1" in said
    assert KEY not in said and "pw" not in said


async def test_a_301_to_a_login_page_says_the_base_is_a_guess(replay):
    replay.reply(redirect(301, "/login?next=/v1/chat/completions"))
    _, _, error = await stream(endpoint("openai", replay.base_url), retries=0)
    assert error is not None
    assert f"to http://127.0.0.1:{replay.port}/login?next=/v1/chat/completions" in str(error)
    assert str(error).endswith(
        f"set the base URL to http://127.0.0.1:{replay.port}/v1 if the API is there"
    )


async def test_a_redirect_of_the_model_list_names_its_target(replay):
    replay.reply(redirect(308, "https://api.example.net/v1/models"))
    async with ChatClient(endpoint("openai", replay.base_url)) as client:
        with pytest.raises(ApiError) as raised:
            await client.list_models()
    assert "HTTP 308 X to https://api.example.net/v1/models" in str(raised.value)
    assert "set the base URL to https://api.example.net/v1" in str(raised.value)


def test_ask_names_the_redirect_and_the_fix(tmp_path, replay):
    with Counter() as elsewhere:
        replay.reply(redirect(307, f"http://127.0.0.1:{elsewhere.port}/v1/chat/completions"))
        result = tokentide(
            "ask", "--no-log", "--base-url", replay.base_url, "-m", "m", "q",
            env=clean_env(tmp_path, OPENAI_API_KEY=KEY),
        )  # fmt: skip
        assert elsewhere.requests == []
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tokentide: error: HTTP 307")
    assert f"set the base URL to http://127.0.0.1:{elsewhere.port}/v1" in line
    assert KEY not in result.stderr


def test_anthropic_base_for_a_redirect_is_the_host(replay):
    """A wire whose base URL is a bare host: the new base is the target's origin."""
    target = Endpoint("anthropic", "anthropic", f"http://127.0.0.1:{replay.port}", "m")
    replay.reply(redirect(307, "https://api.example.net/v1/messages"))
    _, _, error = asyncio.run(stream(target, retries=0))
    assert error is not None and str(error).endswith("set the base URL to https://api.example.net")


def test_a_long_server_message_is_cut_before_the_fix_never_the_fix():
    error = ApiError("HTTP 429: " + "the server says a great deal " * 30, fix="retry in 2 s")
    line = str(error)
    assert len(line) <= 400 and "\n" not in line
    assert line.endswith("… — retry in 2 s")
    assert line.startswith("HTTP 429: the server says")
