"""`tokentide bench`: the same prompt streamed N times per model, and what it took.

Per model: how many runs ended, how many failed, and the p50/p90/p99 of TTFT,
tokens/s, inter-token latency and total time, as a table or one JSON document:

    {"models": [{"provider", "model", "runs", "errors", "error", "ttft_ms",
                 "tokens_per_s", "itl_ms", "total_ms", "tokens"}]}

where each figure is `{"p50", "p90", "p99"}` and `error` is the first failed
run's one-line reason (None when none failed).

How the figures are made, and why:
- Every run is one `Turn` with the lane's own settings, so each number is the
  one `ask --json` reports for one answer (client/meter.py says how each is
  measured). TTFT, tokens/s, total time and tokens are percentiles over the
  runs that finished; a failed or cut-off run counts in `errors` only, since
  its timings describe the failure, not the model.
- ITL is over every token of every finished run (each run's per-token gaps,
  `AnswerStream.gaps`), not over each run's median: ten runs of 500 tokens
  give 5,000 latencies, and their p99 is a stutter a user would see once in
  a hundred tokens, which a p99 of ten medians cannot show.
- Percentiles interpolate linearly between the closest ranks (numpy's
  default, as `tokentide stats` does), for ITL with each gap counted once for
  every token that shared it.
- Models run one after another, C runs at a time within a model: two models
  on one local server would share its GPU or CPU and slow each other down, so
  running them at once would measure the contention, not the models.
- No retries: a run sent again after a 429 would report the wait as TTFT, so
  a refusal is an error, counted, and the next run goes on.
- Nothing is written to the history: a benchmark would flood it with the same
  prompt N times.
- Ctrl-C (or SIGTERM, SIGHUP) shuts every running connection down at once,
  prints what was measured so far and exits 128 + the signal (130 for
  Ctrl-C); a run cut short by it is neither a run nor an error.

No Textual here; Rich only for the progress bar and the table on a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from tokentide.client.errors import ApiError, ConfigError
from tokentide.client.lanes import Lane, demo_lanes
from tokentide.client.stream import ChatClient

from .exit_codes import ExitCode
from .report import note, print_traceback
from .safe_text import one_line, terminal_json
from .signals import on_signals
from .store import percentile
from .turn import Outcome, Params, Turn

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
FIGURES = ("ttft_ms", "tokens_per_s", "itl_ms", "total_ms", "tokens")
"""The percentile dicts of a model's JSON, in the table's order."""
_ROWS = (
    ("ttft_ms", "TTFT ms"),
    ("tokens_per_s", "tokens/s"),
    ("itl_ms", "ITL ms"),
    ("total_ms", "total ms"),
    ("tokens", "tokens"),
)


@dataclass(frozen=True)
class BenchOptions:
    prompt: str
    runs: int
    concurrency: int = 1
    params: Params = Params()  # noqa: RUF009 - frozen
    json: bool = False
    debug: bool = False


def check_options(runs: int, concurrency: int) -> None:
    """A one-line `ConfigError` for counts that cannot make a bench."""
    if runs < 1:
        raise ConfigError(
            f"--runs {runs}: a bench needs at least one run", fix="use --runs 1 or more"
        )
    if concurrency < 1:
        raise ConfigError(
            f"--concurrency {concurrency}: at least one run must be in flight",
            fix="use --concurrency 1 or more (1: one run after another)",
        )


@dataclass
class ModelBench:
    """One model's runs so far: the figures of each finished run, the gaps of
    all their tokens, and the failures."""

    lane: Lane
    planned: int
    runs: int = 0
    errors: int = 0
    error: str | None = None
    """The first failed run's reason, one line, secrets already masked."""
    failure: ApiError | None = field(default=None, repr=False)
    """The first failed run's error itself, for `--debug`'s traceback."""
    ttft_ms: list[float | None] = field(default_factory=list)
    tokens_per_s: list[float | None] = field(default_factory=list)
    total_ms: list[float | None] = field(default_factory=list)
    tokens: list[float | None] = field(default_factory=list)
    gaps: list[tuple[float, int]] = field(default_factory=list)
    """(seconds per token, tokens) of every token gap of every finished run."""

    @property
    def provider(self) -> str:
        return self.lane.settings.endpoint.name

    @property
    def model(self) -> str:
        return self.lane.settings.endpoint.model

    def add(self, turn: Turn, outcome: Outcome | None) -> bool:
        """Count one run that ended; False for one a stop cut short (not counted)."""
        if outcome is None or outcome is Outcome.STOPPED:
            return False
        self.runs += 1
        message = turn.message
        if outcome is not Outcome.FINISHED or message.error:
            self.errors += 1
            if self.error is None:
                self.error = " ".join((message.error or outcome.value).split())
                self.failure = turn.error
            return True
        metrics = turn.metrics()
        self.ttft_ms.append(metrics.ttft_ms)
        self.tokens_per_s.append(metrics.tokens_per_s)
        self.total_ms.append(metrics.total_ms)
        self.tokens.append(float(metrics.tokens_received))
        self.gaps.extend(turn.answer.gaps())
        return True

    def figure(self, name: str) -> dict[str, float | None]:
        """One figure's p50/p90/p99 (None where no finished run measured it)."""
        if name == "itl_ms":
            values = {key: weighted_percentile(self.gaps, q) for key, q in QUANTILES}
            return {key: _round(None if v is None else v * 1000) for key, v in values.items()}
        series: list[float | None] = getattr(self, name)
        return {key: _round(percentile(series, q)) for key, q in QUANTILES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "runs": self.runs,
            "errors": self.errors,
            "error": self.error,
            **{name: self.figure(name) for name in FIGURES},
        }


def weighted_percentile(pairs: Iterable[tuple[float, int]], q: float) -> float | None:
    """The q-quantile of values each repeated `weight` times, by linear
    interpolation between closest ranks (as `store.percentile` over the
    repeated list, without building it); None for no weight at all."""
    items = sorted((value, weight) for value, weight in pairs if weight > 0)
    total = sum(weight for _, weight in items)
    if not total:
        return None
    pos = (total - 1) * q
    low = math.floor(pos)
    ranks = (low, min(low + 1, total - 1))
    found: list[float] = []
    seen = 0
    for value, weight in items:
        seen += weight
        while len(found) < 2 and ranks[len(found)] < seen:
            found.append(value)
        if len(found) == 2:
            break
    return found[0] + (found[1] - found[0]) * (pos - low)


OnRun = Callable[[ModelBench], None]


class Bench:
    """The runs of every lane, model after model, `concurrency` at a time.

    bench = Bench(lanes, "prompt", runs=10, concurrency=2, on_run=advance)
    # on_model(result) as a model's runs begin, on_run(result) as each one ends
    results = await bench.run()     # one ModelBench per lane, in order
    bench.stop(signal.SIGINT)       # from a signal handler: every run ends now
    """

    def __init__(
        self,
        lanes: Sequence[Lane],
        prompt: str,
        *,
        runs: int,
        concurrency: int = 1,
        params: Params | None = None,
        on_run: OnRun | None = None,
        on_model: OnRun | None = None,
    ) -> None:
        check_options(runs, concurrency)
        self.lanes = list(lanes)
        self.prompt = prompt
        self.runs = runs
        self.concurrency = min(concurrency, runs)
        self.params = params or Params()
        self.results = [ModelBench(lane, runs) for lane in self.lanes]
        self.stopped_by: int | None = None
        """The signal that stopped the bench, if one did."""
        self._on_run = on_run
        self._on_model = on_model
        self._turns: set[Turn] = set()
        self._workers: list[asyncio.Task[None]] = []

    async def run(self) -> list[ModelBench]:
        for result in self.results:
            if self.stopped_by is not None:
                break
            await self._model(result)
        return self.results

    def stop(self, signum: int = signal.SIGINT) -> None:
        """End every running stream at once (the server sees EOF) and start no more."""
        if self.stopped_by is None:
            self.stopped_by = signum
        for turn in list(self._turns):
            turn.abort()
        for worker in self._workers:
            worker.cancel()

    async def _model(self, result: ModelBench) -> None:
        settings = result.lane.settings
        client = ChatClient(
            settings.endpoint,
            timeouts=settings.timeouts,
            retries=0,  # a retried run would count the wait as its TTFT
            limits=settings.limits,
        )
        started = 0
        if self._on_model is not None:
            self._on_model(result)

        async def worker() -> None:
            nonlocal started
            while self.stopped_by is None and started < self.runs:
                started += 1
                turn = Turn(client, settings, self.prompt, params=self.params)
                self._turns.add(turn)
                try:
                    outcome = await turn.run()
                except asyncio.CancelledError:
                    if self.stopped_by is None:
                        raise
                    outcome = turn.outcome  # it may have finished just before the stop
                finally:
                    self._turns.discard(turn)
                if result.add(turn, outcome) and self._on_run is not None:
                    self._on_run(result)

        async with client:
            self._workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
            try:
                await asyncio.gather(*self._workers)
            finally:
                self._workers = []


def run_bench(lanes: Sequence[Lane], options: BenchOptions) -> int:
    with demo_lanes(lanes) as ready:
        return asyncio.run(_bench(ready, options))


async def _bench(lanes: Sequence[Lane], options: BenchOptions) -> int:
    try:
        lanes = await _settled(lanes)
    except ConfigError as exc:
        note(f"error: {exc}")
        return ExitCode.USAGE
    except ApiError as exc:
        note(f"error: {exc}")
        return ExitCode.ERROR
    progress = _Progress(lanes, options.runs) if sys.stderr.isatty() else None
    bench = Bench(
        lanes,
        options.prompt,
        runs=options.runs,
        concurrency=options.concurrency,
        params=options.params,
        on_run=progress.advance if progress else None,
        on_model=progress.begin if progress else None,
    )
    with progress or contextlib.nullcontext(), _stop_on_signals(bench):
        results = await bench.run()
    out = sys.stdout
    if options.json:
        text = json.dumps({"models": [r.to_dict() for r in results]}, ensure_ascii=False)
        out.write((terminal_json(text) if out.isatty() else text) + "\n")
    else:
        write_table(results, out)
    out.flush()
    if bench.stopped_by is not None:
        done = sum(r.runs for r in results)
        name = (
            "Ctrl-C" if bench.stopped_by == signal.SIGINT else signal.Signals(bench.stopped_by).name
        )
        planned = len(results) * options.runs
        note(f"stopped by {name} after {done} of {planned} runs: the figures are those runs")
        return 128 + bench.stopped_by
    for result in results:
        if result.error is not None:
            failed = f"{result.errors} of {result.runs} runs failed"
            note(f"{result.lane.label}: {failed}, the first: {result.error}")
            if options.debug and result.failure is not None:
                print_traceback(result.failure, result.lane.settings.endpoint.secrets)
    if any(r.runs and r.runs == r.errors for r in results):
        return ExitCode.ERROR
    return ExitCode.OK


async def _settled(lanes: Sequence[Lane]) -> list[Lane]:
    """Each lane with nothing left open (a base URL's only model, a local
    server when nothing is configured), asked before any run; its notices
    and config warnings once each on stderr."""
    from tokentide.client.discovery import settle

    settled = []
    said: set[str] = set()
    for lane in lanes:
        settings = lane.settings
        if settings.needs_settling():
            try:
                settings = await settle(settings)
            except (ConfigError, ApiError) as exc:
                raise type(exc)(
                    f"{lane.spec.text}: {settings.endpoint.secrets.scrub(str(exc))}"
                ) from None
        for line in (settings.notice, *settings.warnings):
            if line and line not in said:
                said.add(line)
                note(line)
        settled.append(Lane(lane.spec, settings))
    return settled


def table_rows(results: Sequence[ModelBench]) -> list[list[str]]:
    """model, runs, errors, figure, p50, p90, p99: one row per figure, the
    model's name and counts on its first."""
    rows = []
    for result in results:
        for index, (name, title) in enumerate(_ROWS):
            values = result.figure(name)
            head = (
                [result.lane.label, str(result.runs), str(result.errors)]
                if index == 0
                else ["", "", ""]
            )
            rows.append([*head, title, *(_cell(name, values[key]) for key, _ in QUANTILES)])
    return rows


TABLE_HEADER = ["model", "runs", "errors", "figure", "p50", "p90", "p99"]


def write_table(results: Sequence[ModelBench], out: TextIO) -> None:
    """A Rich table on a terminal, plain aligned columns otherwise (for a file,
    `column`, `awk`); model names made terminal-safe either way."""
    rows = [[one_line(cell) for cell in row] for row in table_rows(results)]
    if out.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for index, title in enumerate(TABLE_HEADER):
            table.add_column(title, justify="left" if index in (0, 3) else "right")
        for index, row in enumerate(rows):
            end = (index + 1) % len(_ROWS) == 0 and index + 1 < len(rows)
            table.add_row(*(Text(cell) for cell in row), end_section=end)
        Console(file=out, highlight=False).print(table)
        return
    widths = [max(len(r[i]) for r in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    for row in [TABLE_HEADER, *rows]:
        cells = [
            c.ljust(w) if i in (0, 3) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "–"
    if name == "tokens":
        return f"{value:.0f}"
    return f"{value:.2f}" if name == "itl_ms" else f"{value:.1f}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _Progress:
    """Runs done per model, on stderr (only made when stderr is a terminal)."""

    def __init__(self, lanes: Sequence[Lane], runs: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]}", markup=False),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._tasks = {
            id(lane): self._progress.add_task(
                one_line(lane.label), total=runs, errors="", start=False
            )
            for lane in lanes
        }

    def begin(self, result: ModelBench) -> None:
        self._progress.start_task(self._tasks[id(result.lane)])

    def advance(self, result: ModelBench) -> None:
        errors = f"{result.errors} failed" if result.errors else ""
        self._progress.update(self._tasks[id(result.lane)], completed=result.runs, errors=errors)

    def __enter__(self) -> _Progress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


@contextmanager
def _stop_on_signals(bench: Bench) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop every run at once (see `Bench.stop`)."""
    with on_signals(lambda: bench.stop(signal.SIGINT), bench.stop):
        yield
