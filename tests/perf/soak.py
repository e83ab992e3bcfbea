"""The soak: hundreds of answers in the real app, with faults and Esc, then an audit.

    .venv/bin/python -m tests.perf.soak [--answers 200] [--seed N] [--wire openai]
        [--model demo] [--json FILE]
    .venv/bin/python -m pytest -m slow -s tests/perf/test_soak.py

Why: each defence against a bad server (retries, cut-off streams, limits,
untrusted numbers, hostile text) has its own test, but a user meets them one
after another in one long-lived app, and what breaks then is what no single
test holds long enough to see: a history row left `streaming`, a write that
failed once and silently stopped the history, memory that grows a little
with every answer, focus that never comes back to the prompt box.

So the real app (`TokentideApp` under Textual's `App.run_test()`, driven as
`tests/pilot.py` drives it) answers `--answers` prompts in a row against the
in-process demo server, each with a fault drawn from the demo server's
catalogue or none (seeded: the seed is printed, `--seed` replays a run), and
some stopped with Esc part way: mid-answer, during a retry's wait, while a
stalled server holds the connection, after the finish reason while the
server holds the end back, or while a server floods. Every 10 answers a new
chat starts (Ctrl+N), as a user would, so that what is measured is what the
app keeps across conversations, not the answers it is showing.

The history goes to a real SQLite file in a temporary data directory
(XDG_DATA_HOME). At the end it must hold every answer with the outcome that
matches what happened (finished, stopped, interrupted i.e. cut off, or
failed), the text that arrived, and no history error must have been shown;
and the resident memory after the last answer may be at most 20 % above
what it was after answer `RSS_FROM`. The figures printed: answers by outcome
and by fault, RSS then and at the end, and the time taken.

Faults are asked for the two ways a user can: queued (as `--fault` does) and,
for faults that a retry must not meet again, also by the prompt (`/fault
NAME ...`). HTTP faults are queued one at a time, so the app's retry (it
retries 429/5xx before the first token) gets the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokentide.client.config import MB, Limits, resolve
from tokentide.client.demo import DemoServer, RequestRecord
from tokentide.client.demo.answers import (
    ANSWERS,
    BAD_TOOL_ARGS,
    ENDLESS_DELTA,
    HOSTILE,
    split_tokens,
)
from tokentide.client.demo.pacing import FAULT_AFTER

ANSWERS_DEFAULT = 200
RSS_FROM = 50
"""The answer after which the memory baseline is taken. Bounded caches (Rich's
and Textual's style and cell-width caches, a lexer per language, each fault's
code path) fill over the first answers: seed 7 measured 70 MiB at answer 25,
75 at 50, 82 at 125 and 82 from there to 200 — flat, where the leaks this
soak found (1.1 MB an answer) took it from 86 to 282 MiB."""
RSS_GROWTH = 0.20
NEW_CHAT_EVERY = 10
FAULT_SHARE = 0.45
"""The share of answers that meet a fault."""
ESC_SHARE = 0.2
"""The share of fault-free answers stopped with Esc part way."""
FAST, SLOW = 4000.0, 800.0
"""Tokens per second: most answers, and those Esc stops (so it lands mid-answer)."""
READ_TIMEOUT = 3.0
"""Seconds: a stalled server fails the answer after this. Above the 2 s the
client waits for the end marker after a finish reason: with a read timeout
below that, `finish_no_end` fails on the timeout instead of finishing."""
LIMITS = Limits(event_bytes=MB // 4, answer_bytes=MB // 8)
"""Small limits, so `huge_event` and `endless` end in a moment. Small too
because drawing an answer costs about 25 bytes of memory a byte of text, and
the allocator keeps much of it after the answer is gone (fragmentation, not
a leak): a 0.5 MB answer left RSS 11-27 MB higher for good, which would pass
for a leak in the memory check. What is measured here is what the app keeps
from answer to answer."""

#: HTTP faults the app sends again (once queued, the retry gets an answer).
RETRIED = ("http:429", "http:429-date", "http:500", "http:502", "http:503", "http:529")
#: HTTP faults that fail the answer at once.
REFUSED = ("http:400", "http:401", "http:404")
#: Each fault the soak draws from, and the outcome it must end in without Esc.
OUTCOMES: dict[str, str] = {
    **dict.fromkeys(RETRIED, "finished"),
    **dict.fromkeys(REFUSED, "failed"),
    "redirect": "failed",
    "redirect_host": "failed",
    "fake_gzip": "failed",
    "empty_200": "failed",
    "midstream_error": "failed",
    "error_message_only": "failed",
    "stall": "failed",
    "huge_event": "failed",
    "endless": "failed",
    "truncate": "interrupted",
    "done_no_finish": "interrupted",
    "finish_no_end": "finished",
    "no_usage": "finished",
    "bad_usage": "finished",
    "keepalive": "finished",
    "crlf": "finished",
    "hostile": "finished",
    "nameless_tool": "finished",
    "bad_tool_args": "finished",
}
#: Faults whose answer streams on normally: Esc may stop them mid-answer.
STREAMS_ON = ("no_usage", "bad_usage", "keepalive", "crlf")
#: When Esc is pressed for a fault that is not a plain answer (see `_esc_trigger`).
ESC_AT: dict[str, str] = {
    # A Retry-After of 1-2 s, not a backoff of 0.4 s: Esc must land in the wait.
    "http:429": "wait",
    "http:429-date": "wait",
    "stall": "held",
    "finish_no_end": "held",
    "endless": "flood",
}
ENDLESS_ESC_PACE = 2.0
"""Tokens per second of an `endless` answer that Esc stops: Esc is pressed
when its 5 ordinary tokens are out (2 s in), the 64 KiB deltas follow at 2.5 s
and 3 s, and the second reaches the answer limit: Esc has 1 s to land."""

_WORDS = " ".join(
    (
        "token stream answer model latency buffer socket parser render history terminal",
        "markdown fence table list quote prompt retry limit budget usage finish marker event",
        "delta chunk frame header status proxy gateway timeout memory cursor focus escape",
    )
).split()


@dataclass
class Config:
    answers: int = ANSWERS_DEFAULT
    seed: int | None = None
    """None: a random seed (printed, so the run can be replayed)."""
    wire: str = "openai"
    model: str = "demo"
    log: Callable[[str], None] = print


@dataclass
class Plan:
    """What one answer asks for, decided (seeded) before it is sent."""

    index: int
    prompt: str
    fault: str | None
    by_prompt: bool
    esc: str | None
    """None, or when Esc is pressed: "mid", "wait", "held", "flood"."""
    full_text: str
    """What the answer says in full (without Esc or a fault cutting it)."""


@dataclass
class Answer:
    """What one answer ended as, kept small: a run must not grow by its own records.

    Texts are checked as each answer ends and kept only as digests, for the
    comparison with the history at the end.
    """

    index: int
    fault: str | None
    esc: str | None
    expected: frozenset[str]
    outcome: str | None
    requests: int
    """Chat requests the server saw for it (2 when the app retried)."""
    error: str | None
    seconds: float
    prompt_digest: str
    text_digest: str
    calls_digest: str


@dataclass
class Report:
    seed: int
    wire: str
    answers: list[Answer]
    rss_start_kib: int
    rss_end_kib: int
    seconds: float
    stored: int
    """Answer rows found in the history."""
    notes: list[str]
    problems: list[str]

    @property
    def growth(self) -> float:
        return (self.rss_end_kib - self.rss_start_kib) / self.rss_start_kib

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(a.outcome or "none" for a in self.answers)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "wire": self.wire,
            "answers": len(self.answers),
            "outcomes": dict(self.outcomes),
            "faults": dict(Counter(a.fault or "none" for a in self.answers)),
            "esc": dict(Counter(a.esc for a in self.answers if a.esc)),
            "rss_start_kib": self.rss_start_kib,
            "rss_end_kib": self.rss_end_kib,
            "rss_growth": self.growth,
            "seconds": self.seconds,
            "problems": self.problems,
        }


# --------------------------------------------------------------------------- the plan


def _prose(rng: random.Random) -> str:
    """An answer to echo: a few lines of Markdown, different every time."""
    lines = []
    for _ in range(rng.randint(1, 4)):
        words = rng.choices(_WORDS, k=rng.randint(8, 30))
        kind = rng.random()
        if kind < 0.2:
            lines.append("- " + " ".join(words[:6]) + "\n- " + " ".join(words[6:]))
        elif kind < 0.3:
            lines.append("```python\nprint(" + repr(" ".join(words[:4])) + ")\n```")
        else:
            lines.append(" ".join(words).capitalize() + ".")
    return "\n\n".join(lines)


def plan_answer(index: int, rng: random.Random) -> Plan:
    """What answer `index` asks for: a fault or none, the prompt, and any Esc."""
    fault: str | None = None
    if rng.random() < FAULT_SHARE:
        fault = rng.choice(sorted(OUTCOMES))
    esc: str | None = None
    if fault in ESC_AT and rng.random() < 0.3:
        esc = ESC_AT[fault]
    elif (fault is None or fault in STREAMS_ON) and rng.random() < ESC_SHARE:
        esc = "mid"
    if esc == "mid":  # a long canned answer, so there is a middle to stop in
        topic = rng.choice(sorted(ANSWERS))
        prompt, full = f"/echo {ANSWERS[topic]}", ANSWERS[topic]
    else:
        full = _prose(rng)
        prompt = f"/echo {full}"
    if fault == "hostile":
        full = HOSTILE
    # Faults a retry would meet again are never asked for by the prompt.
    by_prompt = fault is not None and not fault.startswith("http:") and rng.random() < 0.5
    if by_prompt:
        prompt = f"/fault {fault} {prompt}"
    return Plan(index, prompt, fault, by_prompt, esc, full)


def expected_outcomes(plan: Plan, completed: bool, wire: str) -> frozenset[str]:
    """The outcomes that match what happened: the plan, the wire, and whether
    the server sent the (last) request's answer to its end.

    On Responses the finish reason *is* the terminal event, so under
    `finish_no_end` none comes: the answer stalls after its last item, as
    under `stall`.
    """
    no_finish = plan.fault == "finish_no_end" and wire == "responses"
    if plan.esc is None:
        if no_finish:
            return frozenset({"failed"})
        return frozenset({OUTCOMES[plan.fault] if plan.fault else "finished"})
    if plan.esc == "mid":
        # Esc lands after the server sent a few tokens; if the server had
        # already sent its last byte, the answer may have finished first.
        return frozenset({"finished", "stopped"} if completed else {"stopped"})
    if plan.fault == "finish_no_end" and not no_finish:
        return frozenset({"finished"})  # the finish reason came: Esc stops nothing
    return frozenset({"stopped"})


#: Faults that strike after 5 tokens and keep them (a cut, an error, a stall, a huge event).
_AFTER_FIVE = ("truncate", "done_no_finish", "midstream_error", "error_message_only")
_AFTER_FIVE += ("stall", "huge_event")


def _first_tokens(text: str, seed: int) -> str:
    return "".join(split_tokens(text, seed)[:FAULT_AFTER])


def text_problems(
    plan: Plan, outcome: str, got: str, error: str | None, calls: list[dict[str, Any]], seed: int
) -> list[str]:
    """What is wrong with the text (and tool calls) the app kept for an answer."""
    full, fault, out = plan.full_text, plan.fault, outcome
    problems: list[str] = []

    def want(ok: bool, what: str) -> None:
        if not ok:
            problems.append(f"{what}: got {got[:80]!r}")

    if fault == "endless":  # 5 tokens, then 64 KiB deltas: stopped or cut by the limit
        sent = _first_tokens(full, seed) + ENDLESS_DELTA * (len(got) // len(ENDLESS_DELTA) + 1)
        want(sent.startswith(got), "an endless answer keeps what arrived")
        want(len(got.encode()) <= LIMITS.answer_bytes, "an endless answer stops at the limit")
    elif out == "stopped":
        # Held after the last token (`finish_no_end` on Responses): all of it came.
        whole = plan.esc == "held" and fault == "finish_no_end"
        want(
            full.startswith(got) and (whole or len(got) < len(full)),
            "a stopped answer keeps a prefix",
        )
    elif fault == "finish_no_end":  # finished, or failed waiting for an end (Responses)
        want(got == full, "the whole answer came before the server went quiet")
    elif fault in _AFTER_FIVE:
        want(got == _first_tokens(full, seed), "the 5 tokens before the fault are kept")
    elif out == "failed":
        want(got == "", "a refused answer has no text")
    elif fault == "bad_tool_args":
        raw = [c.get("arguments_raw") for c in calls]
        if raw != [BAD_TOOL_ARGS] or not calls[0].get("arguments_error"):
            problems.append(f"bad tool arguments are kept raw with their error: {calls}")
    else:
        want(got == full, "a finished answer is whole")
    if out == "failed" and not error:
        problems.append("a failed answer says why")
    if fault == "nameless_tool" and any(not c.get("name") for c in calls):
        problems.append(f"a nameless tool-call fragment is kept as a call: {calls}")
    return problems


def digest(value: Any) -> str:
    """A short fingerprint of a text (or of JSON-able data) for the final comparison."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


# --------------------------------------------------------------------------- the run


def rss_kib() -> int:
    """This process's resident set (the app, the server thread and the harness)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextlib.contextmanager
def data_dir() -> Iterator[Path]:
    """A temporary XDG data (and config) directory for the run's history file."""
    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    history = os.environ.pop("TOKENTIDE_HISTORY", None)
    with tempfile.TemporaryDirectory(prefix="tokentide-soak-") as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp, "data"))
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp, "config"))
        try:
            yield Path(tmp)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if history is not None:
                os.environ["TOKENTIDE_HISTORY"] = history


def _base_url(server: DemoServer, wire: str) -> str:
    """The base URL each wire's provider is configured with for the demo server."""
    if wire in ("openai", "responses"):
        return server.base_url
    return server.base_url.removesuffix("/v1")


async def _esc_trigger(
    plan: Plan, server: DemoServer, first_id: int, rng: random.Random, pilot: Any
) -> None:
    """Wait for the moment of this answer's Esc, as the server's records say.

    After `finish_no_end`'s finish reason the app must have *read* it before
    Esc (else the stop is a real one): the server's record says it was sent,
    the app's turn says when it arrived (each pilot pause lets the app's loop
    read on; no timer decides).
    """

    def mine(r: RequestRecord) -> bool:
        return r.id >= first_id and r.path.split("?")[0].endswith(_CHAT_PATHS)

    if plan.esc == "mid":
        tokens = rng.randint(1, 40)
        await server.await_for(lambda r: mine(r) and (r.tokens_sent >= tokens or r.ended_at))
    elif plan.esc == "wait":  # the refusal is out: the app is waiting to retry
        await server.await_for(lambda r: mine(r) and r.status is not None)
    elif plan.esc == "held":
        await server.await_for(lambda r: mine(r) and r.held)
        if plan.fault == "finish_no_end" and pilot.app.settings.endpoint.wire != "responses":
            turn = pilot.app.screen.turns[-1]
            deadline = time.monotonic() + 5
            while turn.message.finish_reason is None and time.monotonic() < deadline:
                await pilot.pause()
    elif plan.esc == "flood":
        await server.await_for(lambda r: mine(r) and r.tokens_sent >= FAULT_AFTER, 10)


_CHAT_PATHS = ("/chat/completions", "/messages", "/responses", "/api/chat", "GenerateContent")


async def soak(config: Config) -> Report:
    """Run the soak and audit it; every problem found is in `Report.problems`."""
    from tests.pilot import wait_idle
    from tokentide.tui.app import TokentideApp
    from tokentide.tui.recorder import WRITER
    from tokentide.tui.store import Store
    from tokentide.tui.widgets.composer import Composer

    seed = config.seed if config.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    log = config.log
    log(f"soak: {config.answers} answers, seed {seed}, wire {config.wire}, model {config.model}")
    problems: list[str] = []
    notes: list[str] = []
    answers: list[Answer] = []
    rss_start = rss_end = 0
    started = time.perf_counter()
    with data_dir(), DemoServer(tokens_per_second=FAST, ttft=0.0, seed=seed) as server:
        settings = resolve(
            base_url=_base_url(server, config.wire),
            model=config.model,
            provider=None if config.wire == "openai" else config.wire,
            env={},
        )
        timeouts = dataclasses.replace(settings.timeouts, read=READ_TIMEOUT)
        settings = dataclasses.replace(settings, limits=LIMITS, timeouts=timeouts, retries=2)
        app = TokentideApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            shown = app.notify

            def notify(message: Any, *args: Any, **kwargs: Any) -> None:
                notes.append(f"{kwargs.get('severity', 'information')}: {message}")
                shown(message, *args, **kwargs)

            app.notify = notify  # type: ignore[method-assign]
            screen = app.screen
            first_id = 1  # the id the server gives the next request
            for index in range(config.answers):
                plan = plan_answer(index, rng)
                server.tokens_per_second = {"mid": SLOW, "flood": ENDLESS_ESC_PACE}.get(
                    plan.esc or "", FAST
                )
                if plan.fault is not None and not plan.by_prompt:
                    server.inject(plan.fault)
                turns = len(screen.turns)
                began = time.perf_counter()
                screen.query_one(Composer).load_text(plan.prompt)
                # Enter is pressed in a task of its own: the pilot's press returns
                # only once the screen is idle, i.e. after the whole answer.
                enter = asyncio.create_task(pilot.press("enter"))
                if plan.esc is not None:
                    try:
                        await _esc_trigger(plan, server, first_id, rng, pilot)
                    except TimeoutError:
                        problems.append(f"answer {index}: never reached its Esc ({plan.esc})")
                    await pilot.press("escape")
                await enter
                await wait_idle(pilot)
                seconds = time.perf_counter() - began
                mine = [r for r in server.requests if r.id >= first_id]
                completed = bool(mine) and mine[-1].completed
                first_id = max([first_id - 1, *(r.id for r in mine)]) + 1
                server.forget()  # its records would hold every request body of the run
                where = f"answer {index} ({plan.fault or 'no fault'}, esc {plan.esc})"
                if len(screen.turns) != turns + 1 or screen.turns[-1].outcome is None:
                    problems.append(f"{where}: no turn ended")
                    continue
                turn = screen.turns[-1]
                outcome = turn.outcome.value
                message = turn.message
                calls = [call.to_dict() for call in message.tool_calls]
                expected = expected_outcomes(plan, completed, config.wire)
                if outcome not in expected:
                    problems.append(
                        f"{where}: {outcome}, expected {'/'.join(sorted(expected))}"
                        f" — {message.error or ''}"[:300]
                    )
                problems += [
                    f"{where}: {problem}"
                    for problem in text_problems(
                        plan, outcome, message.text, message.error, calls, seed
                    )
                ]
                if not isinstance(app.focused, Composer):
                    problems.append(f"{where}: focus is on {app.focused!r}, not the prompt box")
                answers.append(
                    Answer(
                        index,
                        plan.fault,
                        plan.esc,
                        expected,
                        outcome,
                        len(mine),
                        (message.error or "")[:200] or None,
                        seconds,
                        digest(plan.prompt),
                        digest(message.text),
                        digest(calls),
                    )
                )
                del plan, turn, message, calls, mine
                if (index + 1) % NEW_CHAT_EVERY == 0:
                    await pilot.press("ctrl+n")
                    await pilot.pause()
                if index + 1 == RSS_FROM:
                    gc.collect()
                    rss_start = rss_kib()
                if (index + 1) % 25 == 0:
                    log(
                        f"  {index + 1} answers, {time.perf_counter() - started:.0f} s, "
                        f"RSS {rss_kib() // 1024} MiB"
                    )
            gc.collect()
            rss_end = rss_kib()
        await asyncio.wrap_future(WRITER.submit(lambda: None))  # every write is done
        with Store.open() as store:
            stored = _stored_answers(store)
    seconds = time.perf_counter() - started
    problems += audit(answers, stored, notes)
    report = Report(
        seed, config.wire, answers, rss_start, rss_end, seconds, len(stored), notes, problems
    )
    if report.rss_start_kib and report.growth > RSS_GROWTH:
        problems.append(
            f"RSS grew {report.growth:.0%} from answer {RSS_FROM} to {len(answers)} "
            f"({rss_start // 1024} → {rss_end // 1024} MiB), more than {RSS_GROWTH:.0%}"
        )
    return report


def _stored_answers(store: Any) -> list[dict[str, Any]]:
    """Every assistant row of the history, oldest first, with its prompt."""
    rows = []
    for conversation in store.conversations(limit=100_000):
        prompt = None
        for row in store.messages(conversation.id):
            if row.role == "user":
                prompt = row.text
            else:
                rows.append({**dataclasses.asdict(row), "prompt": prompt})
    return sorted(rows, key=lambda row: row["id"])


def audit(answers: list[Answer], stored: list[dict[str, Any]], notes: list[str]) -> list[str]:
    """Problems with what the history kept: one row per answer, under its
    prompt, with the outcome, text and tool calls the app had; and no history
    error (or internal error) said."""
    problems = []
    if len(stored) != len(answers):
        problems.append(f"{len(answers)} answers but {len(stored)} answer rows in the history")
    for answer, row in zip(answers, stored, strict=False):
        where = f"answer {answer.index} ({answer.fault or 'no fault'}, esc {answer.esc})"
        if digest(row["prompt"] or "") != answer.prompt_digest:
            problems.append(f"{where}: stored under {str(row['prompt'])[:40]!r}")
            continue
        if row["outcome"] != answer.outcome:
            problems.append(f"{where}: stored {row['outcome']}, the app said {answer.outcome}")
        if digest(row["text"]) != answer.text_digest:
            problems.append(f"{where}: the stored text is not the text the app showed")
        if digest(row["tool_calls"]) != answer.calls_digest:
            problems.append(f"{where}: the stored tool calls are not the app's")
        if row["outcome"] == "failed" and not row["error"]:
            problems.append(f"{where}: a failed answer is stored without its error")
    problems += [f"said: {note}" for note in notes if "history" in note.lower()]
    problems += [f"said: {note}" for note in notes if "internal error" in note.lower()]
    return problems


# --------------------------------------------------------------------------- output


def format_report(report: Report) -> str:
    """The figures: answers by outcome and fault, Esc presses, RSS, time, problems."""
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
    faults = Counter(a.fault or "none" for a in report.answers)
    esc = Counter(a.esc for a in report.answers if a.esc)
    mib = 1024
    lines = [
        f"soak: {len(report.answers)} answers on {report.wire}, seed {report.seed}, "
        f"{report.seconds:.0f} s ({report.seconds / max(1, len(report.answers)):.2f} s each)",
        f"  outcomes: {outcomes}",
        f"  faults: {', '.join(f'{k} {v}' for k, v in sorted(faults.items()))}",
        f"  Esc: {', '.join(f'{k} {v}' for k, v in sorted(esc.items())) or 'none'}",
        f"  history: {report.stored} answer rows",
        f"  RSS: {report.rss_start_kib / mib:.1f} MiB after answer {RSS_FROM}, "
        f"{report.rss_end_kib / mib:.1f} MiB after {len(report.answers)} "
        f"({report.growth:+.1%}; at most {RSS_GROWTH:+.0%})",
    ]
    if report.problems:
        lines.append(f"  PROBLEMS ({len(report.problems)}):")
        lines += [f"    {p}" for p in report.problems]
    else:
        lines.append("  no problems")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.soak", description=__doc__)
    parser.add_argument("--answers", type=int, default=ANSWERS_DEFAULT)
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    parser.add_argument(
        "--wire", default="openai", choices=["openai", "anthropic", "responses", "ollama", "gemini"]
    )
    parser.add_argument("--model", default="demo", choices=["demo", "demo-think", "demo-tools"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.answers <= RSS_FROM:
        parser.error(f"--answers must be more than {RSS_FROM} (the memory baseline)")
    config = Config(answers=args.answers, seed=args.seed, wire=args.wire, model=args.model)
    report = asyncio.run(soak(config))
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
