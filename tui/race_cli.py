"""`tokentide race`: one prompt, several models at once, side by side.

The lanes run in `tui/race.py` (shared with the app); this is what the
command shows. To a terminal: every lane live, side by side when each gets
`MIN_COLUMN` columns (stacked otherwise), a header (label, TTFT, tokens/s,
tokens) over the tail of its answer, redrawn `FPS` times a second however
fast the tokens come, then a table. To a pipe: each answer, exactly, under a
`== label ==` line, and the table on stderr. With --json, one object,
`{"lanes": [...]}`, each lane shaped as `ask --json` plus its provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tokentide.client.events import ReasoningDelta, StreamEvent, TextDelta
from tokentide.client.lanes import Lane, demo_lanes

from .ask import answer_json
from .exit_codes import ExitCode
from .format import count, ms, outcome, rate, tokens
from .json_pieces import pieces
from .race import Race, RaceLane
from .recorder import Recording
from .report import Stdout, note, print_traceback
from .safe_text import one_line, terminal_json
from .signals import Interruption, on_signals
from .store import HISTORY_ERRORS, Store
from .turn import Outcome, Params

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from .prices import Cost

FPS = 12
"""Redraws a second of the live lanes, whatever the token rate."""

MIN_COLUMN = 40
"""Columns a lane needs to be drawn beside the others; fewer: stacked."""


@dataclass
class RaceOptions:
    prompt: str
    params: Params = Params()  # noqa: RUF009 - frozen
    json: bool = False
    raw: bool = False
    """Plain text in the live lanes (Markdown is rendered there otherwise)."""
    log: bool = True
    """Record the race in the history (`--no-log` skips it)."""
    debug: bool = False
    """A failed lane's traceback too."""


def run_race(lanes: Sequence[Lane], options: RaceOptions) -> int:
    with demo_lanes(lanes) as running:
        return asyncio.run(_race(running, options))


async def _race(lanes: list[Lane], options: RaceOptions) -> int:
    out, err = sys.stdout, sys.stderr
    for stream in (out, err):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[attr-defined]
    tty = out.isatty()
    notes: list[str] = []
    """Lines for stderr, held while the lanes are drawn over the screen."""
    board = _Board(lanes, out, markdown=not options.raw) if tty and not options.json else None

    def hold(line: str) -> None:
        if line not in notes:  # every lane's recording may say the same
            notes.append(line)

    recording = _recording(lanes, options, hold) if options.log else None
    interruption = Interruption()
    race = Race(
        lanes,
        options.prompt,
        params=options.params,
        sink=board.event if board is not None else _ignore,
        recording=recording,
        interruption=interruption,
    )
    stopped = _Stopped()
    with _stop_on_signals(race, interruption, stopped):
        if board is None:
            await race.run()
        else:
            with board.live(race):
                await race.run()
    writer = Stdout(out)
    if options.json:
        body = {"lanes": [lane_json(racer) for racer in race.lanes]}
        for piece in pieces(body, depth=6):
            writer.write(terminal_json(piece) if tty else piece)
        writer.write("\n")
    else:
        if board is None:
            for racer in race.lanes:
                text = racer.message.text
                writer.write(f"== {racer.label} ==\n{text}")
                writer.write("" if text.endswith("\n") else "\n")
        costs = await race.costs(lanes[0].settings.prices)
        _print_table(race, costs, out if tty else err)
    for line in notes:
        note(line, err)
    for racer in race.lanes:
        failed = racer.outcome in (Outcome.FAILED, Outcome.INTERRUPTED)
        if failed and options.debug and racer.turn.error is not None:
            print_traceback(racer.turn.error, racer.settings.endpoint.secrets)
        if failed and racer.message.error and interruption.signum is None:
            note(f"{racer.label}: error: {racer.message.error}{_read_as_model(racer)}", err)
        if racer.bug is not None:
            note(f"{racer.label}: error: {racer.bug}", err)
    if interruption.signum is not None:
        note(f"stopped by {interruption.name} · partial answers kept", err)
        return interruption.exit_code
    if stopped.by_user:
        note("cancelled: " + ", ".join(_received(racer) for racer in race.lanes), err)
        return ExitCode.CANCELLED
    if writer.closed:
        return ExitCode.BROKEN_PIPE
    if any(racer.outcome is not Outcome.FINISHED for racer in race.lanes):
        return ExitCode.ERROR
    return ExitCode.OK


def _ignore(*_: object) -> None:
    pass


def _read_as_model(racer: RaceLane) -> str:
    """For `-m nope:model`, where `nope` names no provider: it was read as part of
    the model's name, which is likely why the server refused it."""
    spec = racer.lane.spec
    head, colon, _ = spec.text.partition(":")
    if spec.provider is not None or not colon:
        return ""
    return f" ({head!r} is no provider here: the whole of {spec.text!r} was sent as the model)"


def _received(racer: RaceLane) -> str:
    metrics = racer.metrics()
    saved = f", ~{metrics.saved} saved" if metrics.saved else ""
    return f"{racer.label} after {count(metrics.tokens_received)}{saved}"


def _recording(lanes: Sequence[Lane], options: RaceOptions, note: Any) -> Recording | None:
    """The race in the history, as a new conversation; none (and one line on
    stderr) if the history cannot be opened: the answers matter more."""
    try:
        store = Store.open()
    except HISTORY_ERRORS as exc:
        note(f"history not saved: {exc}")
        return None
    return Recording(store, None, lanes[0].settings, options.params, warn=note)


def lane_json(racer: RaceLane) -> dict[str, Any]:
    """One lane of `race --json`: `ask --json`'s answer with its provider and wire."""
    endpoint = racer.settings.endpoint
    body = answer_json(racer.message, racer.metrics())
    body["model"] = body["model"] or endpoint.model
    return {"provider": endpoint.name, "wire": endpoint.wire, **body}


@dataclass
class _Stopped:
    by_user: bool = False
    """Ctrl-C: every lane was stopped on purpose."""


@contextlib.contextmanager
def _stop_on_signals(race: Race, interruption: Interruption, stopped: _Stopped) -> Iterator[None]:
    """Ctrl-C stops every lane at once: each lane's socket is shut down in the
    handler (every server sees EOF before anything else runs), then each
    lane's task is cancelled. SIGTERM and SIGHUP do the same and are
    remembered in `interruption`: the answers are recorded as interrupted
    and the exit code is 128 + the signal (tui/signals.py)."""

    def cancel() -> None:
        stopped.by_user = stopped.by_user or not all(racer.ended for racer in race.lanes)
        race.abort()

    def terminate(signum: int) -> None:
        if interruption.signum is None and not all(racer.ended for racer in race.lanes):
            interruption.signum = signum
        race.abort()

    with on_signals(cancel, terminate):
        yield


# --------------------------------------------------------------------------- the table


def _print_table(race: Race, costs: Sequence[Cost | None], out: TextIO) -> None:
    """Model, TTFT, tok/s, ITL p50, tokens, cost, outcome: one row a lane.
    Every cell is a `Text` (never markup), and server words go through
    `one_line`."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .prices import usd

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("model", "TTFT", "tok/s", "ITL p50", "tokens", "cost", "outcome"):
        justify = "left" if name in ("model", "outcome") else "right"
        table.add_column(name, justify=justify, no_wrap=name != "outcome")
    for racer, found in zip(race.lanes, costs, strict=True):
        metrics = racer.metrics()
        price = "–" if found is None else ("~" if found.estimated else "") + usd(found.usd)
        said = "failed" if racer.bug is not None else outcome(racer.message)
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    one_line(racer.label),
                    ms(metrics.ttft_ms),
                    rate(metrics.tokens_per_s).removesuffix(" tok/s"),
                    ms(metrics.itl_p50_ms),
                    tokens(metrics),
                    price,
                    one_line(said),
                )
            )
        )
    console = Console(file=out, highlight=False, markup=False, emoji=False, soft_wrap=False)
    with contextlib.suppress(OSError):
        console.print(table)


# --------------------------------------------------------------------------- the live lanes


class _Board:
    """Every lane drawn live: a header and the tail of its answer."""

    def __init__(self, lanes: Sequence[Lane], out: TextIO, *, markdown: bool) -> None:
        from .terminal_markdown import terminal_size

        self.out = out
        self.width, self.height = terminal_size(out)
        lanes_ = len(lanes)
        self.side_by_side = self.width // lanes_ >= MIN_COLUMN
        gap = 2
        self.column = (self.width - gap * (lanes_ - 1)) // lanes_ if self.side_by_side else 0
        self.column = self.column or self.width
        rows = max(4, self.height - 2)
        self.rows = rows if self.side_by_side else max(2, rows // lanes_)
        """Lines a lane gets, its header included."""
        self.gap = gap
        self._tails = [_Tail(self.column, markdown=markdown) for _ in lanes]

    def event(self, racer: RaceLane, event: StreamEvent) -> None:
        """The race's sink: queue the text; it is drawn at the next frame."""
        if isinstance(event, TextDelta):
            self._tails[racer.index].pending.append(event.text)
            self._tails[racer.index].answering = True
        elif isinstance(event, ReasoningDelta):
            self._tails[racer.index].thinking = True

    @contextlib.contextmanager
    def live(self, race: Race) -> Iterator[None]:
        from rich.console import Console
        from rich.live import Live

        console = Console(
            file=self.out,
            force_terminal=True,
            width=self.width,
            height=self.height,
            highlight=False,
            markup=False,
            emoji=False,
        )
        live = Live(
            console=console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        frames = asyncio.get_running_loop().create_task(self._frames(live, race))
        try:
            with live:
                yield
                frames.cancel()
                with contextlib.suppress(OSError):
                    live.update(self.render(race), refresh=True)  # the last frame stays
        finally:
            frames.cancel()

    async def _frames(self, live: Any, race: Race) -> None:
        while True:
            with contextlib.suppress(OSError):
                live.update(self.render(race), refresh=True)
            await asyncio.sleep(1 / FPS)

    def render(self, race: Race) -> RenderableType:
        from rich.console import Group
        from rich.table import Table

        blocks = [self._lane(racer) for racer in race.lanes]
        if not self.side_by_side:
            return Group(*blocks)
        grid = Table.grid(padding=(0, self.gap))
        for _ in blocks:
            grid.add_column(width=self.column, no_wrap=True)
        grid.add_row(*blocks)
        return grid

    def _lane(self, racer: RaceLane) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        metrics = racer.metrics()
        tail = self._tails[racer.index]
        header = Text(no_wrap=True, overflow="ellipsis")
        if racer.outcome is not None:
            mark, style = _ENDINGS.get(racer.outcome, ("?", ""))
            header.append(f"{mark} ", style=style)
        header.append(one_line(racer.label), style="bold")
        header.append(f"  TTFT {ms(metrics.ttft_ms)} · {rate(metrics.tokens_per_s)} · ")
        header.append(tokens(metrics))
        if racer.outcome is None and tail.thinking and not tail.answering:
            header.append(" · thinking…", style="dim")
        calls = racer.message.tool_calls if racer.outcome is not None else []
        if calls:  # an answer that is a tool call has no text to show: show the call
            from .ask import tool_call_line
            from .safe_text import terminal_safe

            lines = [Text(terminal_safe(tool_call_line(call)), style="dim") for call in calls]
            rows = max(1, self.rows - 1 - len(lines))
            return Group(header, tail.render(rows), *lines)
        return Group(header, tail.render(self.rows - 1))


_ENDINGS = {
    Outcome.FINISHED: ("✓", "green"),
    Outcome.STOPPED: ("■", "yellow"),
    Outcome.FAILED: ("✗", "red"),
    Outcome.INTERRUPTED: ("✗", "red"),
}


class _Tail:
    """The last lines of one lane's answer at its column's width: Markdown,
    laid out as it grows (tui/markdown), or plain wrapped text (--raw)."""

    def __init__(self, width: int, *, markdown: bool) -> None:
        from .safe_text import SafeStream

        self.width = max(10, width)
        self.pending: list[str] = []
        self.thinking = False
        self.answering = False
        self._safe = SafeStream()
        self._text = ""
        self._document = None
        from .markdown.render import render_console

        self._console = render_console()
        if markdown:
            from .markdown.document import LiveDocument
            from .markdown.render import BlockRenderer, render_console

            renderer = BlockRenderer(console=render_console())
            self._document = LiveDocument(renderer, self.width, lex_in_background=True)

    def _take(self) -> str:
        text = self._safe.feed("".join(self.pending))
        self.pending.clear()
        return text

    def render(self, rows: int) -> RenderableType:
        from rich.text import Text

        new = self._take()
        rows = max(1, rows)
        document = self._document
        if document is not None:
            if new:
                document.feed(new)
            start = max(0, document.height - rows)
            return _Lines([document.line(y) for y in range(start, document.height)])
        self._text = (self._text + new)[-rows * (self.width + 1) :]  # enough for `rows` lines
        lines = Text(self._text).wrap(self._console, self.width)
        return Text("\n").join(lines[-rows:])


class _Lines:
    """Lines already laid out (lists of segments), as a Rich renderable."""

    def __init__(self, lines: list[Any]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: Any) -> Iterator[Any]:
        from rich.segment import Segment

        for line in self.lines:
            yield from line
            yield Segment.line()
