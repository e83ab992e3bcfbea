"""Benchmark: what streaming a long Markdown answer costs the real app, seen from outside.

    .venv/bin/python tests/perf/bench_render.py [--quick] [--rates 200,1000,5000]
        [--docs md4k,md16k,fence50k] [--runs 3] [--baseline-runs 1] [--json FILE]
        [--app PATH/TO/tokentide]

Why from the outside: the answer renderer is being replaced, and a benchmark
that hooked into today's widgets would measure nothing after the change. So
the installed `tokentide` runs in a pseudo-terminal (120x40, xterm-256color,
an empty HOME, no API keys) against the in-process demo server, and every
figure comes from what any user could observe: the app's CPU time and peak
RSS from /proc, the bytes it writes to the terminal and when, and the
server's own record of when it wrote the last token.

Per (answer, rate), medians of `--runs` runs:

- CPU s: user+sys of the app process from Enter until the last token is on screen;
- CPU %: that over the same wall time (100 % = one core busy);
- CPU/1k: CPU seconds per 1,000 tokens (flat if the renderer is length-independent);
- lag: the answer's last word on screen minus the server writing the last token;
- longest gap: the longest time without a single write to the terminal while
  tokens were arriving (the longest screen freeze);
- peak RSS: VmHWM of the app process;
- key echo: a paste typed halfway through the stream, until it shows in the prompt
  box (the app is "responsive" when that takes at most `RESPONSIVE_MS`).

In the same run the same figures are measured for a baseline, a small Textual
app whose answer pane is Textual's stock `Markdown` fed by `Markdown.get_stream`
from the same server (one run per cell by default: it does not change while
tokentide does, and it falls so far behind on long answers that three runs
would take the whole 5-minute budget), and the cold start of `tokentide` is
compared with a bare Textual app (Header, Input, Footer). Timings are not
asserted anywhere: the targets of the renderer issue are checked by reading
what this prints.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import pty
import random
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokentide.client.demo import DemoServer, RequestRecord
from tokentide.client.demo.answers import split_tokens

WIDTH, HEIGHT = 120, 40
TTFT = 0.05
"""Seconds the demo server waits before the first token (short: we measure rendering)."""

PLACEHOLDER = b"Ask anything"
"""Shown by both apps' prompt boxes: the first frame that has it is "ready for input"."""

MARKER = "QZXJV"
"""The answer's last paragraph. Five letters, so the demo server sends it as a single
delta (see `split_tokens`): it is on screen exactly when the last token is."""

PROBE = "zqprobezq"
"""Pasted into the prompt box mid-stream; its echo on screen measures responsiveness."""

PROMPT = "benchmark please"
RESPONSIVE_MS = 200.0
"""A paste echoed later than this feels stuck (the stop key waits as long)."""

SATURATED_PCT = 90.0
"""CPU % from which an app is taken as unable to keep up (its CPU then tracks wall time)."""

DEFAULT_RATES = (200, 1000, 5000)
DEFAULT_MAX_STREAM = 5.0
"""Seconds: longer answers whose stream at a rate would take longer are left out
(the 16k answer at 200 tok/s streams for 80 s); see `plan_cells`."""

DEFAULT_TIMEOUT = 15.0
"""Seconds after its last token was due that a run is given up: 150 times the lag
target, and the stock Markdown baseline falls minutes behind on the long answers."""

STARTUP_TIMEOUT = 30.0
QUIET_FOR = 0.2
"""Seconds without output after the first frame before Enter: the app has settled."""

CLK_TCK = os.sysconf("SC_CLK_TCK")


# =========================================================================== workloads


@dataclass(frozen=True)
class Doc:
    """One scripted answer, sized in the demo server's deltas."""

    name: str
    text: str
    tokens: int
    what: str


# fmt: off
WORDS = (
    "stream", "token", "render", "frame", "buffer", "parser", "widget", "layout", "screen",
    "terminal", "cursor", "delta", "answer", "server", "socket", "latency", "budget", "window",
    "paragraph", "heading", "table", "fence", "highlight", "markdown", "block", "inline", "queue",
    "clock", "event", "loop", "thread", "worker", "cache", "memory", "history", "model", "prompt",
    "reply", "chunk", "byte", "offset", "column", "width", "height", "scroll", "anchor", "border",
    "padding", "style", "theme", "color", "glyph", "unicode", "newline", "document", "section",
    "summary", "detail", "example", "benchmark", "target", "median", "runtime", "profile",
    "sample", "trace", "metric", "counter", "gauge", "quiet", "steady", "fast", "slow"
)
NAMES = (
    "alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega", "orbit", "vector", "matrix",
    "ledger", "signal"
)
# fmt: on


def sentence(rng: random.Random, low: int = 7, high: int = 16) -> str:
    """A sentence of dictionary words with the odd inline code, bold or link."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    for _ in range(rng.randint(0, 2)):
        i = rng.randrange(len(words))
        style = rng.choice(("`{}()`", "**{}**", "*{}*", "[{}](https://example.com/{})"))
        words[i] = style.format(words[i], words[i])
    return " ".join(words).capitalize() + rng.choice(".....;:!?")[0]


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def nested_list(rng: random.Random) -> str:
    """Bullets three levels deep, then a numbered list: the shapes that re-flow."""
    lines: list[str] = []
    for _ in range(rng.randint(3, 5)):
        lines.append(f"- {sentence(rng, 4, 10)}")
        for _ in range(rng.randint(0, 3)):
            lines.append(f"  - {sentence(rng, 3, 8)}")
            if rng.random() < 0.4:
                lines.append(f"    - {sentence(rng, 3, 6)}")
    lines.append("")
    lines += [f"{n}. {sentence(rng, 4, 9)}" for n in range(1, rng.randint(3, 5))]
    return "\n".join(lines)


def table(rng: random.Random) -> str:
    rows = ["| Name | Tokens | TTFT ms | Notes |", "|:-----|-------:|--------:|:------|"]
    for _ in range(rng.randint(5, 8)):
        notes = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        rows.append(
            f"| {rng.choice(NAMES)}-{rng.randint(1, 99)} | {rng.randint(100, 99999)} "
            f"| {rng.randint(20, 900)} | {notes} |"
        )
    return "\n".join(rows)


def python_code(rng: random.Random, functions: int) -> str:
    out: list[str] = []
    for _ in range(functions):
        name, arg = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}", rng.choice(WORDS)
        out += [
            f"def {name}({arg}s: list[str], limit: int = {rng.randint(2, 999)}) -> dict:",
            f'    """{sentence(rng, 5, 9)}"""',
            "    counts: dict[str, int] = {}",
            f"    for index, {arg} in enumerate({arg}s):",
            "        if index >= limit:",
            "            break",
            f"        key = {arg}.strip().lower().replace({rng.choice(WORDS)!r}, '')",
            f"        counts[key] = counts.get(key, 0) + {rng.randint(1, 9)}",
            f"    return {{k: v for k, v in counts.items() if v > {rng.randint(0, 5)}}}",
            "",
            "",
        ]
    return "\n".join(out).rstrip()


def rust_code(rng: random.Random, functions: int) -> str:
    out: list[str] = []
    for _ in range(functions):
        name, kind = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}", rng.choice(NAMES).title()
        out += [
            f"/// {sentence(rng, 5, 9)}",
            f"pub fn {name}(items: &[Item], limit: usize) -> Result<Vec<String>, Error> {{",
            "    let mut out = Vec::with_capacity(limit);",
            "    for (i, item) in items.iter().enumerate().take(limit) {",
            "        match item.kind {",
            f'            Kind::{kind} => out.push(format!("{{}}-{{}}", item.name, i)),',
            f"            Kind::Other(n) if n > {rng.randint(1, 99)} => continue,",
            "            _ => return Err(Error::new(item.name.clone())),",
            "        }",
            "    }",
            "    Ok(out)",
            "}",
            "",
        ]
    return "\n".join(out).rstrip()


def sql_code(rng: random.Random, queries: int) -> str:
    out: list[str] = []
    for _ in range(queries):
        out += [
            f"-- {sentence(rng, 4, 8)}",
            "SELECT c.id, c.name, SUM(o.total) AS revenue,",
            "       RANK() OVER (PARTITION BY c.region ORDER BY SUM(o.total) DESC) AS place",
            "FROM customers AS c",
            "JOIN orders AS o ON o.customer_id = c.id",
            f"WHERE o.created_at >= DATE '2024-0{rng.randint(1, 9)}-01'",
            f"  AND c.region = '{rng.choice(NAMES)}'",
            "GROUP BY c.id, c.name, c.region",
            f"HAVING SUM(o.total) > {rng.randint(100, 9999)}",
            f"ORDER BY revenue DESC LIMIT {rng.randint(5, 50)};",
            "",
        ]
    return "\n".join(out).rstrip()


def fence(lang: str, code: str) -> str:
    return f"```{lang}\n{code}\n```"


def section(rng: random.Random, number: int) -> str:
    """One chapter of a long answer: every block type, with a long fence in each."""
    lang = ("python", "rust", "sql")[number % 3]
    code = {
        "python": lambda: python_code(rng, 4),
        "rust": lambda: rust_code(rng, 3),
        "sql": lambda: sql_code(rng, 4),
    }[lang]()
    title = " ".join(rng.choice(WORDS) for _ in range(3)).title()
    blocks = [
        f"## {number}. {title}",
        paragraph(rng),
        nested_list(rng),
        f"### The {lang} side",
        paragraph(rng),
        fence(lang, code),
    ]
    if number % 2:
        blocks += [table(rng), paragraph(rng)]
    return "\n\n".join(blocks)


def count_tokens(text: str) -> int:
    """Deltas the demo server sends for `text` (it splits with its seed, 0 by default)."""
    return len(split_tokens(text))


def markdown_doc(name: str, target: int, seed: int) -> Doc:
    """Sections until the answer is `target` deltas long, then the marker paragraph."""
    rng = random.Random(seed)
    parts = [f"# Answer {name}", paragraph(rng)]
    sections = 0
    while True:
        more = section(rng, sections + 1)
        if count_tokens("\n\n".join([*parts, more])) > target:
            break
        parts.append(more)
        sections += 1
    while count_tokens("\n\n".join(parts)) < target:  # top up with prose, ~100 tokens each
        parts.append(paragraph(rng))
    text = "\n\n".join([*parts, MARKER])
    return Doc(name, text, count_tokens(text), f"Markdown, {sections} sections")


def fence_doc(name: str, size: int, seed: int) -> Doc:
    """One Python fence of `size` bytes: the worst case for re-highlighting per append."""
    rng = random.Random(seed)
    code = ""
    while len(code) < size:
        code += python_code(rng, 8) + "\n\n\n"
    text = fence("python", code.rstrip()) + "\n\n" + MARKER
    return Doc(name, text, count_tokens(text), f"one {len(code) // 1000} KB python fence")


DOC_BUILDERS: dict[str, Callable[[], Doc]] = {
    "md4k": lambda: markdown_doc("md4k", 4000, seed=4),
    "md16k": lambda: markdown_doc("md16k", 16000, seed=16),
    "fence50k": lambda: fence_doc("fence50k", 50_000, seed=50),
}


# =========================================================================== terminal


ESCAPE_RE = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, clipboard
    rb"|[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC strings
    rb"|[ -/]*[0-OQ-WYZ\\`a-~])"  # two-byte escapes (not the openers above)
)
QUERY_RE = re.compile(rb"\x1b\[(?:0?c|6n|\?(\d+)\$p)")
"""Device attributes, cursor position and mode queries: what a program may wait for."""


def answer_query(query: re.Match[bytes]) -> bytes:
    """A plain VT100-ish terminal's reply: no optional modes, cursor at home."""
    if query.group(1) is not None:
        return b"\x1b[?" + query.group(1) + b";0$y"  # DECRPM: mode not recognised
    if query.group(0).endswith(b"n"):
        return b"\x1b[1;1R"
    return b"\x1b[?1;2c"


class EscapeFilter:
    """Turns the output stream into its printable text, escapes removed, in pieces.

    A piece can end inside an escape sequence; that tail is kept for the next
    piece, so each escape is seen whole exactly once (and each query answered once).
    """

    CARRY_LIMIT = 4096

    def __init__(self, reply: Callable[[bytes], None]) -> None:
        self._carry = b""
        self._reply = reply

    def feed(self, data: bytes) -> bytes:
        buf = self._carry + data
        self._carry = b""
        start = buf.rfind(b"\x1b", max(0, len(buf) - self.CARRY_LIMIT))
        if start != -1 and ESCAPE_RE.match(buf, start) is None:
            buf, self._carry = buf[:start], buf[start:]
        if b"\x1b[" in buf:
            for query in QUERY_RE.finditer(buf):
                self._reply(answer_query(query))
        return ESCAPE_RE.sub(b"", buf)


@dataclass
class Needle:
    """A string awaited in the de-escaped output; `at` is when it first showed."""

    text: bytes
    at: float | None = None
    seen: threading.Event = field(default_factory=threading.Event)


class PtyApp:
    """A program in a WIDTH x HEIGHT pseudo-terminal whose output is read as it comes.

    A reader thread timestamps every chunk the program writes (perf_counter, the
    demo server's clock), looks for the awaited needles in the de-escaped text and
    answers terminal queries. The program gets its own session and process group,
    so `close` can always take all of it down.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str], needles: Sequence[bytes]):
        self.needles = {text: Needle(text) for text in needles}
        self._keep = max(len(text) for text in needles)
        self.writes: list[float] = []
        self.bytes_out = 0
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        self.master = master
        self.spawned_at = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._filter = EscapeFilter(self.type)
        self._tail = b""
        self._reader = threading.Thread(target=self._read, name="bench-pty-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:  # EIO: every slave end is closed, the program is gone
                return
            if not data:
                return
            now = time.perf_counter()
            self.writes.append(now)
            self.bytes_out += len(data)
            self._scan(self._filter.feed(data), now)

    def _scan(self, text: bytes, now: float) -> None:
        window = self._tail + text
        for needle in self.needles.values():
            if needle.at is None and needle.text in window:
                needle.at = now
                needle.seen.set()
        self._tail = window[-self._keep :]

    def wait_for(self, text: bytes, timeout: float) -> float | None:
        """When `text` first showed, waiting up to `timeout` s; None if it did not."""
        needle = self.needles[text]
        needle.seen.wait(max(0.0, timeout))
        return needle.at

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Until the program has written nothing for `quiet` s (at most `timeout` s)."""
        deadline = time.perf_counter() + timeout
        while (now := time.perf_counter()) < deadline:
            last = self.writes[-1] if self.writes else self.spawned_at
            if now - last >= quiet:
                return
            time.sleep(min(quiet - (now - last), deadline - now) + 0.001)

    def type(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, data)

    def paste(self, text: str) -> None:
        """A bracketed paste: one event for the app, whatever the text's length."""
        self.type(b"\x1b[200~" + text.encode() + b"\x1b[201~")

    def close(self) -> None:
        """Ctrl+Q, then SIGTERM, then SIGKILL to the program's process group.

        Signals go to the group only while its leader is not yet reaped, so the
        id cannot have been reused by anyone else's process.
        """
        if self.proc.poll() is None:
            self.type(b"\x11")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2.0)
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self._reader.join(2.0)
        with contextlib.suppress(OSError):
            os.close(self.master)


@contextlib.contextmanager
def running(argv: Sequence[str], env: dict[str, str], needles: Sequence[bytes]) -> Iterator[PtyApp]:
    app = PtyApp(argv, env, needles)
    try:
        yield app
    finally:
        app.close()


# =========================================================================== /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of `pid` so far (fields 14 and 15 of stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# =========================================================================== apps


BARE_APP = '''\
"""A bare Textual app: what any Textual program's start-up costs."""
from textual.app import App
from textual.widgets import Footer, Header, Input


class Bare(App):
    def compose(self):
        yield Header()
        yield Input(placeholder="Ask anything")
        yield Footer()


Bare().run()
'''

BASELINE_APP = '''\
"""The baseline: Textual's stock Markdown fed by Markdown.get_stream, as the docs show."""
import json
import sys

import httpx
from httpx_sse import aconnect_sse
from textual import work
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, Markdown

BASE_URL = sys.argv[1]


class Baseline(App):
    def compose(self):
        yield Header()
        with VerticalScroll():
            yield Markdown()
        yield Input(placeholder="Ask anything")
        yield Footer()

    def on_mount(self):
        self.query_one(VerticalScroll).anchor()
        self.query_one(Input).focus()

    def on_input_submitted(self, event):
        event.input.value = ""
        self.answer(event.value)

    @work(exclusive=True)
    async def answer(self, prompt):
        stream = Markdown.get_stream(self.query_one(Markdown))
        body = {
            "model": "demo",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
        try:
            async with httpx.AsyncClient(timeout=None) as client:
                url = BASE_URL + "/chat/completions"
                async with aconnect_sse(client, "POST", url, json=body) as source:
                    async for sse in source.aiter_sse():
                        if sse.data == "[DONE]":
                            break
                        for choice in json.loads(sse.data).get("choices") or []:
                            delta = (choice.get("delta") or {}).get("content")
                            if delta:
                                await stream.write(delta)
        finally:
            await stream.stop()


Baseline().run()
'''


@dataclass(frozen=True)
class AppSpec:
    """How to start one program under test."""

    name: str
    argv: tuple[str, ...]


def default_app() -> Path:
    """The console script installed next to this Python: the app as a user runs it."""
    return Path(sys.executable).parent / "tokentide"


def tokentide_argv(script: Path) -> tuple[str, ...]:
    """`tokentide` alone, as people start it every day: the demo server is the
    provider of the config file (`write_config`)."""
    if not os.access(script, os.X_OK):
        raise SystemExit(f"no tokentide executable at {script}")
    return (str(script),)


def write_config(home: Path, base_url: str) -> None:
    """A config file naming the demo server, the way a user sets up a local server once."""
    folder = home / ".config" / "tokentide"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        f'provider = "bench"\n\n[providers.bench]\nwire = "openai"\n'
        f'base_url = "{base_url}"\nmodel = "demo"\n'
    )


def write_apps(
    workdir: Path, app: Path, base_url: str, before: Path | None = None
) -> tuple[AppSpec, AppSpec, AppSpec]:
    """tokentide, the Markdown.get_stream baseline (or the tokentide build `before`)
    and the bare app (the last two on this Python, which is the app's unless `--app`
    names another build)."""
    write_config(workdir / "home", base_url)
    baseline, bare = workdir / "baseline_app.py", workdir / "bare_app.py"
    baseline.write_text(BASELINE_APP)
    bare.write_text(BARE_APP)
    return (
        AppSpec("tokentide", tokentide_argv(app)),
        AppSpec("baseline", (sys.executable, str(baseline), base_url))
        if before is None
        else AppSpec("baseline", tokentide_argv(before)),
        AppSpec("bare", (sys.executable, str(bare))),
    )


def clean_env(home: Path) -> dict[str, str]:
    """What a fresh user's terminal would give: no keys, no history, and only the
    config file `write_config` wrote."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


# =========================================================================== one run


@dataclass
class RunFigures:
    """What one streamed answer cost; None where the run did not get that far.

    A run given up (`timed_out`: the last token was not on screen `--timeout` s
    after it was due) keeps the figures measured until then: its CPU and lag are
    lower bounds, its longest gap, RSS and key echo are real.
    """

    app: str
    doc: str
    rate: int
    tokens: int
    cpu_s: float | None = None
    cpu_pct: float | None = None
    cpu_per_1k: float | None = None
    lag_ms: float | None = None
    longest_gap_ms: float | None = None
    peak_rss_mib: float | None = None
    echo_ms: float | None = None
    #: How much later than scheduled the server wrote the last token: the app read
    #: its socket too slowly (the lag is measured from when the server wrote it).
    server_late_ms: float | None = None
    timed_out: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Bench:
    """What every run shares: the server, the environment, the limits."""

    server: DemoServer
    env: dict[str, str]
    timeout: float


@dataclass
class Moments:
    """perf_counter times of one run, on the demo server's clock."""

    entered: float
    first_token: float
    shown: float | None
    gave_up: float


def longest_gap(writes: Sequence[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] with no write: gaps clipped to the window."""
    longest, previous = 0.0, start
    for at in writes:
        if at <= start:
            continue
        if at >= end:
            break
        longest = max(longest, at - previous)
        previous = at
    return max(longest, end - previous)


def wait_until(when: float) -> None:
    delay = when - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def chat_request(server: DemoServer, after: int, timeout: float) -> RequestRecord:
    """The first chat completion after record number `after` that has sent a token."""
    try:
        return server.wait_for(
            lambda r: r.id > after and "/chat/" in r.path and r.first_token_at is not None,
            timeout,
        )
    except TimeoutError:
        raise TimeoutError(f"no chat request within {timeout:g} s of Enter") from None


def stream_once(bench: Bench, spec: AppSpec, doc: Doc, rate: int) -> RunFigures:
    """Start the app, send one prompt, and measure the answer it gets at `rate` tok/s."""
    figures = RunFigures(spec.name, doc.name, rate, doc.tokens)
    with running(spec.argv, bench.env, (PLACEHOLDER, MARKER.encode(), PROBE.encode())) as app:
        try:
            measure_stream(bench, app, doc, figures)
        except (TimeoutError, OSError) as exc:
            figures.error = str(exc)
    return figures


def measure_stream(bench: Bench, app: PtyApp, doc: Doc, figures: RunFigures) -> None:
    """Type the prompt, press Enter, paste the probe halfway, wait for the marker."""
    server, rate = bench.server, figures.rate
    if app.wait_for(PLACEHOLDER, STARTUP_TIMEOUT) is None:
        raise TimeoutError(f"no prompt box within {STARTUP_TIMEOUT:g} s")
    app.type(PROMPT.encode())
    app.wait_quiet(QUIET_FOR, timeout=3.0)
    server.tokens_per_second, server.ttft = rate, TTFT
    server.script(doc.text)
    after = len(server.requests)
    cpu_before, entered = cpu_seconds(app.pid), time.perf_counter()
    app.type(b"\r")
    request = chat_request(server, after, STARTUP_TIMEOUT)
    assert request.first_token_at is not None
    first, duration = request.first_token_at, doc.tokens / rate
    wait_until(first + duration / 2)
    pasted = time.perf_counter()
    app.paste(PROBE)
    shown = app.wait_for(MARKER.encode(), first + duration + bench.timeout - pasted)
    gave_up = time.perf_counter()
    cpu = cpu_seconds(app.pid) - cpu_before
    echoed = app.wait_for(PROBE.encode(), 5.0 if shown else 0.0)
    figures.peak_rss_mib = peak_rss_mib(app.pid)
    record = next(r for r in server.requests if r.id == request.id)
    moments = Moments(entered, first, shown, gave_up)
    fill(figures, cpu, moments, record, list(app.writes))
    figures.echo_ms = None if echoed is None else (echoed - pasted) * 1000
    if shown is not None and record.tokens_sent != doc.tokens:
        figures.error = f"the server sent {record.tokens_sent} of {doc.tokens} tokens"


def fill(
    figures: RunFigures, cpu: float, at: Moments, record: RequestRecord, writes: Sequence[float]
) -> None:
    """The derived figures; a run given up is measured up to the moment it was."""
    end = at.shown if at.shown is not None else at.gave_up
    ended = record.ended_at if record.ended_at is not None else end
    figures.timed_out = at.shown is None
    if figures.timed_out:
        figures.error = "last token not on screen in time: CPU and lag are lower bounds"
    figures.cpu_s = cpu
    figures.cpu_pct = 100 * cpu / (end - at.entered)
    figures.cpu_per_1k = 1000 * cpu / figures.tokens
    figures.lag_ms = max(0.0, end - ended) * 1000
    figures.longest_gap_ms = longest_gap(writes, at.first_token, min(ended, end)) * 1000
    if record.ended_at is not None:
        due = at.first_token + (figures.tokens - 1) / figures.rate
        figures.server_late_ms = max(0.0, record.ended_at - due) * 1000


def cold_start_once(bench: Bench, spec: AppSpec) -> float | None:
    """Seconds from spawning the program to its first frame with the prompt box."""
    with running(spec.argv, bench.env, (PLACEHOLDER,)) as app:
        shown = app.wait_for(PLACEHOLDER, STARTUP_TIMEOUT)
        return None if shown is None else shown - app.spawned_at


def receive_only(bench: Bench, app: Path, doc: Doc, rate: int = 200) -> float | None:
    """CPU seconds `tokentide ask --raw` spends receiving `doc` at `rate` into a pipe,
    from the first token to its exit: the share of the app's CPU that is the HTTP
    stream itself (the same client, parser and turn), which no renderer can save."""
    server = bench.server
    server.tokens_per_second, server.ttft = rate, TTFT
    server.script(doc.text)
    after = len(server.requests)
    argv = [str(app), "ask", "--raw", "--base-url", server.base_url, "--model", "demo", PROMPT]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench.env
    )
    started: float | None = None
    try:
        chat_request(server, after, STARTUP_TIMEOUT)
        started = cpu_seconds(proc.pid)
    except (TimeoutError, OSError):
        proc.kill()
    deadline = time.perf_counter() + doc.tokens / rate + bench.timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.perf_counter() > deadline:
            proc.kill()
        time.sleep(0.05)
    if started is None or proc.returncode != 0:
        return None
    return usage.ru_utime + usage.ru_stime - started


# =========================================================================== aggregation


FIGURES = ("cpu_s", "cpu_pct", "cpu_per_1k", "lag_ms", "longest_gap_ms", "peak_rss_mib", "echo_ms")
BOUNDED = frozenset({"cpu_s", "cpu_per_1k", "lag_ms"})
"""Figures a run that was given up only knows a lower bound of."""


@dataclass
class Cell:
    """Medians of the runs of one app on one (doc, rate)."""

    app: str
    doc: str
    rate: int
    tokens: int
    runs: list[RunFigures]
    medians: dict[str, float | None] = field(default_factory=dict)
    #: The medians that are only lower bounds: at least half the runs were given up.
    lower_bounds: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in FIGURES:
            values = [getattr(r, name) for r in self.runs if getattr(r, name) is not None]
            self.medians[name] = statistics.median(values) if values else None
        if self.runs and 2 * sum(r.timed_out for r in self.runs) >= len(self.runs):
            self.lower_bounds = sorted(BOUNDED)

    def value(self, key: str) -> Bound:
        return Bound(self.medians[key], key in self.lower_bounds)

    @property
    def failures(self) -> list[str]:
        return list(dict.fromkeys(r.error for r in self.runs if r.error))

    @property
    def responsive(self) -> bool | None:
        echo = self.medians["echo_ms"]
        return None if echo is None else echo <= RESPONSIVE_MS


@dataclass(frozen=True)
class Bound:
    """A figure, and whether it is exact or only a lower bound (a run given up)."""

    value: float | None
    at_least: bool = False

    def text(self, digits: int = 0, suffix: str = "") -> str:
        return ("> " if self.at_least and self.value is not None else "") + fmt(
            self.value, digits, suffix
        )

    def ratio_text(self) -> str:
        """A ratio with two significant figures or so: 0.004x, 0.24x, 1.61x, 12x."""
        if self.value is None:
            return "-"
        digits = 0 if self.value >= 10 else 2 if self.value >= 0.1 else 3
        return self.text(digits, "x")

    def figure(self, digits: int = 0, suffix: str = "") -> str:
        """For a target line: the value, or why there is none."""
        return "not run" if self.value is None else self.text(digits, suffix)

    def over(self, other: Bound) -> Bound | None:
        """self / other; None when both are bounds (the ratio could be anything)."""
        if self.value is None or not other.value or (self.at_least and other.at_least):
            return None
        return Bound(self.value / other.value, self.at_least)

    def under(self, other: Bound) -> bool:
        """Whether the ratio self / other is an upper bound (other was given up)."""
        return other.at_least and not self.at_least

    def at_most(self, limit: float) -> bool | None:
        """Met, not met, or unknown (no figure, or a lower bound under the limit)."""
        if self.value is None:
            return None
        if self.value > limit:
            return False
        return None if self.at_least else True


@dataclass
class ColdStart:
    """Seconds from spawn to a usable prompt box, each start, for both programs."""

    tokentide_s: list[float]
    bare_s: list[float]
    before_s: list[float] = field(default_factory=list)
    """Another tokentide build's starts (`--baseline-app`), alternated with both."""

    @property
    def tokentide(self) -> float | None:
        return statistics.median(self.tokentide_s) if self.tokentide_s else None

    @property
    def bare(self) -> float | None:
        return statistics.median(self.bare_s) if self.bare_s else None

    @property
    def ratio(self) -> float | None:
        if self.tokentide is None or not self.bare:
            return None
        return self.tokentide / self.bare


@dataclass
class Report:
    """Everything one benchmark run measured: what is printed and dumped as JSON."""

    docs: dict[str, int]
    cells: list[Cell]
    cold: ColdStart | None
    runs: int
    baseline_runs: int
    seconds: float = 0.0
    receive_s: float | None = None
    """CPU seconds of receiving md4k at 200 tok/s without drawing it (`receive_only`)."""
    before: str | None = None
    """The tokentide build measured as the baseline (`--baseline-app`), if one was."""

    def cell(self, app: str, doc: str, rate: int) -> Cell | None:
        for cell in self.cells:
            if (cell.app, cell.doc, cell.rate) == (app, doc, rate):
                return cell
        return None

    def value(self, doc: str, rate: int, key: str, app: str = "tokentide") -> Bound:
        cell = self.cell(app, doc, rate)
        return Bound(None) if cell is None else cell.value(key)

    def pairs(self) -> Iterator[tuple[Cell, Cell | None]]:
        """Each tokentide cell with the baseline's on the same answer and rate."""
        for cell in self.cells:
            if cell.app == "tokentide":
                yield cell, self.cell("baseline", cell.doc, cell.rate)


# =========================================================================== the run


@dataclass(frozen=True)
class Config:
    """What to measure and how often; the defaults are the full run (under 5 minutes)."""

    docs: tuple[str, ...] = tuple(DOC_BUILDERS)
    rates: tuple[int, ...] = DEFAULT_RATES
    runs: int = 3
    baseline_runs: int = 1
    cold_runs: int = 5
    max_stream: float = DEFAULT_MAX_STREAM
    timeout: float = DEFAULT_TIMEOUT
    app: Path = field(default_factory=default_app)
    baseline_app: Path | None = None
    """Another tokentide build measured in the baseline's place (before a change)."""
    log: Callable[[str], None] = print


def plan_cells(docs: Sequence[Doc], config: Config) -> list[tuple[Doc, int]]:
    """Every (doc, rate) whose stream takes at most `max_stream` s, and md4k at every rate.

    Why md4k always: the issue states its targets on the 4,000-token answer, at
    200 tok/s too (20 s). The longer answers at slow rates (80 s for 16k at
    200 tok/s) would not fit the 5-minute budget; `--max-stream` brings them in.
    """
    return [
        (doc, rate)
        for doc in docs
        for rate in config.rates
        if doc.name == "md4k" or doc.tokens / rate <= config.max_stream
    ]


def run_benchmark(config: Config) -> Report:
    """Build the answers, start one demo server, measure every cell and the cold start."""
    started = time.perf_counter()
    docs = [DOC_BUILDERS[name]() for name in config.docs]
    with (
        tempfile.TemporaryDirectory(prefix="bench-render-") as tmp,
        DemoServer(ttft=TTFT) as server,
    ):
        tokentide, baseline, bare = write_apps(
            Path(tmp), config.app, server.base_url, config.baseline_app
        )
        bench = Bench(server, clean_env(Path(tmp) / "home"), config.timeout)
        cells: list[Cell] = []
        for doc, rate in plan_cells(docs, config):
            cells += measure_cell(bench, tokentide, baseline, doc, rate, config)
        other = baseline if config.baseline_app is not None else None
        cold = (
            measure_cold_start(bench, tokentide, bare, config, other) if config.cold_runs else None
        )
        md4k = next((doc for doc in docs if doc.name == "md4k"), None)
        receive = receive_only(bench, config.app, md4k) if md4k and 200 in config.rates else None
        if receive is not None:
            config.log(f"  receiving md4k at 200 tok/s without drawing it: CPU {receive:.2f} s")
    report = Report(
        {d.name: d.tokens for d in docs}, cells, cold, config.runs, config.baseline_runs
    )
    report.before = None if config.baseline_app is None else str(config.baseline_app)
    report.receive_s = receive
    report.seconds = time.perf_counter() - started
    return report


def measure_cell(
    bench: Bench, app: AppSpec, baseline: AppSpec, doc: Doc, rate: int, config: Config
) -> list[Cell]:
    """The runs of both apps, alternating, so slow drift of the machine hits both alike."""
    results: dict[AppSpec, list[RunFigures]] = {app: [], baseline: []}
    wanted = {app: config.runs, baseline: config.baseline_runs}
    for n in range(max(wanted.values())):
        for spec in results:
            if n < wanted[spec]:
                run = stream_once(bench, spec, doc, rate)
                results[spec].append(run)
                config.log(describe_run(run, n + 1, wanted[spec]))
    return [Cell(s.name, doc.name, rate, doc.tokens, runs) for s, runs in results.items() if runs]


def measure_cold_start(
    bench: Bench, app: AppSpec, bare: AppSpec, config: Config, before: AppSpec | None = None
) -> ColdStart:
    """Alternating starts of each, after one unmeasured start each (bytecode, page cache)."""
    cold = ColdStart([], [])
    programs = [(app, cold.tokentide_s), (bare, cold.bare_s)]
    if before is not None:
        programs.append((before, cold.before_s))
    for spec, _ in programs:
        cold_start_once(bench, spec)
    for _ in range(config.cold_runs):
        for spec, into in programs:
            took = cold_start_once(bench, spec)
            if took is not None:
                into.append(took)
    before = f"  before {ms_list(cold.before_s)}" if cold.before_s else ""
    config.log(
        f"  cold start: tokentide {ms_list(cold.tokentide_s)}  bare {ms_list(cold.bare_s)}{before}"
    )
    return cold


# =========================================================================== printing


def fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def ms_list(values: Sequence[float]) -> str:
    return "[" + " ".join(f"{v * 1000:.0f}" for v in values) + "] ms"


def describe_run(run: RunFigures, n: int, of: int) -> str:
    """One progress line per run, so a long benchmark shows it is alive."""
    head = f"  {run.app:<9} {run.doc:<8} {run.rate:>5} tok/s  run {n}/{of}: "
    if run.cpu_s is None:
        return head + (run.error or "failed")
    late = run.server_late_ms or 0.0
    over = "> " if run.timed_out else ""
    return head + (
        f"CPU {over}{run.cpu_s:.2f} s ({run.cpu_pct:.0f} %), lag {over}{run.lag_ms:,.0f} ms, "
        f"gap {run.longest_gap_ms:,.0f} ms, RSS {run.peak_rss_mib:.0f} MiB, "
        f"echo {fmt(run.echo_ms)} ms"
        + (f", read the socket {late:,.0f} ms late" if late > 100 else "")
        + (f"  [{run.error}]" if run.error else "")
    )


COLUMNS = (
    ("CPU s", "cpu_s", 2),
    ("CPU %", "cpu_pct", 0),
    ("CPU/1k", "cpu_per_1k", 3),
    ("lag ms", "lag_ms", 0),
    ("gap ms", "longest_gap_ms", 0),
    ("RSS MiB", "peak_rss_mib", 0),
    ("echo ms", "echo_ms", 0),
)
RATIO_COLUMNS = ("cpu_s", "cpu_per_1k", "lag_ms", "longest_gap_ms", "peak_rss_mib")
WIDE = 11


def ratio_text(app: Cell, baseline: Cell, key: str) -> str:
    """tokentide / baseline, with < or > when one side is only a lower bound."""
    ours, theirs = app.value(key), baseline.value(key)
    quotient = ours.over(theirs)
    if quotient is None or key not in RATIO_COLUMNS:
        return "-"
    return ("< " if ours.under(theirs) else "") + quotient.ratio_text()


def cell_table(app: Cell, baseline: Cell | None, report: Report) -> list[str]:
    """One figure set: tokentide, the baseline and tokentide/baseline, side by side."""
    runs = f"median of {report.runs}"
    if baseline is not None:
        runs += f" (baseline {report.baseline_runs})"
    lines = [
        f"{app.doc} ({app.tokens:,} tokens) at {app.rate:,} tok/s, {runs}",
        f"  {'':<11}" + "".join(f"{h:>{WIDE}}" for h, _, _ in COLUMNS) + "  responsive",
    ]
    for cell in (app, baseline):
        if cell is not None:
            values = "".join(f"{cell.value(key).text(d):>{WIDE}}" for _, key, d in COLUMNS)
            answer = {True: "yes", False: "NO", None: "-"}[cell.responsive]
            lines.append(f"  {cell.app:<11}{values}  {answer}")
            lines += [f"  {'':<11}! {failure}" for failure in cell.failures]
    if baseline is not None:
        ratios = "".join(f"{ratio_text(app, baseline, key):>{WIDE}}" for _, key, _ in COLUMNS)
        lines.append(f"  {'ratio':<11}{ratios}")
    return lines


def cold_lines(cold: ColdStart) -> list[str]:
    ours = None if cold.tokentide is None else cold.tokentide * 1000
    bare = None if cold.bare is None else cold.bare * 1000
    lines = [
        "Cold start: spawn to the first frame with the prompt box, "
        f"median of {len(cold.tokentide_s)}",
        f"  tokentide {fmt(ours, 0, ' ms'):>10}   {ms_list(cold.tokentide_s)}",
        f"  bare app  {fmt(bare, 0, ' ms'):>10}   {ms_list(cold.bare_s)}",
        f"  ratio     {fmt(cold.ratio, 2, 'x'):>10}",
    ]
    if cold.before_s:
        before = statistics.median(cold.before_s)
        lines += [
            f"  before    {fmt(before * 1000, 0, ' ms'):>10}   {ms_list(cold.before_s)}",
            f"  its ratio {fmt(before / cold.bare if cold.bare else None, 2, 'x'):>10}",
        ]
    return lines


def format_report(report: Report) -> str:
    docs = ", ".join(f"{name} {tokens:,} tokens" for name, tokens in report.docs.items())
    lines = [
        "",
        f"Answers: {docs}; terminal {WIDTH}x{HEIGHT}; TTFT {TTFT * 1000:.0f} ms.",
        "CPU: app user+sys from Enter to the last token on screen; CPU % over that time; "
        "lag: last token sent -> on screen;",
        "gap: longest time without output while tokens arrived; echo: a paste mid-stream "
        f"-> on screen (responsive: <= {RESPONSIVE_MS:.0f} ms);",
        "ratio: tokentide / baseline; '>': a lower bound (the run was given up), "
        "'<': a ratio to such a bound.",
    ]
    if report.before is not None:
        lines.append(f"baseline: the tokentide build {report.before}, alternated with this one.")
    for cell, baseline in report.pairs():
        lines += ["", *cell_table(cell, baseline, report)]
    if report.cold is not None:
        lines += ["", *cold_lines(report.cold)]
    if report.receive_s is not None:
        share = 100 * report.receive_s / (report.docs["md4k"] / 200)
        lines += [
            "",
            "Receiving md4k at 200 tok/s without drawing it (tokentide ask --raw into a pipe, "
            f"from the first token): CPU {report.receive_s:.2f} s ({share:.0f} % of a core)",
        ]
    if report.before is None:
        lines += ["", "Targets (renderer issue)", *(str(t) for t in check_targets(report))]
    lines += ["", f"Benchmark took {report.seconds:.0f} s."]
    return "\n".join(lines)


# =========================================================================== targets


@dataclass(frozen=True)
class Target:
    """One of the issue's targets and how this run fared against it."""

    goal: str
    met: bool | None
    figures: str

    def __str__(self) -> str:
        state = {True: "met    ", False: "NOT met", None: "unknown"}[self.met]
        return f"  {state}  {self.goal}: {self.figures}"


def check_targets(report: Report) -> list[Target]:
    return [
        target_cpu_share(report),
        *target_fast_rate(report),
        target_freeze(report),
        *target_flat(report),
        target_vs_baseline(report),
        target_cold(report),
    ]


def target_cpu_share(report: Report) -> Target:
    cpu = report.value("md4k", 200, "cpu_pct")
    goal = "md4k at 200 tok/s: CPU <= 15 % of a core"
    return Target(goal, cpu.at_most(15), cpu.figure(1, " %"))


def target_fast_rate(report: Report) -> list[Target]:
    """At 5,000 tok/s: the 4k answer within 1 s of CPU, every answer within 100 ms of lag."""
    cpu = report.value("md4k", 5000, "cpu_s")
    targets = [Target("md4k at 5,000 tok/s: CPU <= 1 s", cpu.at_most(1.0), cpu.figure(2, " s"))]
    for doc in report.docs:
        lag = report.value(doc, 5000, "lag_ms")
        if lag.value is not None or doc == "md4k":
            goal = f"{doc} at 5,000 tok/s: last token on screen <= 100 ms after sent"
            targets.append(Target(goal, lag.at_most(100), lag.figure(0, " ms")))
    return targets


def target_freeze(report: Report) -> Target:
    gaps = [
        (gap, f"{cell.doc}@{cell.rate}")
        for cell, _ in report.pairs()
        if (gap := cell.medians["longest_gap_ms"]) is not None
    ]
    goal = "longest freeze while tokens arrive <= 100 ms, every cell"
    if not gaps:
        return Target(goal, None, "not run")
    worst = max(gaps)
    over = ", ".join(f"{where} {gap:,.0f}" for gap, where in gaps if gap > 100)
    return Target(
        goal, not over, f"worst {worst[0]:,.0f} ms ({worst[1]})" + (over and f"; over: {over}")
    )


def target_flat(report: Report) -> list[Target]:
    """CPU per 1,000 tokens must not grow with the answer: md16k against md4k.

    Only telling while the app keeps up: an app busy all the time burns CPU in
    proportion to wall time whatever each update costs, and its cost per update
    shows up as lag instead; such a comparison is reported, but as unknown.
    """
    targets = []
    for rate in sorted({cell.rate for cell in report.cells}):
        small = report.value("md4k", rate, "cpu_per_1k")
        large = report.value("md16k", rate, "cpu_per_1k")
        growth = large.over(small)
        if growth is None or small.at_least:
            continue
        goal = f"CPU/1k tokens, md16k vs md4k at {rate:,} tok/s: <= 1.3x"
        figures = f"{large.text(3)} vs {small.text(3)} s = {growth.ratio_text()}"
        met = growth.at_most(1.3)
        busy = max(report.value(doc, rate, "cpu_pct").value or 0 for doc in ("md4k", "md16k"))
        if busy >= SATURATED_PCT and met:
            met, figures = None, f"{figures}, but the app was saturated ({busy:.0f} % CPU)"
        targets.append(Target(goal, met, figures))
    return targets or [Target("CPU/1k tokens, md16k vs md4k: <= 1.3x", None, "not run")]


def target_vs_baseline(report: Report) -> Target:
    """Baseline CPU / tokentide CPU, the worst cell; a given-up baseline only helps."""
    savings: list[tuple[float, str, bool]] = []
    for cell, baseline in report.pairs():
        if baseline is not None and (saved := baseline.value("cpu_s").over(cell.value("cpu_s"))):
            assert saved.value is not None
            savings.append((saved.value, f"{cell.doc}@{cell.rate}", saved.at_least))
    goal = "at least 5x less CPU than the Markdown.get_stream baseline, every cell"
    if not savings:
        return Target(goal, None, "not run")
    value, where, at_least = min(savings)
    met = True if value >= 5 else (None if at_least else False)
    bound = "> " if at_least else ""
    return Target(goal, met, f"baseline CPU / tokentide CPU, worst {bound}{value:.2f}x ({where})")


def target_cold(report: Report) -> Target:
    goal = "cold start <= 1.25x the bare Textual app"
    cold = report.cold
    if cold is None or cold.ratio is None or cold.tokentide is None or cold.bare is None:
        return Target(goal, None, "not run")
    figures = f"{cold.tokentide * 1000:.0f} vs {cold.bare * 1000:.0f} ms = {cold.ratio:.2f}x"
    return Target(goal, cold.ratio <= 1.25, figures)


# =========================================================================== CLI


def report_json(report: Report) -> dict:
    cold = report.cold
    return {
        "docs": report.docs,
        "runs": report.runs,
        "baseline_runs": report.baseline_runs,
        "seconds": report.seconds,
        "cells": [dataclasses.asdict(cell) for cell in report.cells],
        "cold_start": None if cold is None else {**dataclasses.asdict(cold), "ratio": cold.ratio},
        "receive_only_s": report.receive_s,
        "baseline_app": report.before,
        "targets": [dataclasses.asdict(target) for target in check_targets(report)],
    }


def parse_args(argv: Sequence[str] | None) -> tuple[Config, Path | None]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="1 run per cell, 3 cold starts")
    add("--rates", default=",".join(map(str, DEFAULT_RATES)), help="tokens/s, comma-separated")
    add("--docs", default=",".join(DOC_BUILDERS), help="answers, from " + ", ".join(DOC_BUILDERS))
    add("--runs", type=int, help="runs per cell (default 3, 1 with --quick)")
    add("--baseline-runs", type=int, default=1, help="baseline runs per cell, 0: none")
    add("--cold-runs", type=int, help="cold starts of each app (default 5, 3 with --quick)")
    add(
        "--max-stream",
        type=float,
        default=DEFAULT_MAX_STREAM,
        help="leave out md16k / fence50k where their stream takes longer (s)",
    )
    add(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="give a run up this long after its last token was due (s)",
    )
    add("--app", type=Path, default=default_app(), help="the tokentide executable to measure")
    add(
        "--baseline-app",
        type=Path,
        help="another tokentide executable (a build from before a change) measured in the "
        "baseline's place, alternated with --app; the targets are then not checked",
    )
    add("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    docs = tuple(name.strip() for name in args.docs.split(",") if name.strip())
    if unknown := [name for name in docs if name not in DOC_BUILDERS]:
        parser.error(f"unknown answer(s) {', '.join(unknown)}; known: {', '.join(DOC_BUILDERS)}")
    try:
        rates = tuple(int(rate) for rate in args.rates.split(",") if rate.strip())
    except ValueError:
        parser.error(f"--rates {args.rates!r}: whole tokens/s, comma-separated")
    if not rates or min(rates) <= 0:
        parser.error("--rates: at least one rate, each above 0")
    config = Config(
        docs=docs,
        rates=rates,
        runs=args.runs or (1 if args.quick else 3),
        baseline_runs=args.baseline_runs,
        cold_runs=args.cold_runs if args.cold_runs is not None else (3 if args.quick else 5),
        max_stream=args.max_stream,
        timeout=args.timeout,
        app=args.app,
        baseline_app=args.baseline_app,
    )
    return config, args.json


def main(argv: Sequence[str] | None = None) -> int:
    config, json_path = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every `running` block still kills its program.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run_benchmark(config)
    print(format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report_json(report), indent=2) + "\n")
        print(f"Raw figures written to {json_path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
