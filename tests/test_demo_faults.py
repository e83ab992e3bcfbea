"""The demo server's faults from issue 17, on every wire, over real loopback sockets.

The app's defences against hostile servers (retries, cut-off streams, limits,
untrusted numbers, terminal safety, clear errors) are tested against these
faults, and a user reproduces a failure with them; so each test here pins
down, from the client's side of a real TCP connection read with plain httpx,
that a fault sends the bytes it promises in each API's own shape, and asks
the server's records (not the clock) when something must *not* happen.
Faults are asked for three ways: `inject()` (the queue), the `X-Demo-Fault`
header and a prompt starting with `/fault NAME`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tokentide.client.demo import FAULTS, DemoServer, check_fault
from tokentide.client.demo.answers import (
    BAD_TOOL_ARGS,
    ENDLESS_DELTA,
    HOSTILE,
    STRAY_TOOL_ARGS,
)
from tokentide.client.demo.encoder import MESSAGE_ONLY
from tokentide.client.demo.faults import fault_in_prompt
from tokentide.client.demo.pacing import FAULT_AFTER, FLOOD

WORDS = "one two three four five six seven eight nine ten"
ECHO = f"/echo {WORDS}"
FIRST_FIVE = " ".join(WORDS.split()[:FAULT_AFTER])  # what 5 tokens of ECHO say
MB = 1 << 20


# --------------------------------------------------------------------------- wires


@dataclass
class Frame:
    """One SSE event (its `event:` name and joined `data:`) or one NDJSON line."""

    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)  # Python's json: NaN, Infinity and 1e400 parse


def frames(raw: bytes, sse: bool) -> list[Frame]:
    """The whole frames at the front of `raw` (an unfinished last one is left out)."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not sse:
        return [Frame(None, line) for line in text.split("\n")[:-1] if line]
    out = []
    for block in text.split("\n\n")[:-1]:
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            out.append(Frame(event, "\n".join(data)))
    return out


@dataclass
class Call:
    """A tool call as a wire delivered it: name and id as sent (None if absent)."""

    name: Any
    id: Any
    args: Any


class Wire:
    """One API's request shape and how to read its answers; subclasses per wire."""

    name = ""
    path = ""
    sse = True
    headers: dict[str, str] = {}
    #: What ends a stream besides EOF ("" when EOF is the only end).
    end_marker = ""

    def url(self, server: DemoServer, *, stream: bool = True) -> str:
        return server.base_url.removesuffix("/v1") + self.path

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        raise NotImplementedError

    def text(self, fs: list[Frame]) -> str:
        raise NotImplementedError

    def finish(self, fs: list[Frame]) -> str | None:
        raise NotImplementedError

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def calls(self, fs: list[Frame]) -> list[Call]:
        raise NotImplementedError

    def ended(self, fs: list[Frame]) -> bool:
        """Whether the stream's end marker (or terminal event) arrived."""
        raise NotImplementedError


class OpenAI(Wire):
    name, path, end_marker = "openai", "/v1/chat/completions", "[DONE]"

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": "demo",
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _chunks(self, fs: list[Frame]) -> list[dict[str, Any]]:
        return [f.json() for f in fs if f.data != "[DONE]"]

    def _deltas(self, fs: list[Frame]) -> Iterator[dict[str, Any]]:
        for chunk in self._chunks(fs):
            for choice in chunk.get("choices") or []:
                yield choice["delta"]

    def text(self, fs: list[Frame]) -> str:
        return "".join(d.get("content") or "" for d in self._deltas(fs))

    def finish(self, fs: list[Frame]) -> str | None:
        reasons = [c["finish_reason"] for k in self._chunks(fs) for c in k.get("choices") or []]
        return next((r for r in reasons if r is not None), None)

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        return [k["usage"] for k in self._chunks(fs) if k.get("usage")]

    def calls(self, fs: list[Frame]) -> list[Call]:
        by_index: dict[int, Call] = {}
        for delta in self._deltas(fs):
            for part in delta.get("tool_calls") or []:
                call = by_index.setdefault(part["index"], Call(None, None, ""))
                function = part.get("function") or {}
                call.id = call.id or part.get("id")
                call.name = call.name or function.get("name")
                call.args += function.get("arguments") or ""
        return list(by_index.values())

    def ended(self, fs: list[Frame]) -> bool:
        return any(f.data == "[DONE]" for f in fs)


class Anthropic(Wire):
    name, path, end_marker = "anthropic", "/v1/messages", "message_stop"
    headers = {"anthropic-version": "2023-06-01"}

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        return {
            "model": "demo",
            "max_tokens": 4096,
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }

    def _of(self, fs: list[Frame], event: str) -> list[dict[str, Any]]:
        return [f.json() for f in fs if f.event == event]

    def text(self, fs: list[Frame]) -> str:
        deltas = [e["delta"] for e in self._of(fs, "content_block_delta")]
        return "".join(d["text"] for d in deltas if d["type"] == "text_delta")

    def finish(self, fs: list[Frame]) -> str | None:
        return next((e["delta"]["stop_reason"] for e in self._of(fs, "message_delta")), None)

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        starts = [e["message"]["usage"] for e in self._of(fs, "message_start")]
        return starts + [e["usage"] for e in self._of(fs, "message_delta") if "usage" in e]

    def calls(self, fs: list[Frame]) -> list[Call]:
        by_index: dict[int, Call] = {}
        for f in fs:
            event = f.json() if f.event else {}
            if f.event == "content_block_start" and event["content_block"]["type"] == "tool_use":
                block = event["content_block"]
                by_index[event["index"]] = Call(block.get("name"), block.get("id"), "")
            elif f.event == "content_block_delta" and event["index"] in by_index:
                by_index[event["index"]].args += event["delta"]["partial_json"]
        return list(by_index.values())

    def ended(self, fs: list[Frame]) -> bool:
        return any(f.event == "message_stop" for f in fs)


class Responses(Wire):
    name, path, end_marker = "responses", "/v1/responses", "response.completed"
    _TERMINAL = ("response.completed", "response.incomplete", "response.failed")

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        return {"model": "demo", "stream": stream, "input": prompt}

    def _of(self, fs: list[Frame], event: str) -> list[dict[str, Any]]:
        return [f.json() for f in fs if f.event == event]

    def text(self, fs: list[Frame]) -> str:
        return "".join(e["delta"] for e in self._of(fs, "response.output_text.delta"))

    def finish(self, fs: list[Frame]) -> str | None:
        done = [f.json()["response"]["status"] for f in fs if f.event in self._TERMINAL]
        return done[0] if done else None

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        done = [f.json()["response"]["usage"] for f in fs if f.event in self._TERMINAL]
        return [u for u in done if u]

    def calls(self, fs: list[Frame]) -> list[Call]:
        by_item: dict[str, Call] = {}
        for e in self._of(fs, "response.output_item.added"):
            item = e["item"]
            if item["type"] == "function_call":
                by_item[item["id"]] = Call(item.get("name"), item.get("call_id"), "")
        for e in self._of(fs, "response.function_call_arguments.delta"):
            by_item[e["item_id"]].args += e["delta"]
        return list(by_item.values())

    def ended(self, fs: list[Frame]) -> bool:
        return any(f.event in self._TERMINAL for f in fs)


class Ollama(Wire):
    name, path, sse = "ollama", "/api/chat", False

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        return {
            "model": "demo",
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }

    def _lines(self, fs: list[Frame]) -> list[dict[str, Any]]:
        return [f.json() for f in fs]

    def text(self, fs: list[Frame]) -> str:
        messages = [o.get("message") for o in self._lines(fs)]
        return "".join(m.get("content") or "" for m in messages if isinstance(m, dict))

    def finish(self, fs: list[Frame]) -> str | None:
        return next((o["done_reason"] for o in self._lines(fs) if o.get("done")), None)

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        keys = ("prompt_eval_count", "eval_count", "total_duration", "eval_duration")
        keys += ("load_duration", "prompt_eval_duration")
        return [{k: o[k] for k in keys if k in o} for o in self._lines(fs) if o.get("done")]

    def calls(self, fs: list[Frame]) -> list[Call]:
        out = []
        for o in self._lines(fs):
            message = o.get("message")
            for call in message.get("tool_calls") or [] if isinstance(message, dict) else []:
                function = call["function"]
                out.append(Call(function.get("name"), call.get("id"), function.get("arguments")))
        return out

    def ended(self, fs: list[Frame]) -> bool:
        return False  # NDJSON: the end is EOF


class Gemini(Wire):
    name = "gemini"
    path = "/v1beta/models/demo:streamGenerateContent?alt=sse"

    def url(self, server: DemoServer, *, stream: bool = True) -> str:
        root = server.base_url.removesuffix("/v1")
        if not stream:
            return root + "/v1beta/models/demo:generateContent"
        return root + self.path

    def body(self, prompt: str, *, stream: bool = True) -> dict[str, Any]:
        return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}

    def _parts(self, fs: list[Frame]) -> Iterator[dict[str, Any]]:
        for f in fs:
            for candidate in f.json().get("candidates") or []:
                yield from candidate["content"]["parts"]

    def text(self, fs: list[Frame]) -> str:
        return "".join(p.get("text", "") for p in self._parts(fs) if not p.get("thought"))

    def finish(self, fs: list[Frame]) -> str | None:
        reasons = [c.get("finishReason") for f in fs for c in f.json().get("candidates") or []]
        return next((r for r in reasons if r), None)

    def usages(self, fs: list[Frame]) -> list[dict[str, Any]]:
        return [f.json()["usageMetadata"] for f in fs if "usageMetadata" in f.json()]

    def calls(self, fs: list[Frame]) -> list[Call]:
        calls = [p["functionCall"] for p in self._parts(fs) if "functionCall" in p]
        return [Call(c.get("name"), c.get("id"), c.get("args")) for c in calls]

    def ended(self, fs: list[Frame]) -> bool:
        return False  # no end marker: the end is EOF


ALL = [OpenAI(), Anthropic(), Responses(), Ollama(), Gemini()]
#: The finish reason each wire gives a plain answer and a tool call.
STOPPED = {"openai": "stop", "anthropic": "end_turn", "responses": "completed"}
STOPPED |= {"ollama": "stop", "gemini": "STOP"}
CALLED = {**STOPPED, "openai": "tool_calls", "anthropic": "tool_use"}


@pytest.fixture(params=ALL, ids=lambda w: w.name)
def wire(request: pytest.FixtureRequest) -> Wire:
    return request.param


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(tokens_per_second=5000, ttft=0.0) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


@dataclass
class Got:
    status: int
    headers: httpx.Headers
    raw: bytes
    frames: list[Frame]


async def ask(
    client: httpx.AsyncClient,
    server: DemoServer,
    wire: Wire,
    prompt: str = ECHO,
    *,
    headers: dict[str, str] | None = None,
    until: Callable[[bytearray], bool] | None = None,
) -> Got:
    """Stream one answer: to its end, or until `until(raw)` (then hang up)."""
    raw = bytearray()
    url, body = wire.url(server), wire.body(prompt)
    heads = {**wire.headers, **(headers or {})}
    async with client.stream("POST", url, json=body, headers=heads) as response:
        async for piece in response.aiter_raw():
            raw += piece
            if until is not None and until(raw):
                break
    return Got(response.status_code, response.headers, bytes(raw), frames(bytes(raw), wire.sse))


async def read_exactly(response: httpx.Response, size: int) -> bytes:
    """The body's first `size` bytes, and any more that came with them."""
    raw = bytearray()
    async for piece in response.aiter_raw():
        raw += piece
        if len(raw) >= size:
            break
    return bytes(raw)


async def left(server: DemoServer) -> Any:
    """The chat request's record once the server has noticed the client leave."""
    return await server.await_for(lambda r: r.disconnected_at is not None)


# --------------------------------------------------------------------------- the catalogue


def test_every_fault_is_documented_and_misspellings_are_refused() -> None:
    assert {"finish_no_end", "huge_event", "endless", "bad_usage", "bad_tool_args"} <= set(FAULTS)
    assert {"nameless_tool", "hostile", "error_message_only", "fake_gzip"} <= set(FAULTS)
    assert {"redirect", "redirect_host"} <= set(FAULTS)
    for name, line in FAULTS.items():
        assert line and "\n" not in line, name
        check_fault(name)
    for good in ("http:429", "http:429-date", "http:503-date", "http:529"):
        check_fault(good)
    for bad in ("http:429-dat", "http:429date", "http:200-date", "Hostile", "finish-no-end", ""):
        with pytest.raises(ValueError, match="expected http:<400-599>"):
            check_fault(bad)


@pytest.mark.parametrize(
    ("prompt", "fault", "rest"),
    [
        ("/fault hostile tell me", "hostile", "tell me"),
        ("/fault   endless\nand more", "endless", "and more"),
        ("/fault http:429-date", "http:429-date", ""),
        ("/faulty hostile", None, "/faulty hostile"),
        ("please /fault hostile", None, "please /fault hostile"),
    ],
)
def test_a_prompt_names_its_fault_first(prompt: str, fault: str | None, rest: str) -> None:
    assert fault_in_prompt(prompt) == (fault, rest)


# --------------------------------------------------------------------------- refusals


async def test_http_date_retry_after(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("http:429-date")
    before = time.time()
    got = await ask(client, server, wire)
    assert got.status == 429
    assert got.headers.get_list("retry-after") == [got.headers["retry-after"]]  # just one
    when = parsedate_to_datetime(got.headers["retry-after"]).timestamp()
    assert before <= when <= time.time() + 3  # a date 1-2 s ahead, whole seconds
    assert server.requests[-1].fault == "http:429-date"
    # The body is the API's own 429, as with http:429.
    server.inject("http:429")
    plain = await ask(client, server, wire)
    assert plain.raw.split(b"req_")[0] == got.raw.split(b"req_")[0]


async def test_a_529_on_the_anthropic_wire_is_anthropic_overloaded(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("http:529")
    got = await ask(client, server, Anthropic())
    assert got.status == 529
    body = json.loads(got.raw)
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"] == got.headers["request-id"]


@pytest.mark.parametrize(("fault", "status"), [("redirect", 307), ("redirect_host", 302)])
async def test_redirects_name_a_target_and_are_not_followed_by_httpx(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire, fault: str, status: int
) -> None:
    server.inject(fault)
    got = await ask(client, server, wire)
    assert got.status == status
    target = wire.url(server).split(str(server.port), 1)[1]  # the path and query
    if fault == "redirect":
        expected = f"http://127.0.0.1:{server.port + 1}{target}"
    else:
        expected = f"http://localhost:{server.port}{target}"
    assert got.headers["location"] == expected
    assert got.headers["content-type"] == "text/html"
    assert f"<h1>{status} ".encode() in got.raw
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- held open


async def test_finish_no_end_sends_the_finish_then_nothing_until_the_client_leaves(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("finish_no_end")
    url, body = wire.url(server), wire.body(ECHO)
    async with client.stream("POST", url, json=body, headers=wire.headers) as response:
        held = await server.await_for(lambda r: r.held)
        raw = await read_exactly(response, held.bytes_sent)
    assert len(raw) == held.bytes_sent  # every byte the server sent, and no more
    fs = frames(raw, wire.sse)
    assert wire.text(fs) == WORDS
    assert not wire.ended(fs)
    if wire.name == "responses":  # the finish is the terminal event: only the items close
        assert fs[-1].event == "response.output_item.done" and wire.finish(fs) is None
    else:
        assert wire.finish(fs) == STOPPED[wire.name]
        assert wire.usages(fs)
    record = await left(server)
    assert record.bytes_sent == held.bytes_sent and not record.completed
    assert record.tokens_sent == len(WORDS.split())


async def test_stall_is_held_after_five_tokens(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("stall")
    url, body = wire.url(server), wire.body(ECHO)
    async with client.stream("POST", url, json=body, headers=wire.headers) as response:
        held = await server.await_for(lambda r: r.held)
        raw = await read_exactly(response, held.bytes_sent)
    fs = frames(raw, wire.sse)
    assert wire.text(fs) == FIRST_FIVE and wire.finish(fs) is None
    assert (await left(server)).bytes_sent == len(raw)


# --------------------------------------------------------------------------- without end


async def test_huge_event_is_one_event_that_never_ends(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("huge_event")
    got = await ask(client, server, wire, until=lambda raw: len(raw) > 2 * MB)
    whole, _, tail = got.raw.rpartition(b"\n")
    assert wire.text(frames(whole + b"\n", wire.sse)) == FIRST_FIVE
    assert len(tail) > 2 * MB - 4096  # everything after the 5 tokens: one unfinished line
    assert tail.startswith(b"data: {" if wire.sse else b'{"model":"demo"')
    opening, _, flood = tail.partition(FLOOD[:64])
    assert opening.endswith(b'"')  # the flood is a JSON string's text
    assert set(flood) == set(FLOOD)  # and nothing but that text
    record = await left(server)
    assert record.bytes_sent >= len(got.raw) and record.tokens_sent == FAULT_AFTER


async def test_endless_sends_large_deltas_until_the_client_leaves(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("endless")
    got = await ask(client, server, wire, until=lambda raw: len(raw) > 2 * MB)
    fs = frames(got.raw, wire.sse)
    text = wire.text(fs)
    assert text.startswith(FIRST_FIVE)
    deltas = (len(text) - len(FIRST_FIVE)) / len(ENDLESS_DELTA)
    assert deltas == int(deltas) and deltas >= 20  # whole 64 KiB deltas, 2 MB of them
    assert text[len(FIRST_FIVE) :] == ENDLESS_DELTA * int(deltas)
    assert wire.finish(fs) is None and not wire.ended(fs)
    record = await left(server)
    assert record.tokens_sent >= FAULT_AFTER + deltas and not record.completed


# --------------------------------------------------------------------------- what it says


async def test_bad_usage_numbers_parse_in_python(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("bad_usage")
    got = await ask(client, server, wire)
    fs = frames(got.raw, wire.sse)
    assert wire.text(fs) == WORDS and wire.finish(fs) == STOPPED[wire.name]
    for literal in (b"1e400", b"NaN", b"Infinity", b"-12", b"1" + b"0" * 30):
        assert literal in got.raw, literal
    numbers = [v for usage in wire.usages(fs) for v in _leaves(usage) if isinstance(v, int | float)]
    assert any(math.isnan(v) for v in numbers)
    assert numbers.count(math.inf) >= 2  # 1e400 and Infinity
    assert -12 in numbers and 10**30 in numbers
    if wire.sse and wire.name != "gemini":
        assert wire.ended(fs)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


async def test_bad_tool_args_never_parse(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("bad_tool_args")
    got = await ask(client, server, wire, "what is the weather in Paris?")
    fs = frames(got.raw, wire.sse)
    (call,) = wire.calls(fs)
    assert call.name == "get_weather"
    assert call.args == BAD_TOOL_ARGS  # as text, even where the wire wants an object
    with pytest.raises(ValueError):
        json.loads(call.args)
    assert wire.finish(fs) == CALLED[wire.name]


async def test_nameless_tool_is_a_fragment_with_no_name_and_no_id(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("nameless_tool")
    got = await ask(client, server, wire)
    fs = frames(got.raw, wire.sse)
    (call,) = wire.calls(fs)
    assert call.name is None and call.id is None and call.args == STRAY_TOOL_ARGS
    assert wire.text(fs) == WORDS and wire.finish(fs) == STOPPED[wire.name]


async def test_hostile_text_arrives_whole(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("hostile")
    got = await ask(client, server, wire)
    fs = frames(got.raw, wire.sse)
    assert wire.text(fs) == HOSTILE
    assert "\x1b]52;c;aGk=\x07" in HOSTILE and "\u009b" in HOSTILE and "\u202e" in HOSTILE
    assert "\u009b".encode() in got.raw  # C1 goes out raw (JSON only escapes C0)
    assert wire.finish(fs) == STOPPED[wire.name]


async def test_error_message_only_has_no_error_key(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("error_message_only")
    got = await ask(client, server, wire)  # read to the end: the body ends after it
    fs = frames(got.raw, wire.sse)
    last = fs[-1].json()
    assert last["message"] == MESSAGE_ONLY and "error" not in last
    if wire.name == "responses":
        assert fs[-1].event == "error" and last["type"] == "error"
    elif wire.name == "anthropic":
        assert fs[-1].event == "error" and last == {"message": MESSAGE_ONLY}
    else:
        assert last == {"message": MESSAGE_ONLY}
    assert wire.text(fs[:-1]) == FIRST_FIVE and wire.finish(fs) is None
    assert not server.requests[-1].completed


async def test_fake_gzip_says_gzip_and_sends_plain_bytes(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("fake_gzip")
    got = await ask(client, server, wire)
    assert got.headers["content-encoding"] == "gzip"
    assert wire.text(got.frames) == WORDS  # the raw body is the plain answer
    server.inject("fake_gzip")
    url, body = wire.url(server), wire.body(ECHO)
    with pytest.raises(httpx.DecodingError):
        async with client.stream("POST", url, json=body, headers=wire.headers) as response:
            async for _ in response.aiter_bytes():
                pass


# --------------------------------------------------------------------------- unstreamed


async def test_unstreamed_forms(server: DemoServer, client: httpx.AsyncClient) -> None:
    """The faults that have an unstreamed form, on Chat Completions."""
    wire = OpenAI()
    url = wire.url(server)

    server.inject("bad_usage")
    reply = await client.post(url, json=wire.body(ECHO, stream=False))
    usage = json.loads(reply.content)["usage"]
    assert usage["completion_tokens"] == math.inf and math.isnan(usage["total_tokens"])

    server.inject("error_message_only")
    reply = await client.post(url, json=wire.body(ECHO, stream=False))
    assert reply.status_code == 500 and reply.json() == {"message": MESSAGE_ONLY}

    server.inject("bad_tool_args")
    reply = await client.post(url, json=wire.body("weather?", stream=False))
    (call,) = reply.json()["choices"][0]["message"]["tool_calls"]
    assert call["function"]["arguments"] == BAD_TOOL_ARGS

    server.inject("finish_no_end")
    async with client.stream("POST", url, json=wire.body(ECHO, stream=False)) as response:
        held = await server.await_for(lambda r: r.held)
        raw = await read_exactly(response, held.bytes_sent)
        assert int(response.headers["content-length"]) == len(raw) + 1  # all but the last byte
    assert json.loads(raw + b"}")["choices"][0]["finish_reason"] == "stop"
    await left(server)


async def test_unstreamed_huge_event_is_a_body_that_never_ends(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    server.inject("huge_event")
    wire = Anthropic()
    url = wire.url(server)
    raw = bytearray()
    async with client.stream(
        "POST", url, json=wire.body(ECHO, stream=False), headers=wire.headers
    ) as response:
        async for piece in response.aiter_raw():
            raw += piece
            if len(raw) > MB:
                break
    assert raw.startswith(b'{"id":"msg_') and FLOOD[:64] in raw and b"\n" not in raw
    await left(server)


# --------------------------------------------------------------------------- by request


async def test_a_header_asks_for_a_fault_and_leaves_the_queue_alone(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    server.inject("http:503")
    got = await ask(client, server, wire, headers={"X-Demo-Fault": "hostile"})
    assert got.status == 200 and wire.text(got.frames) == HOSTILE
    assert (await ask(client, server, wire)).status == 503  # the queued one, next
    assert [r.fault for r in server.requests] == ["hostile", "http:503"]


async def test_a_prompt_asks_for_a_fault_and_the_rest_is_the_prompt(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire
) -> None:
    got = await ask(client, server, wire, f"/fault error_message_only {ECHO}")
    fs = frames(got.raw, wire.sse)
    assert fs[-1].json()["message"] == MESSAGE_ONLY
    assert wire.text(fs[:-1]) == FIRST_FIVE  # /echo's words: the rest of the prompt
    assert server.requests[-1].fault == "error_message_only"
    retry = await ask(client, server, wire, "/fault http:429-date hello")
    assert retry.status == 429 and "retry-after" in retry.headers


@pytest.mark.parametrize("how", ["header", "prompt"])
async def test_a_misspelt_fault_by_request_is_a_400_naming_it(
    server: DemoServer, client: httpx.AsyncClient, wire: Wire, how: str
) -> None:
    server.inject("hostile")
    if how == "header":
        got = await ask(client, server, wire, headers={"X-Demo-Fault": "hostil"})
    else:
        got = await ask(client, server, wire, "/fault hostil tell me")
    assert got.status == 400
    assert b"unknown fault 'hostil'" in got.raw and b"hostile" in got.raw
    assert server.requests[-1].fault is None
    assert wire.text((await ask(client, server, wire)).frames) == HOSTILE  # still queued


# --------------------------------------------------------------------------- command line


def test_demo_server_help_lists_every_fault_and_the_cli_takes_the_new_ones() -> None:
    run = [sys.executable, "-m", "tokentide.tui.cli", "demo-server"]
    result = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    for name in FAULTS:
        assert name in help_text, name
    assert "http:<status>-date" in help_text and "/fault NAME" in help_text
    assert "X-Demo-Fault" in help_text
    bad = subprocess.run(
        [*run, "--port", "0", "--fault", "http:429-dat"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert bad.returncode == 2 and "'http:429-dat'" in bad.stderr


# --------------------------------------------------------------------------- long runs


async def test_forget_drops_ended_records_and_numbering_goes_on(
    server: DemoServer, client: httpx.AsyncClient
) -> None:
    """A long run (the soak) drops what it has read; a request still open stays."""
    wire = OpenAI()
    await ask(client, server, wire)
    server.inject("stall")
    url, body = wire.url(server), wire.body(ECHO)
    async with client.stream("POST", url, json=body) as response:
        held = await server.await_for(lambda r: r.held)
        server.forget()
        assert [r.id for r in server.requests] == [held.id] == [2]
        await read_exactly(response, held.bytes_sent)
    await server.await_for(lambda r: r.id == 2 and r.ended_at is not None)
    await ask(client, server, wire)
    assert [r.id for r in server.requests] == [2, 3]
    server.forget()
    assert server.requests == []


@pytest.mark.parametrize("fault", ["finish_no_end", "huge_event"])
async def test_faults_that_never_end_over_http2(server: DemoServer, fault: str) -> None:
    """On one HTTP/2 stream as on an HTTP/1.1 connection: held, or flooding, until reset."""
    wire = OpenAI()
    server.inject(fault)
    url, body = wire.url(server), wire.body(ECHO)
    async with (
        httpx.AsyncClient(http1=False, http2=True, timeout=5) as h2,
        h2.stream("POST", url, json=body) as response,
    ):
        assert response.http_version == "HTTP/2"
        if fault == "finish_no_end":
            held = await server.await_for(lambda r: r.held)
            raw = await read_exactly(response, held.bytes_sent)
            fs = frames(raw, sse=True)
            assert wire.finish(fs) == "stop" and not wire.ended(fs)
        else:
            raw = await read_exactly(response, MB)
            assert FLOOD[:64] in raw.rpartition(b"\n")[2]
    record = await left(server)
    assert record.http_version == "2" and not record.completed
