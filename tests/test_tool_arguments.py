"""Tool calls as the server sent them: broken arguments said, stray pieces dropped.

Arguments that are not valid JSON when the answer ends have no value: the
raw text is kept and shown, with why it is not JSON (`arguments_error` in
`ask --json`, a marked note in the app, the `ask` line on a terminal), never
a repaired guess such as `{"city": "Par"}` passed off as the call. A
tool-call fragment the server never names is no call: it is dropped with
one warning line, never printed as `None()`. Every stream is served over
loopback by the replay server.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.cli import CMD, clean_env, tokentide
from tests.pilot import answers, make_app, screen_text, send, wait_idle
from tests.replay import Canned
from tests.test_wire_attacks import sse
from tests.test_wire_formats import base_for, endpoint, stream
from tokentide.client.stream import State
from tokentide.tui.widgets.tool_call_view import ToolCallView

CUT = '{"city": "Par'
"""Arguments cut off mid-string: jiter's partial mode would read {"city": "Par"}."""
DROPPED = "dropped a tool-call fragment the server never named (7 characters of arguments)"


def openai_chunk(delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


def broken_and_stray() -> bytes:
    """A call with cut-off arguments, and an argument piece no call ever opened."""
    return (
        openai_chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                      "function": {"name": "get_weather", "arguments": ""}}]})
        + openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": CUT}}]})
        + openai_chunk({"tool_calls": [{"index": 1, "function": {"arguments": "garbage"}}]})
        + openai_chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )  # fmt: skip


def cut_arguments(wire: str) -> bytes:
    """The same call with cut-off arguments, in each wire that streams them as text."""
    if wire == "openai":
        return (
            openai_chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {
                "name": "get_weather", "arguments": CUT}}]})
            + openai_chunk({}, "tool_calls")
            + b"data: [DONE]\n\n"
        )  # fmt: skip
    if wire == "anthropic":
        return sse(
            {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
            {"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}},
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "input_json_delta", "partial_json": CUT}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
             "usage": {"output_tokens": 5}},
            {"type": "message_stop"},
        )  # fmt: skip
    return sse(
        {"type": "response.output_item.added", "output_index": 0, "item": {
            "type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
            "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": CUT},
        {"type": "response.function_call_arguments.done", "output_index": 0, "arguments": CUT},
        {"type": "response.output_item.done", "output_index": 0, "item": {
            "type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
            "arguments": CUT}},
        {"type": "response.completed", "response": {"status": "completed"}},
    )  # fmt: skip


# -- the library ---------------------------------------------------------------------


@pytest.mark.parametrize("wire", ["openai", "anthropic", "responses"])
async def test_arguments_that_are_not_json_have_no_value_and_keep_their_text(replay, wire):
    replay.reply(Canned(cut_arguments(wire)))
    answer, _, error = await stream(endpoint(wire, base_for(wire, replay)))
    assert error is None and answer.state is State.FINISHED
    [call] = answer.message.tool_calls
    assert (call.id, call.name, call.arguments_raw) == ("call_1", "get_weather", CUT)
    assert call.arguments is None
    assert call.parse_error is not None and call.parse_error.startswith(
        "arguments are not valid JSON: "
    )
    assert call.to_dict()["arguments_error"] == call.parse_error


async def test_a_fragment_never_named_is_dropped_with_one_warning(replay):
    replay.reply(Canned(broken_and_stray()))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is None and answer.state is State.FINISHED
    assert [call.name for call in answer.message.tool_calls] == ["get_weather"]
    assert answer.message.warnings == [DROPPED]


async def test_a_fragment_that_gets_its_name_later_is_kept(replay):
    """Some servers send the name after the first piece: only a call never
    named by the end is dropped."""
    body = (
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]})
        + openai_chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]})
        + openai_chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _, _ = await stream(endpoint("openai", replay.base_url))
    [call] = answer.message.tool_calls
    assert (call.name, call.arguments) == ("f", {"a": 1}) and answer.message.warnings == []


def calls_chunk(*calls: tuple[int, str]) -> bytes:
    """One chunk opening calls, each `(index, id)`, named `f` with `{}` arguments."""
    return openai_chunk(
        {
            "tool_calls": [
                {"index": index, "id": id, "function": {"name": "f", "arguments": "{}"}}
                for index, id in calls
            ]
        }
    )


async def test_calls_out_of_order_or_all_numbered_0_are_kept_in_order(replay):
    """A new call is numbered past the last in constant time (each new call
    looked at all before it: 20,000 calls took 9 s)."""
    body = (
        calls_chunk((2, "c2"), (0, "c0"))
        + calls_chunk((0, "again"), (1, "c1"))  # index 0 taken: the next free one, 3
        + openai_chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )
    replay.reply(Canned(body))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is None
    calls = answer.message.tool_calls
    assert [(call.index, call.id) for call in calls] == [
        (0, "c0"), (1, "c1"), (2, "c2"), (3, "again"),
    ]  # fmt: skip
    assert all(call.arguments == {} for call in calls)


async def test_an_answer_of_more_than_256_tool_calls_is_stopped_with_them_kept(replay):
    """Each costs a few bytes of the answer's budget but an object, and a
    widget in the app: 3 million of them took the memory and 10 minutes."""
    body = b"".join(calls_chunk((n, f"c{n}")) for n in range(300)) + b"data: [DONE]\n\n"
    replay.reply(Canned(body))
    answer, _, error = await stream(endpoint("openai", replay.base_url))
    assert error is not None and error.kind == "limit"
    assert str(error).startswith("the server sent more than 256 tool calls in one answer")
    assert len(answer.message.tool_calls) == 256


# -- ask -------------------------------------------------------------------------------


def ask(replay, tmp_path, *args: str):
    return tokentide(
        "ask", "--no-log", "--provider", "openai", "--base-url", replay.base_url, "--model", "m",
        *args, "weather?", env=clean_env(tmp_path),
    )  # fmt: skip


def test_ask_json_says_the_arguments_are_not_json_and_drops_the_stray_fragment(replay, tmp_path):
    replay.reply(Canned(broken_and_stray()))
    result = ask(replay, tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    [call] = json.loads(result.stdout)["tool_calls"]
    assert call["name"] == "get_weather" and call["arguments"] is None
    assert call["arguments_raw"] == CUT
    assert call["arguments_error"].startswith("arguments are not valid JSON: ")
    assert result.stderr == f"tokentide: {DROPPED}\n"


def in_a_terminal(*args: str, env: dict[str, str]) -> str:
    """`tokentide ARGS` with stdout and stderr on a pseudo-terminal; all it showed."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CMD, *args], env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=30) == 0, output
    return output.decode().replace("\r\n", "\n")


def test_ask_on_a_terminal_shows_raw_arguments_with_a_note_and_never_none(replay, tmp_path):
    replay.reply(Canned(broken_and_stray()))
    shown = in_a_terminal(
        "ask", "--no-log", "--provider", "openai", "--base-url", replay.base_url, "--model", "m",
        "weather?", env=clean_env(tmp_path),
    )  # fmt: skip
    lines = shown.splitlines()
    assert f"tokentide: {DROPPED}" in lines
    [line] = [line for line in lines if line.startswith("tokentide: tool call:")]
    assert line.startswith(f"tokentide: tool call: get_weather({CUT}) — arguments are not valid")
    assert line.endswith("(raw text shown)")
    assert "None(" not in shown and "garbage" not in shown


def test_ask_plain_to_a_pipe_says_it_too(replay, tmp_path):
    replay.reply(Canned(broken_and_stray()))
    result = ask(replay, tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    notes = result.stderr.splitlines()
    assert notes[0] == f"tokentide: {DROPPED}"
    assert notes[1].startswith(f"tokentide: tool call: get_weather({CUT}) — arguments are not")
    assert len(notes) == 2 and "None(" not in result.stderr


def test_a_valid_call_has_no_note(replay, tmp_path):
    body = (
        openai_chunk({"tool_calls": [{"index": 0, "id": "c", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]})
        + openai_chunk({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )  # fmt: skip
    replay.reply(Canned(body))
    result = ask(replay, tmp_path)
    assert result.stderr == 'tokentide: tool call: get_weather({"city": "Paris"})\n'


# -- the app -----------------------------------------------------------------------------


async def test_the_app_marks_broken_arguments_and_drops_the_stray_fragment(replay):
    replay.reply(Canned(broken_and_stray()))
    app = make_app(replay.base_url, model="m", retries=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "weather?")
        await wait_idle(pilot)
        [view] = answers(app)
        [tool_view] = view.query(ToolCallView)
        assert tool_view.has_class("-invalid")
        drawn = "\n".join(screen_text(app, tool_view))
        assert "get_weather" in drawn and CUT in drawn and "not valid JSON" in drawn
        assert '{"city": "Par"}' not in drawn
        [warning] = view.query(".warning")
        assert DROPPED in "\n".join(screen_text(app, warning))
        assert "None" not in "\n".join(screen_text(app))
