"""A race: one prompt sent to several models at once, each answer streamed in its own lane.

The runner shared by `tokentide race` and the app's race screen; no Textual
here (the CLI must start fast), and nothing about drawing: the caller gets
every event through `sink` and draws at its own frame rate.

    race = Race(lanes, "why is the sky blue?", params=Params(max_tokens=400),
                sink=lambda lane, event: ...,       # every event; be quick
                on_lane_done=lambda lane: ...,      # once per lane, as it ends
                recording=Recording(store, None, lanes[0].settings, params, warn=...))
    await race.run()            # until every lane has ended; never raises for a lane
    race.abort()                # from any thread: every lane's connection closed at once
    for lane in race.lanes:
        lane.label, lane.message, lane.metrics(), lane.outcome, lane.turn

Each lane (`client.lanes.Lane`, from `resolve_lanes`) gets its own
`ChatClient` (its own connection pool, timeouts, retries and limits from its
settings) and its own `Turn`, so lanes of different wire formats run
together, and one lane's stall, failure or bug (an exception in a sink)
ends that lane alone: the others go on. `run()` closes every client when the
race is over (a `Race` never run is closed with `aclose()`).

Stopping: `abort()` shuts every lane's socket down from the calling thread
(the server sees EOF before the event loop runs again, as Esc does in the
app) and cancels the lane tasks; each lane ends as stopped, with what it
had received. Cancelling the task running `run()` does the same.
`stop(lane)` stops one lane.

History: with a `recording` (for the first lane's settings), the prompt is
written once, and each lane's answer is recorded as an answer to that same
prompt row with its own provider, wire and model (`Recording.alternative`).
When the race is over the `winner()` - the first lane, in the order given,
that finished - is made the chosen answer; the others are its alternatives
(`choose(lane)` picks another). With an `interruption` (tui/signals.py), a
lane stopped after SIGTERM/SIGHUP is recorded as interrupted, as `ask` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokentide.client.config import Price, Settings
from tokentide.client.events import Message, StreamEvent
from tokentide.client.lanes import Lane
from tokentide.client.meter import Metrics

from .branches import Plan
from .prices import Cost, Priced, cost
from .recorder import Recording
from .signals import Interruption
from .turn import Exchange, Outcome, Params, Turn

if TYPE_CHECKING:  # httpx is imported at the race, not when the app starts
    from tokentide.client.stream import ChatClient

LaneSink = Callable[["RaceLane", StreamEvent], None]
LaneDone = Callable[["RaceLane"], None]


def _ignore(*_: object) -> None:
    pass


@dataclass(eq=False)
class RaceLane:
    """One model's answer in a race."""

    index: int
    """Its place in the order the lanes were given (0: the first)."""
    lane: Lane
    client: ChatClient
    turn: Turn = field(init=False)
    recording: Recording | None = None
    outcome: Outcome | None = None
    """None while it runs; then as recorded (after SIGTERM: interrupted)."""
    bug: str | None = None
    """An exception that ended this lane alone (a sink's), as one line."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return self.lane.label

    @property
    def settings(self) -> Settings:
        return self.lane.settings

    @property
    def message(self) -> Message:
        """The answer so far (joined when read: read it at frame rate)."""
        return self.turn.message

    def metrics(self) -> Metrics:
        return self.turn.metrics()

    @property
    def ended(self) -> bool:
        return self.outcome is not None


class Race:
    """Several lanes answering one prompt at once; see the module docstring."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        prompt: str,
        *,
        history: Sequence[Exchange] = (),
        params: Params = Params(),  # noqa: B008 - frozen
        sink: LaneSink = _ignore,
        on_lane_done: LaneDone = _ignore,
        recording: Recording | None = None,
        interruption: Interruption | None = None,
        plans: Sequence[Plan] | None = None,
    ) -> None:
        """`plans`: the app's places in its conversation's tree, one a lane (all
        on the recording's prompt): each lane's answer row id goes into its own."""
        if not lanes:
            raise ValueError("a race needs at least one lane")
        self.prompt = prompt
        self.params = params
        self.recording = recording
        self._sink = sink
        self._on_lane_done = on_lane_done
        self._interruption = interruption
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aborted = False
        self._closed = False
        self.lanes: list[RaceLane] = []
        from tokentide.client.stream import ChatClient

        for index, lane in enumerate(lanes):
            settings = lane.settings
            client = ChatClient(
                settings.endpoint,
                timeouts=settings.timeouts,
                retries=settings.retries,
                limits=settings.limits,
            )
            racer = RaceLane(index, lane, client)
            if recording is not None:
                plan = plans[index] if plans is not None else None
                racer.recording = (
                    recording if index == 0 else recording.alternative(settings, plan=plan)
                )
            self.lanes.append(racer)
            racer.turn = Turn(
                client,
                settings,
                prompt,
                history=history,
                params=params,
                history_tokens=racer.recording.expected_tokens() if racer.recording else None,
                sink=self._lane_sink(racer),
                on_done=self._lane_done(racer),
                checkpoint=racer.recording.checkpoint if racer.recording else None,
            )
            if racer.recording is not None:
                racer.recording.turn = racer.turn

    # -- running ---------------------------------------------------------------

    async def run(self) -> None:
        """Every lane at once, until each has ended; then the clients are
        closed, the history written and the winner chosen. A lane's failure is
        its outcome, never an exception here; a cancelled `run` stops every
        lane (each recorded as stopped) and the cancellation goes on."""
        self._loop = asyncio.get_running_loop()
        try:
            if self.recording is not None and not self._aborted:
                await self.recording.prompt(self.prompt)  # before any request goes out
            if not self._aborted:
                for racer in self.lanes:
                    racer.task = asyncio.create_task(
                        self._run_lane(racer), name=f"tokentide-lane-{racer.index}"
                    )
                tasks = self._tasks()
                try:
                    await asyncio.wait(tasks)
                except asyncio.CancelledError:
                    self.abort()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
        finally:
            for racer in self.lanes:
                racer.turn.abandon()  # a lane whose task never ran is stopped too
            await self.aclose()
            await self._record_winner()

    async def _run_lane(self, racer: RaceLane) -> None:
        try:
            await racer.turn.run()
        except Exception as exc:  # a bug in a sink or a hook: this lane ends, the others go on
            racer.bug = f"{type(exc).__name__}: {exc}"
            if racer.outcome is None:
                racer.outcome = Outcome.FAILED

    def _lane_sink(self, racer: RaceLane) -> Callable[[StreamEvent], None]:
        sink = self._sink
        recording = racer.recording
        if recording is None:
            return lambda event: sink(racer, event)

        def both(event: StreamEvent) -> None:
            recording.event(event)
            sink(racer, event)

        return both

    def _lane_done(self, racer: RaceLane) -> Callable[[Message, Metrics, Outcome], None]:
        def done(message: Message, metrics: Metrics, outcome: Outcome) -> None:
            if self._interruption is not None:
                outcome = self._interruption.mark(message, metrics, outcome)
            racer.outcome = outcome
            if racer.recording is not None:
                racer.recording.done(message, metrics, outcome)
            self._on_lane_done(racer)

        return done

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [racer.task for racer in self.lanes if racer.task is not None]

    # -- stopping --------------------------------------------------------------

    def abort(self) -> None:
        """Stop every lane, from any thread (a signal handler, an input thread)."""
        self._aborted = True
        for racer in self.lanes:
            self.stop(racer)

    def stop(self, racer: RaceLane) -> None:
        """Stop one lane, from any thread: its socket is shut down at once,
        then its task cancelled on the event loop (which also ends a lane
        still connecting). The other lanes go on."""
        racer.turn.abort()
        loop = self._loop
        if loop is None or racer.task is None:
            return
        task = racer.task
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing runs any more
            loop.call_soon_threadsafe(task.cancel)

    @property
    def aborted(self) -> bool:
        return self._aborted

    async def aclose(self) -> None:
        """Close every lane's client (its connection pool)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(racer.client.aclose() for racer in self.lanes))

    # -- the outcome -----------------------------------------------------------

    def winner(self) -> RaceLane | None:
        """The first lane, in the order given, that finished; None if none did."""
        return next((r for r in self.lanes if r.outcome is Outcome.FINISHED), None)

    def choose(self, racer: RaceLane) -> None:
        """Make this lane's answer the chosen one in the history."""
        if racer.recording is not None:
            racer.recording.choose()

    async def _record_winner(self) -> None:
        if self.recording is None:
            return
        self.choose(self.winner() or self.lanes[0])
        for racer in self.lanes:
            assert racer.recording is not None
            await racer.recording.written()

    async def costs(self, overrides: Mapping[str, Price]) -> list[Cost | None]:
        """Each ended lane's cost (None: nothing prices it), looked up off the
        event loop (the price table takes 0.2 s to load) and written to the
        history with the answer when it is recorded."""
        found: list[Cost | None] = []
        for racer in self.lanes:
            if racer.recording is not None:
                found.append(await racer.recording.price(overrides))
            else:
                found.append(await asyncio.to_thread(cost, _priced(racer), overrides))
        return found


def _priced(racer: RaceLane) -> Priced:
    return Priced.answer(racer.settings.endpoint, racer.message, racer.metrics())
