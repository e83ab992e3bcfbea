"""The history as a user meets it from the shell: `ask` records, `history` and
`stats` read, through real subprocesses, a real SQLite file and the demo server."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.cli import CMD, clean_env, tokentide
from tokentide.client.demo import DemoServer


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return clean_env(tmp_path, TOKENTIDE_HISTORY=str(tmp_path / "history.db"))


@pytest.fixture
def demo():
    with DemoServer(tokens_per_second=2000, ttft=0.01) as server:
        yield server


def ask(demo: DemoServer, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return tokentide("ask", "--base-url", demo.base_url, "-m", "demo", *args, env=env)


def history(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return tokentide("history", *args, env=env)


def conversations(env: dict[str, str]) -> list[dict]:
    result = history(env, "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def answer_of(env: dict[str, str], conversation: int) -> dict:
    shown = json.loads(history(env, "show", str(conversation), "--json").stdout)
    (answer,) = [m for m in shown["messages"] if m["role"] == "assistant"]
    return answer


def test_ask_records_and_history_reads_it_back(demo, env, tmp_path):
    text = "# A title\n\nSome **bold** text, a `code` span.\n\n```python\nx = 1\n```\n"
    demo.script(text)
    assert ask(demo, env, "first question").returncode == 0
    (row,) = conversations(env)
    assert row["title"] == "first question" and row["model"] == "demo"
    answer = answer_of(env, row["id"])
    assert answer["text"] == text and answer["outcome"] == "finished"
    assert answer["tokens_counted_by_server"] is True and answer["ttft_ms"] > 0
    assert answer["host"].startswith("127.0.0.1:") and answer["provider"] == "openai"

    out = tmp_path / "t.md"
    result = history(env, "export", str(row["id"]), "--format", "markdown", "-o", str(out))
    assert result.returncode == 0, result.stderr
    exported = out.read_text()
    assert "first question" in exported and text.strip() in exported

    assert ask(demo, env, "--no-log", "not recorded").returncode == 0
    assert len(conversations(env)) == 1


def test_a_stopped_answer_keeps_its_saved_tokens_and_is_searchable(env, tmp_path):
    with DemoServer(tokens_per_second=100, ttft=0.05) as server:
        proc = subprocess.Popen(
            [
                *CMD,
                "ask",
                "--base-url",
                server.base_url,
                "-m",
                "demo",
                "--max-tokens",
                "3000",
                "tell me about rust",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.wait_for(lambda r: r.tokens_sent >= 60, timeout=15)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    (row,) = conversations(env)
    answer = answer_of(env, row["id"])
    assert answer["outcome"] == "stopped" and answer["text"] == out
    assert answer["tokens_saved"] == 3000 - answer["tokens_received"]
    assert "max_tokens" in answer["saved_method"]

    stats = json.loads(tokentide("stats", "--json", env=env).stdout)
    assert stats["totals"]["tokens_saved"] == answer["tokens_saved"]
    assert stats["models"][0]["stopped"] == 1

    word = out.split()[3].strip("*`#.,:;!?")
    found = json.loads(history(env, "search", word, "--json").stdout)
    assert any(hit["message_id"] == answer["id"] for hit in found), (word, found)


def test_kill_9_mid_answer_keeps_all_but_the_last_quarter_second(env):
    rate = 100
    with DemoServer(tokens_per_second=rate, ttft=0.05) as server:
        proc = subprocess.Popen(
            [*CMD, "ask", "--base-url", server.base_url, "-m", "demo", "tell me about rust"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        record = server.wait_for(lambda r: r.tokens_sent >= 150, timeout=15)
        proc.kill()
        proc.wait(timeout=5)
        sent = server.wait_for(lambda r: r.disconnected_at is not None, timeout=5).tokens_sent
    assert record.tokens_sent <= sent
    (row,) = conversations(env)  # opening the history notices the dead writer
    answer = answer_of(env, row["id"])
    assert answer["outcome"] == "interrupted"
    assert answer["tokens_received"] >= sent - rate * 0.25 - 5, (answer["tokens_received"], sent)
    assert len(answer["text"]) > 200


def test_a_corrupt_history_never_stops_an_answer_nor_is_overwritten(demo, env, tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"not a database" * 100)
    demo.script("still answers")
    result = ask(demo, env, "q")
    assert result.returncode == 0 and result.stdout == "still answers"
    (line,) = result.stderr.splitlines()
    assert line.startswith("tokentide: history not saved:") and str(path) in line
    assert path.read_bytes() == b"not a database" * 100
    listed = history(env, "list")
    assert listed.returncode == 1 and len(listed.stderr.splitlines()) == 1


def test_delete_needs_a_yes_without_a_terminal(demo, env):
    demo.script("x")
    ask(demo, env, "q")
    (row,) = conversations(env)
    refused = history(env, "delete", str(row["id"]))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert history(env, "delete", str(row["id"]), "--yes").returncode == 0
    assert conversations(env) == []
    missing = history(env, "show", "999")
    assert missing.returncode == 2 and "no conversation 999" in missing.stderr


def test_stats_per_model_from_recorded_answers(demo, env):
    for _ in range(3):
        demo.script("one two three")
        ask(demo, env, "q")
    stats = json.loads(tokentide("stats", "--json", "--model", "demo", env=env).stdout)
    (model,) = stats["models"]
    assert model["answers"] == 3 and model["finished"] == 3
    assert model["tokens_received"] == 3 * 3
    assert model["cost_usd"] is None  # a local server: no invented price
    assert model["ttft_ms_p50"] > 0 and model["ttft_ms_p90"] >= model["ttft_ms_p50"]


def test_answers_keep_their_itl_and_stats_chart_the_distributions_on_a_terminal(demo, env):
    """ITL and the longest stall are stored with each answer `ask` records;
    `stats` adds ITL p50 to its lines, its --json has the buckets, and on a
    terminal (a pty) the TTFT and tokens/s charts follow the lines; a pipe
    gets the lines only."""
    import re

    from tests.test_cli import in_a_terminal

    for _ in range(3):
        demo.script("word " * 200)  # 200 tokens: long enough for a rate at 2,000 tok/s
        assert ask(demo, env, "q").returncode == 0
    answer = answer_of(env, conversations(env)[0]["id"])
    assert 0 < answer["itl_p50_ms"] <= answer["itl_p99_ms"] <= answer["longest_stall_ms"]
    assert sum(answer["arrivals"]["counts"]) == answer["tokens_received"]

    (model,) = json.loads(tokentide("stats", "--json", env=env).stdout)["models"]
    assert model["itl_ms_p50"] > 0 and model["longest_stall_ms_p90"] > 0
    assert sum(b["count"] for b in model["ttft_ms_histogram"]) == 3
    assert sum(b["count"] for b in model["tokens_per_s_histogram"]) == 3

    piped = tokentide("stats", env=env)
    assert piped.returncode == 0, piped.stderr
    (line,) = piped.stdout.splitlines()
    assert line.startswith("demo: 3 answers") and " · ITL p50 " in line
    assert "longest stall p90" in line and "█" not in piped.stdout

    drawn = in_a_terminal("stats", env=env, columns=100).decode()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", drawn).replace("\r\n", "\n")
    assert plain.splitlines()[0] == line
    assert "demo · TTFT" in plain and "demo · tokens/s" in plain
    assert re.search(r"ms [█▏▎▍▌▋▊▉]+ +\d", plain), plain
    assert re.search(r"tok/s [█▏▎▍▌▋▊▉]+ +\d", plain), plain
