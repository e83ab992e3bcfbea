"""No server can take the memory: an event and an answer have a size limit.

A line that never ends, an event of endless `data:` lines, an answer of
64 KB deltas that never stops, an unstreamed reply or an error body without
end: each is stopped with one line naming the limit and the key that raises
it, the part that arrived is kept, and the process's peak memory stays
bounded. Everything goes through a real loopback socket; the command line is
run as a user runs it, and its peak resident memory is read from the kernel
(wait4's ru_maxrss).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import CMD, clean_env
from tests.endless import Endless, EndlessServer, peak_rss_mb, reset_peak_rss, rss_mb
from tests.replay import Canned
from tests.test_wire_formats import TIMEOUTS, base_for, endpoint
from tokentide.client.config import MB, Limits, resolve
from tokentide.client.errors import ApiError, ConfigError
from tokentide.client.events import Message
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient, State

RSS_CEILING_MB = 320
"""What `ask` may take at its peak, whatever the server sends (issue 17)."""

HI = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
DELTA_64K = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * 65536 + b'"}}]}\n\n'


def never_ending_line(wire: str = "openai") -> Endless:
    """A first event, then one line that never ends."""
    if wire == "ollama":
        first = b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
        return Endless(first + b'{"message":{"content":"', b"y" * 65536, "application/x-ndjson")
    return Endless(HI + b'data: {"choices":[{"index":0,"delta":{"content":"', b"y" * 65536)


def endless_deltas() -> Endless:
    return Endless(b"", DELTA_64K)


async def answer(
    target: str, wire: str = "openai", limits: Limits | None = None, **request: object
):
    """One answer from `target` to its end: (answer, error, seconds)."""
    client = ChatClient(endpoint(wire, target), timeouts=TIMEOUTS, retries=0, limits=limits)
    started = time.perf_counter()
    error = None
    async with client:
        stream = client.stream(ChatRequest("m", [Message("user", "hi")], **request))  # type: ignore[arg-type]
        try:
            async with stream:
                async for _ in stream:
                    pass
        except ApiError as exc:
            error = exc
    return stream, error, time.perf_counter() - started


def base(server: EndlessServer, wire: str) -> str:
    return f"{server.host}/v1" if wire in ("openai", "responses") else server.host


# -- the library, through a socket ----------------------------------------------


@pytest.mark.parametrize("wire", ["openai", "ollama"])
async def test_a_line_that_never_ends_stops_at_the_event_limit_with_the_start_kept(wire):
    limits = Limits(event_bytes=1 * MB)
    with EndlessServer(never_ending_line(wire)) as server:
        start = rss_mb()
        reset_peak_rss()
        stream, error, seconds = await answer(base(server, wire), wire, limits)
        grew = peak_rss_mb() - start
    assert stream.state is State.FAILED and error is not None and error.kind == "limit"
    assert str(error) == (
        "the server sent one event in the stream over 1 MB, the limit for a single event — "
        "if the server is right to, raise event_mb in the [limits] table of the config file"
    )
    assert stream.message.text == "Hi" and stream.message.error == str(error)
    assert not server.capped and seconds < 5
    assert grew < 48, f"memory grew {grew:.0f} MB reading a line capped at 1 MB"


def blank_lines(wire: str) -> Endless:
    """A first event, then empty lines without end: bytes keep coming (no read
    timeout), but no event ever does. The parser had nothing to hand on, so
    nothing waited: the process spun at 100 % and Ctrl-C never ran."""
    if wire == "ollama":
        first = b'{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
        return Endless(first, b"\n" * 65536, "application/x-ndjson")
    return Endless(HI, b"\n" * 65536)


@pytest.mark.parametrize("wire", ["openai", "ollama"])
async def test_endless_blank_lines_stop_at_the_event_limit_with_the_start_kept(wire):
    with EndlessServer(blank_lines(wire)) as server:
        stream, error, seconds = await answer(base(server, wire), wire, Limits(event_bytes=MB))
    assert error is not None and str(error) == (
        "the server sent 4 MB with no event in it (blank lines or comments) — "
        "check that the base URL is a chat API that streams; retry"
    )
    assert stream.message.text == "Hi" and not server.capped and seconds < 5


def test_ctrl_c_stops_a_flood_of_blank_lines_at_once(tmp_path):
    """The loop gets a turn between reads even when bytes are always waiting."""
    import signal

    with EndlessServer(blank_lines("openai")) as server:
        env = env_with(tmp_path, "[limits]\nevent_mb = 100000\n")  # the limit never trips
        proc = subprocess.Popen(
            [*CMD, "ask", "--no-log", *ask_args(server, "hi")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        while server.sent < 4 * MB and proc.poll() is None:
            time.sleep(0.01)
        sent_at = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 130, err
    assert time.perf_counter() - sent_at < 5
    assert out == b"Hi" and b"Traceback" not in err


async def test_an_event_of_endless_short_data_lines_stops_at_the_event_limit():
    """No line is long, but the event they make never ends (no blank line)."""
    with EndlessServer(Endless(HI, b"data: " + b"z" * 100 + b"\n")) as server:
        stream, error, _ = await answer(f"{server.host}/v1", limits=Limits(event_bytes=MB // 2))
    assert error is not None and error.kind == "limit" and "over 0.5 MB" in str(error)
    assert stream.message.text == "Hi" and not server.capped


async def test_endless_keep_alive_comments_are_not_an_event_that_grows(replay):
    """Comments are dropped as they come: many of them between two events,
    more bytes than the limit together, end no stream."""
    comments = b": keep-alive\n" * 2000  # 26 KB of comments, no blank line
    body = HI + comments + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    replay.reply(Canned(body + b"data: [DONE]\n\n", chunk_size=4096))
    stream, error, _ = await answer(replay.base_url, limits=Limits(event_bytes=16 * 1024))
    assert error is None and stream.state is State.FINISHED and stream.message.text == "Hi"


async def test_endless_64k_deltas_stop_at_the_answer_limit_with_the_answer_kept():
    limits = Limits(answer_bytes=2 * MB)
    with EndlessServer(endless_deltas()) as server:
        start = rss_mb()
        reset_peak_rss()
        stream, error, seconds = await answer(f"{server.host}/v1", limits=limits)
        grew = peak_rss_mb() - start
    assert stream.state is State.FAILED and error is not None and error.kind == "limit"
    assert str(error) == (
        "the answer was stopped at 2 MB (text, reasoning and tool arguments together) — "
        "to allow longer answers, raise answer_mb in the [limits] table of the config file"
    )
    text = stream.message.text
    assert set(text) == {"x"} and 2 * MB - 65536 < len(text) <= 2 * MB
    assert not server.capped and seconds < 5
    assert grew < 64, f"memory grew {grew:.0f} MB for an answer capped at 2 MB"


async def test_reasoning_and_tool_arguments_count_toward_the_answer_limit(replay):
    chunk = "r" * 40_000
    body = b"".join(
        b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"' + chunk.encode() + b'"}}]}\n\n'
        for _ in range(3)
    ) + b"".join(
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":'
        b'{"name":"f","arguments":"' + b"a" * 40_000 + b'"}}]}}]}\n\n'
        for _ in range(3)
    )  # fmt: skip
    replay.reply(Canned(body + b"data: [DONE]\n\n", chunk_size=8192))
    stream, error, _ = await answer(replay.base_url, limits=Limits(answer_bytes=210_000))
    assert error is not None and error.kind == "limit"
    message = stream.message
    assert message.reasoning == chunk * 3
    [call] = message.tool_calls
    assert call.arguments_raw == "a" * 80_000 and call.parse_error is not None


async def test_the_answer_limit_counts_bytes_not_characters(replay):
    """A character outside ASCII takes up to four bytes in memory and on disk."""
    emoji = "😀" * 1000  # 4000 bytes
    body = b"".join(
        b'data: {"choices":[{"index":0,"delta":{"content":"' + emoji.encode() + b'"}}]}\n\n'
        for _ in range(5)
    )
    replay.reply(Canned(body + b"data: [DONE]\n\n", chunk_size=4096))
    stream, error, _ = await answer(replay.base_url, limits=Limits(answer_bytes=10_000))
    assert error is not None and error.kind == "limit"
    assert stream.message.text == emoji * 2


async def test_an_unstreamed_reply_over_the_event_limit_is_stopped():
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"'
    with EndlessServer(Endless(body, b"w" * 65536, "application/json")) as server:
        _, error, _ = await answer(f"{server.host}/v1", limits=Limits(event_bytes=MB), stream=False)
    assert error is not None and error.kind == "limit"
    assert str(error).startswith("the server sent the reply over 1 MB")
    assert not server.capped


async def test_a_model_list_without_end_is_stopped_at_the_event_limit():
    endless = Endless(b'{"object":"list","data":[', b'{"id":"m","object":"model"},' * 2000)
    with EndlessServer(endless) as server:
        client = ChatClient(endpoint("openai", f"{server.host}/v1"), limits=Limits(event_bytes=MB))
        async with client:
            with pytest.raises(ApiError) as info:
                await client.list_models()
    assert info.value.kind == "limit" and "the reply over 1 MB" in str(info.value)
    assert not server.capped


async def test_an_error_body_without_end_is_read_only_up_to_the_limit():
    """A 500 whose body never ends: the error is reported from its start."""
    endless = Endless(b"<html><body>upstream exploded", b"." * 65536, "text/html", status=500)
    with EndlessServer(endless) as server:
        stream, error, seconds = await answer(f"{server.host}/v1", limits=Limits(event_bytes=MB))
    assert error is not None and error.status == 500 and "upstream exploded" in str(error)
    assert stream.state is State.FAILED and not server.capped and seconds < 5


async def test_sse_lines_end_at_cr_lf_or_crlf_split_anywhere_and_a_bom_is_dropped(replay):
    """The spec's line ends in every mix, served a byte at a time, so a CRLF
    is split between two reads; a BOM opens the stream; comments, multi-line
    data and an event the stream ends without its blank line."""
    body = (
        b"\xef\xbb\xbf: hello\r"
        b'data: {"choices":[{"index":0,"delta":\r\n'
        b'data: {"content":"A"}}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"B"}}]}\r\r'
        b": comment\n"
        b'data: {"choices":[{"index":0,"delta":{"content":"C"}}]}\n\n'
        b'event: message\ndata: {"choices":[{"index":0,"delta":{"content":"D"},'
        b'"finish_reason":"stop"}]}\r\n\r'
        b"\ndata: [DONE]\n\n"
    )
    replay.reply(Canned(body, chunk_size=1))
    stream, error, _ = await answer(replay.base_url)
    assert error is None and stream.message.text == "ABCD"
    assert stream.message.finish_reason == "stop"


async def test_an_ndjson_stream_opening_with_a_bom_is_read(replay):
    body = (
        b'\xef\xbb\xbf{"message":{"role":"assistant","content":"Hi"},"done":false}\n'
        b'{"message":{"content":""},"done":true,"done_reason":"stop"}'
    )
    replay.reply(Canned(body, content_type="application/x-ndjson", chunk_size=2))
    stream, error, _ = await answer(base_for("ollama", replay), "ollama")
    assert error is None and stream.message.text == "Hi"


async def test_events_under_the_limit_pass_whole(replay):
    """An event just under the limit is read, however it is cut into reads."""
    text = "k" * 60_000
    event = b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'
    finish = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    replay.reply(Canned(event + finish + b"data: [DONE]\n\n", seed=5, chunk_size=3000))
    stream, error, _ = await answer(replay.base_url, limits=Limits(event_bytes=len(event)))
    assert error is None and stream.message.text == text


# -- config ----------------------------------------------------------------------


def settings_from(tmp_path: Path, toml: str):
    path = tmp_path / "config.toml"
    path.write_text(toml)
    return resolve(path=path, env={})


def test_limits_default_to_8_and_32_mb(tmp_path):
    limits = settings_from(tmp_path, "").limits
    assert (limits.event_bytes, limits.answer_bytes) == (8 * MB, 32 * MB)


def test_limits_are_read_from_the_config_file_in_mb(tmp_path):
    limits = settings_from(tmp_path, "[limits]\nevent_mb = 0.5\nanswer_mb = 100\n").limits
    assert (limits.event_bytes, limits.answer_bytes) == (MB // 2, 100 * MB)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("event_mb = 0", "event_mb in [limits] must be a size in MB more than 0, not 0"),
        ("answer_mb = -3", "answer_mb in [limits] must be a size in MB more than 0, not -3"),
        ("answer_mb = nan", "answer_mb in [limits] must be a size in MB more than 0, not nan"),
        ('event_mb = "8"', "event_mb in [limits] must be a number, not a string"),
        ("event_mb = true", "event_mb in [limits] must be a number, not true/false"),
    ],
)
def test_a_bad_limit_is_one_line_naming_the_key_and_the_file(tmp_path, line, said):
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, f"[limits]\n{line}\n")
    assert str(info.value).startswith(said), str(info.value)
    assert str(tmp_path / "config.toml") in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_key_in_limits_is_a_warning(tmp_path):
    warnings = settings_from(tmp_path, "[limits]\nevent_kb = 8\n").warnings
    assert len(warnings) == 1 and "event_kb" in warnings[0] and "[limits]" in warnings[0]


# -- the command line: exit code, one line, peak memory ------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float


LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""
"""Runs a command and writes its peak RSS. Read from a small parent, not from
the test: a child's ru_maxrss starts from the memory of the process it was
forked from (Linux carries the high-water mark across exec), which for the
test would be all of pytest; this parent adds its own ~10 MB at most."""


def ask_measured(env: dict[str, str], *args: str, timeout: float = 60) -> Run:
    """`tokentide ask ARGS` with its peak resident memory, from the kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err, peak = (Path(tmp) / name for name in ("out", "err", "peak"))
        started = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            command = [*CMD, "ask", "--no-log", *args]
            result = subprocess.run(
                [sys.executable, "-S", "-c", LAUNCHER, str(peak), *command],
                env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, timeout=timeout,
            )  # fmt: skip
        return Run(
            result.returncode,
            out.read_text(),
            err.read_text(),
            int(peak.read_text()) / 1024,  # KB on Linux
            time.perf_counter() - started,
        )


def env_with(tmp_path: Path, toml: str = "") -> dict[str, str]:
    config = tmp_path / "limits.toml"
    config.write_text(toml)
    return clean_env(tmp_path, TOKENTIDE_CONFIG=str(config))


def ask_args(server: EndlessServer, *extra: str) -> list[str]:
    return ["--provider", "openai", "--base-url", f"{server.host}/v1", "--model", "m", *extra]


def test_ask_stops_a_line_that_never_ends_with_one_line_and_bounded_memory(tmp_path):
    with EndlessServer(never_ending_line()) as server:
        run = ask_measured(env_with(tmp_path, "[limits]\nevent_mb = 2\n"), *ask_args(server, "hi"))
    assert run.returncode == 1, run.stderr
    assert run.stdout == "Hi"
    [line] = run.stderr.splitlines()
    assert "over 2 MB" in line and "raise event_mb in the [limits] table" in line
    assert run.peak_mb < RSS_CEILING_MB and not server.capped


def test_ask_json_keeps_the_answer_stopped_at_the_answer_limit(tmp_path):
    with EndlessServer(endless_deltas()) as server:
        run = ask_measured(
            env_with(tmp_path, "[limits]\nanswer_mb = 3\n"), *ask_args(server, "--json", "hi")
        )
    assert run.returncode == 1, run.stderr
    body = json.loads(run.stdout)
    assert "raise answer_mb" in body["error"] and body["finish_reason"] is None
    assert 3 * MB - 65536 < len(body["text"]) <= 3 * MB
    assert run.peak_mb < RSS_CEILING_MB and not server.capped


@pytest.mark.parametrize("endless", [never_ending_line(), endless_deltas()], ids=["line", "deltas"])
def test_ask_with_the_default_limits_stays_under_the_memory_ceiling(tmp_path, endless):
    """The defaults (8 MB an event, 32 MB an answer) against both attacks:
    the peak stays under 320 MB, and the limit trips in a few seconds."""
    with EndlessServer(endless) as server:
        run = ask_measured(env_with(tmp_path), *ask_args(server, "hi"))
    assert run.returncode == 1, run.stderr
    [line] = run.stderr.splitlines()
    assert ("over 8 MB" in line) if endless.block[:1] == b"y" else ("at 32 MB" in line), line
    assert run.peak_mb < RSS_CEILING_MB, f"peak {run.peak_mb:.0f} MB"
    assert run.seconds < 20 and not server.capped


def control_characters() -> Endless:
    """Deltas of U+0001, which JSON writes as six characters each (`\\u0001`)."""
    text = b"\\u0001" * 10923
    return Endless(b"", b'data: {"choices":[{"index":0,"delta":{"content":"' + text + b'"}}]}\n\n')


def test_ask_json_writes_an_answer_of_escapes_without_copying_it_whole(tmp_path):
    """Escaped whole, 4 MB of control characters is 24 MB of JSON, copied
    three times over (the line, its newline, its bytes); written in pieces,
    the peak is the answer's and little more."""
    with EndlessServer(control_characters()) as server:
        run = ask_measured(
            env_with(tmp_path, "[limits]\nanswer_mb = 4\n"), *ask_args(server, "--json", "hi")
        )
    assert run.returncode == 1, run.stderr
    body = json.loads(run.stdout)
    assert set(body["text"]) == {"\x01"} and 4 * MB - 10923 < len(body["text"]) <= 4 * MB
    assert run.peak_mb < 100, f"peak {run.peak_mb:.0f} MB"


@pytest.mark.slow
def test_ask_json_with_the_default_limits_and_an_answer_of_escapes(tmp_path):
    """32 MB of control characters, 192 MB as JSON: it took 1 GB escaped whole."""
    with EndlessServer(control_characters()) as server:
        run = ask_measured(env_with(tmp_path), *ask_args(server, "--json", "hi"), timeout=120)
    assert run.returncode == 1, run.stderr
    assert len(json.loads(run.stdout)["text"]) > 31 * MB
    assert run.peak_mb < RSS_CEILING_MB, f"peak {run.peak_mb:.0f} MB"
