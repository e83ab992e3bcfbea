"""`tokentide ask` over every wire format, as a user runs it: the real
command in a subprocess, the demo server (or a replayed stream) on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import clean_env, tokentide
from tests.replay import Canned
from tokentide.client.demo import DemoServer

WIRES = ["openai", "anthropic", "responses", "ollama", "gemini"]
WEATHER = {
    "type": "object",
    "description": "Current weather for a city",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}


@pytest.fixture(scope="module")
def demo():
    with DemoServer(tokens_per_second=4000, ttft=0.0) as server:
        yield server


def base_url(server: DemoServer, wire: str) -> str:
    return server.base_url if wire in ("openai", "responses") else server.base_url[: -len("/v1")]


def ask_json(tmp_path: Path, server: DemoServer, wire: str, *args: str) -> dict:
    result = tokentide(
        "ask", "--no-log", "--json", "--provider", wire, "--base-url", base_url(server, wire),
        *args, env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_wire_gives_the_same_json_for_the_same_answer(tmp_path, demo):
    answers = {w: ask_json(tmp_path, demo, w, "--model", "demo-think", "hello") for w in WIRES}
    shapes = {w: sorted(a) for w, a in answers.items()}
    assert len({tuple(s) for s in shapes.values()}) == 1, shapes
    first = answers["openai"]
    for wire, answer in answers.items():
        assert answer["text"] == first["text"] and answer["text"], wire
        assert answer["reasoning"] == first["reasoning"] and answer["reasoning"], wire
        assert answer["finish_reason"] == "stop", wire
        assert answer["usage"]["output_tokens"] == first["usage"]["output_tokens"], wire
        assert answer["usage"]["estimated"] is False, wire
        assert answer["metrics"]["ttft_ms"] is not None, wire
    natives = {w: a["native_finish_reason"] for w, a in answers.items()}
    assert natives == {
        "openai": "stop",
        "anthropic": "end_turn",
        "responses": "completed",
        "ollama": "stop",
        "gemini": "STOP",
    }


def test_every_wire_returns_the_tool_call_with_parsed_arguments(tmp_path, demo):
    schema = tmp_path / "weather.json"
    schema.write_text(json.dumps(WEATHER))
    for wire in WIRES:
        answer = ask_json(
            tmp_path, demo, wire, "--model", "demo-tools", "--tool", f"get_weather={schema}",
            "weather in Paris?",
        )  # fmt: skip
        [call] = answer["tool_calls"]
        assert call["name"] == "get_weather", wire
        assert call["arguments"] == json.loads(call["arguments_raw"]), wire
        assert call["arguments"]["city"] == "Paris" and call["arguments_error"] is None, wire
        assert answer["finish_reason"] == "tool_calls", wire
    sent = [r.body for r in demo.requests[-len(WIRES) :]]
    assert all("get_weather" in json.dumps(body) for body in sent)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tool", "get_weather"], "--tool 'get_weather' is not NAME=SCHEMA_FILE"),
        (["--tool", "bad name=x.json"], "--tool name 'bad name' must be 1-64 letters"),
        (["--tool", "f=missing.json"], "--tool f: missing.json does not exist"),
        (["--json-schema", "missing.json"], "--json-schema: missing.json does not exist"),
        (["--thinking=lots"], "--thinking 'lots' is not a budget in tokens"),
    ],
)
def test_bad_request_options_are_one_line_errors(tmp_path, args, message):
    result = tokentide("ask", "--demo", "--no-log", *args, "hi", env=clean_env(tmp_path))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "holds a JSON array, not a schema object"),
        ("{oops", "is not JSON (Expecting property name enclosed in double quotes, line 1"),
    ],
)
def test_a_schema_file_that_is_not_a_schema_says_so(tmp_path, content, message):
    schema = tmp_path / "s.json"
    schema.write_text(content)
    result = tokentide(
        "ask", "--demo", "--no-log", "--json-schema", str(schema), "hi", env=clean_env(tmp_path)
    )
    assert result.returncode == 2 and message in result.stderr


def test_thinking_reaches_every_wire_as_its_own_field(tmp_path, demo):
    fields = {
        "openai": lambda b: b["reasoning_effort"] == "high",
        "anthropic": lambda b: b["thinking"] == {"type": "enabled", "budget_tokens": 9000},
        "responses": lambda b: b["reasoning"]["effort"] == "high",
        "ollama": lambda b: b["think"] is True,
        "gemini": lambda b: (
            b["generationConfig"]["thinkingConfig"]
            == {"includeThoughts": True, "thinkingBudget": 9000}
        ),
    }
    for wire, check in fields.items():
        ask_json(tmp_path, demo, wire, "--model", "demo", "--thinking", "9000", "hi")
        assert check(demo.requests[-1].body), wire
    # A bare --thinking before the prompt: the default budget.
    ask_json(tmp_path, demo, "anthropic", "--model", "demo", "--thinking", "hi")
    assert demo.requests[-1].body["thinking"]["budget_tokens"] == 4096


def _structured(replay, tmp_path, text: str, *args: str):
    chunks = [text[i : i + 5] for i in range(0, len(text), 5)]
    body = "".join(
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": c}}]}) + "\n\n"
        for c in chunks
    )
    body += 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    replay.reply(Canned(body.encode()))
    schema = tmp_path / "answer.json"
    schema.write_text(json.dumps({"type": "object"}))
    return tokentide(
        "ask", "--no-log", "--provider", "openai", "--base-url", replay.base_url, "--model", "m",
        "--json-schema", str(schema), *args, "q", env=clean_env(tmp_path),
    )  # fmt: skip


def test_structured_output_to_a_pipe_is_the_final_json_exactly(replay, tmp_path):
    text = '{"name": "Ada", "langs": ["en", "fr"], "note": "a \\"quote\\""}'
    result = _structured(replay, tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "\n"
    assert replay.seen[-1].body["response_format"]["json_schema"]["name"] == "answer"


def test_structured_output_that_does_not_parse_is_reported_never_passed_as_parsed(replay, tmp_path):
    text = '{"name": "Ada", "langs": ["en"'
    result = _structured(replay, tmp_path, text)
    assert result.returncode == 1
    assert result.stdout == text  # the raw text, kept
    assert "the answer is not the JSON the schema asked for" in result.stderr


def test_structured_output_in_json_mode(replay, tmp_path):
    result = _structured(replay, tmp_path, '{"n": 1}', "--json")
    data = json.loads(result.stdout)
    assert (
        data["output"] == {"n": 1} and data["output_error"] is None and data["text"] == '{"n": 1}'
    )


def test_every_wire_streams_structured_output(tmp_path, demo):
    """`response_format`, `text.format`, a forced tool, `responseJsonSchema`
    and `format`: the same schema asked five ways, one answer's shape."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "langs": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    path = tmp_path / "person.json"
    path.write_text(json.dumps(schema))
    for wire in WIRES:
        result = tokentide(
            "ask", "--no-log", "--provider", wire, "--base-url", base_url(demo, wire),
            "--model", "demo", "--json-schema", str(path), "Ada in Paris", env=clean_env(tmp_path),
        )  # fmt: skip
        assert result.returncode == 0, (wire, result.stderr)
        value = json.loads(result.stdout)
        assert sorted(value) == ["address", "langs", "name"], wire
        assert value["address"] == {"city": "Paris"} and len(value["langs"]) == 2, wire
