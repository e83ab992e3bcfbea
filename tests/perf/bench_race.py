"""Benchmark: what a race of four lanes costs the real app, seen from outside.

    .venv/bin/python tests/perf/bench_race.py [--lanes 4] [--rate 200] [--doc md4k]
        [--width 160] [--runs 1]

The installed `tokentide` runs in a pseudo-terminal (by default 160x40: four
lanes of 40 cells, so they stand in columns; `--width 120` stacks them)
against the in-process demo server, as tests/perf/bench_render.py runs it for
one answer: the same answer (md4k: 4,000 tokens of Markdown, code and tables)
and the same /proc readings. The config file names `--lanes` providers, all
on the demo server; the bench drives the app with keys as a user would
(Ctrl+P, "Race models", a search and Enter for each lane, Ctrl+S, the
prompt, Enter) and every lane gets the whole answer at `--rate` tokens/s.

Printed per run: the app's CPU seconds (user+sys, every thread) from Enter
until the race bar says the race is over (every lane ended, its last block
drawn), the wall time of that span, and the CPU as a % of one core over it.
The target of the race issue: four lanes at 200 tok/s within 40 % of a core.
Nothing is asserted: the machine may be shared, so read the figure with the
load it ran under (printed too).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.perf import bench_render as bench
from tokentide.client.demo import DemoServer

OVER = b"race over"
"""The race bar's words once every lane has ended."""
PICKER = b"Race models \xc2\xb7"
"""The race picker's hint line: it is open."""


def write_config(home: Path, base_url: str, lanes: int) -> None:
    """`lanes` providers, lane1..laneN, each the demo server's `demo` model."""
    folder = home / ".config" / "tokentide"
    folder.mkdir(parents=True, exist_ok=True)
    sections = "".join(
        f'[providers.lane{n}]\nwire = "openai"\nbase_url = "{base_url}"\nmodel = "demo"\n\n'
        for n in range(1, lanes + 1)
    )
    (folder / "config.toml").write_text(f'provider = "lane1"\n\n{sections}')


def keys(app: bench.PtyApp, typed: bytes) -> None:
    """Key by key, as typed (a burst of bytes at once reached the picker's
    search box only in part), then until the screen is quiet."""
    for byte in typed:
        app.type(bytes([byte]))
        time.sleep(0.02)
    app.wait_quiet(bench.QUIET_FOR, timeout=3.0)


def race_once(server: DemoServer, doc: bench.Doc, lanes: int, rate: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tokentide-race-bench-") as workdir:
        home = Path(workdir) / "home"
        write_config(home, server.base_url, lanes)
        env = bench.clean_env(home)
        ticked = tuple(f"racing {n}:".encode() for n in range(1, lanes + 1))
        needles = (bench.PLACEHOLDER, PICKER, OVER, *ticked)
        with bench.running(bench.tokentide_argv(bench.default_app()), env, needles) as app:
            if app.wait_for(bench.PLACEHOLDER, bench.STARTUP_TIMEOUT) is None:
                raise TimeoutError("no prompt box")
            app.wait_quiet(bench.QUIET_FOR, timeout=5.0)
            keys(app, b"\x10")  # Ctrl+P
            keys(app, b"race models")
            keys(app, b"\r")
            if app.wait_for(PICKER, 10.0) is None:
                raise TimeoutError("no race picker")
            app.wait_quiet(0.5, timeout=5.0)  # every provider's list is in
            for n in range(1, lanes + 1):
                search = f"demo lane{n}".encode()
                keys(app, search)
                keys(app, b"\r")
                if app.wait_for(f"racing {n}:".encode(), 5.0) is None:
                    raise TimeoutError(f"lane {n} was not ticked")
                keys(app, b"\x7f" * len(search))
            keys(app, b"\x13")  # Ctrl+S
            keys(app, bench.PROMPT.encode())
            server.tokens_per_second, server.ttft = rate, bench.TTFT
            for _ in range(lanes):
                server.script(doc.text)
            after = len(server.requests)
            cpu_before, entered = bench.cpu_seconds(app.pid), time.perf_counter()
            app.type(b"\r")
            shown = app.wait_for(OVER, doc.tokens / rate + 60)
            ended = time.perf_counter()
            cpu = bench.cpu_seconds(app.pid) - cpu_before
            chats = [r for r in server.requests if r.id > after and "/chat/" in r.path]
            if shown is None:
                raise TimeoutError(f"the race did not end ({len(chats)} lanes asked)")
            if len(chats) != lanes or not all(r.completed for r in chats):
                raise RuntimeError(f"{len(chats)} lanes streamed, not {lanes} whole answers")
            wall = ended - entered
            return {"cpu_s": cpu, "wall_s": wall, "cpu_pct": 100 * cpu / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--doc", default="md4k", choices=sorted(bench.DOC_BUILDERS))
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    bench.WIDTH = args.width  # read by the pseudo-terminal when it is made
    doc = bench.DOC_BUILDERS[args.doc]()
    layout = "columns" if args.width >= 40 * args.lanes else "stacked"
    print(
        f"{args.lanes} lanes x {doc.name} ({doc.tokens} tokens) at {args.rate} tok/s each, "
        f"{args.width}x{bench.HEIGHT} ({layout}); load before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with DemoServer(tokens_per_second=args.rate, ttft=bench.TTFT) as server:
        for run in range(1, args.runs + 1):
            figures = race_once(server, doc, args.lanes, args.rate)
            print(
                f"run {run}: CPU {figures['cpu_s']:.2f} s over {figures['wall_s']:.2f} s = "
                f"{figures['cpu_pct']:.1f} % of one core (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
