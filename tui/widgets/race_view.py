"""A race in the conversation: one lane a model, side by side.

Lanes sit in columns when each gets at least `COLUMN_WIDTH` cells, stacked
otherwise (decided again on every resize). Each lane is a header - its
number, the model, and its live TTFT, tokens/s, tokens and cost - over an
`AssistantMessage`: the chat's own answer view (thinking, tool calls, the
frame-bounded Markdown renderer, the footer), fed the lane's events as the
chat feeds its one answer. The headers are redrawn on one clock for all
lanes, `INTERVAL` apart and only where something changed, without a layout.

When every lane has ended, 1 to N on the focused view (Alt+Up from the
prompt reaches it; it never takes the focus itself, so what is typed still
lands in the prompt), or k on a lane's focused answer, keep that lane's
answer: posted as `RaceView.Keep` for the chat screen to carry out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from tokentide.client.events import Retrying, StreamEvent
from tokentide.client.lanes import MAX_LANES
from tokentide.client.meter import Metrics

from .. import format as fmt
from ..prices import Cost, usd
from ..safe_text import one_line, safe_text
from ..turn import Outcome
from .assistant_message import AssistantMessage

COLUMN_WIDTH = 40
"""Cells a lane needs to stand beside the others; below that they stack."""
INTERVAL = 0.25
"""Seconds between redraws of the lanes' headers while they stream."""

OUTCOME_MARK = {
    Outcome.FINISHED: ("✔ finished", "green"),
    Outcome.STOPPED: ("■ stopped", "yellow"),
    Outcome.INTERRUPTED: ("■ cut off", "yellow"),
    Outcome.FAILED: ("✖ failed", "red"),
}

KEEP_BINDINGS: list[BindingType] = [
    Binding(
        str(number),
        f"keep({number})",
        f"Keep lane {number}",
        id=f"race.keep-{number}",
        group=Binding.Group("Keep lane", compact=True),
        tooltip="its answer becomes the reply; the others stay as alternatives (‹ ›)",
    )
    for number in range(1, MAX_LANES + 1)
]


class LaneHeader(Static):
    """`1 · demo:demo-think · TTFT 350 ms · 80.0 tok/s · 205 tokens · ~$0.0031`."""

    DEFAULT_CSS = """
    LaneHeader {
        height: auto;
        padding: 0 1;
        background: $boost;
        color: $text-muted;
        &.-streaming { color: $text-accent; }
    }
    """


class Lane(Vertical):
    """One model's answer in the race: its header over the chat's answer view."""

    BINDINGS = [
        Binding(
            "k",
            "keep",
            "Keep this lane",
            id="race.keep-lane",
            tooltip="on a lane's answer once the race is over",
        )
    ]

    DEFAULT_CSS = """
    Lane {
        height: auto;
        & > AssistantMessage { margin: 0; }
    }
    """

    def __init__(self, number: int, label: str, *, structured: bool = False) -> None:
        super().__init__()
        self.number = number
        self.label = one_line(label)
        self.header = LaneHeader("", markup=False, classes="-streaming")
        self.answer = AssistantMessage(structured=structured)
        self.metrics_of: Callable[[], Metrics] | None = None
        self.outcome: Outcome | None = None
        self.price_per_token: float | None = None
        """USD an answer token costs (the model's output price), for the live cost."""
        self.cost: Cost | None = None
        """The final cost, once looked up."""
        self._stale = True
        self._shown: str | None = None

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.answer

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "keep":
            race = self.parent
            return isinstance(race, RaceView) and race.over
        return True

    def action_keep(self) -> None:
        self.post_message(RaceView.Keep(self.number))

    def changed(self) -> None:
        self._stale = True

    def draw(self, *, over: bool = False) -> None:
        """The header, when something changed (never a layout: one line)."""
        if not self._stale or self.metrics_of is None:
            return
        self._stale = False
        metrics = self.metrics_of()
        text = Text()
        text.append(f"{self.number} ", style="bold reverse")
        text.append(f" {self.label}", style="bold")
        parts = []
        if metrics.ttft_ms is None:
            parts.append("waiting for first token" if self.outcome is None else "no tokens")
        else:
            parts += [
                f"TTFT {fmt.ms(metrics.ttft_ms)}",
                fmt.rate(metrics.tokens_per_s),
                fmt.tokens(metrics),
            ]
            if self.cost is not None:
                parts.append(("~" if self.cost.estimated else "") + usd(self.cost.usd))
            elif self.price_per_token is not None:
                parts.append("~" + usd(metrics.tokens_received * self.price_per_token))
        text.append(" · " + " · ".join(parts))
        if self.outcome is not None:
            words, style = OUTCOME_MARK[self.outcome]
            text.append(" · ")
            text.append(words, style=style)
            if over and self.outcome is not Outcome.FAILED:
                text.append(f" · {self.number} keeps", style="dim")
        plain = text.plain
        if plain != self._shown:
            self._shown = plain
            self.header.update(text, layout=False)

    def ended(self, outcome: Outcome, error: str | None) -> None:
        self.outcome = outcome
        self._stale = True
        self.header.remove_class("-streaming")
        if outcome is Outcome.FAILED and error:
            text = Text("✖ ", style="bold")
            text.append_text(safe_text(error))
            self.mount(LaneError(text, markup=False))


class LaneError(Static):
    """A lane's failure, in its lane (the others go on)."""

    DEFAULT_CSS = """
    LaneError {
        border-left: outer $error;
        color: $text-error;
        background: $error-muted;
        padding: 0 1;
    }
    """


class RaceView(Vertical):
    """Every lane of one race; built before the race starts, filled as it runs."""

    can_focus = True
    BINDINGS = KEEP_BINDINGS

    DEFAULT_CSS = """
    RaceView {
        height: auto;
        margin: 0 0 1 0;
        &.-columns { layout: horizontal; }
        &.-columns > Lane { width: 1fr; margin: 0 1 0 0; }
        &.-columns > Lane:last-of-type { margin: 0; }
        &.-stacked > Lane { width: 1fr; margin: 0 0 1 0; }
        &:focus > Lane > LaneHeader { background: $accent 30%; }
    }
    """

    @dataclass
    class Keep(Message):
        """Keep lane `number` (from 1) as the conversation's reply."""

        number: int

    def __init__(self, labels: Sequence[str], *, structured: bool = False) -> None:
        super().__init__(classes="-columns")
        self.lanes = [
            Lane(number, label, structured=structured)
            for number, label in enumerate(labels, start=1)
        ]
        self.over = False
        """Every lane has ended: a lane may be kept."""
        self._clock: Timer | None = None
        self.gone: Callable[[RaceView], None] | None = None
        """Told when the view leaves the screen (kept, or the chat cleared)."""

    def compose(self) -> ComposeResult:
        yield from self.lanes

    def on_unmount(self) -> None:
        if self._clock is not None:
            self._clock.stop()
            self._clock = None
        if self.gone is not None:
            self.gone(self)

    def on_resize(self) -> None:
        self._arrange()

    def on_mount(self) -> None:
        self._arrange()

    def _arrange(self) -> None:
        width = self.size.width or (self.parent.size.width if self.parent else 0)
        columns = width >= COLUMN_WIDTH * len(self.lanes)
        self.set_class(columns, "-columns")
        self.set_class(not columns, "-stacked")

    # -- while racing ------------------------------------------------------------

    def start(self, messages: Sequence[Callable], metrics: Sequence[Callable[[], Metrics]]) -> None:
        """The lanes stream: each answer view reads its lane's message at its
        redraws, each header its metrics on the view's clock."""
        for lane, message_of, metrics_of in zip(self.lanes, messages, metrics, strict=True):
            lane.answer.start(message_of)
            lane.metrics_of = metrics_of
            lane.draw()
        self._clock = self.set_interval(INTERVAL, self._tick)

    def push(self, index: int, event: StreamEvent) -> None:
        """Lane `index`'s sink (from 0): queue, never render here."""
        lane = self.lanes[index]
        if not isinstance(event, Retrying):
            lane.answer.push(event)
        lane.changed()

    def _tick(self) -> None:
        for lane in self.lanes:
            lane.draw()

    def lane_done(self, index: int, message: object, metrics: Metrics, outcome: Outcome) -> None:
        """Lane `index` ended: its footer and outcome (the others go on)."""
        lane = self.lanes[index]
        lane.answer.finish(message, metrics)  # type: ignore[arg-type]
        lane.ended(outcome, getattr(message, "error", None))
        lane.draw()

    async def flush(self) -> None:
        """Every lane's queued text drawn, and its last block."""
        for lane in self.lanes:
            await lane.answer.flush()

    def finish(self, costs: Sequence[Cost | None]) -> None:
        """Every lane has ended: the clock stops, the costs and keys show."""
        if self._clock is not None:
            self._clock.stop()
            self._clock = None
        self.over = True
        for lane, cost in zip(self.lanes, costs, strict=False):
            lane.cost = cost
            if cost is not None:
                lane.answer.show_cost(cost)
            lane.changed()
            lane.draw(over=True)
        self.refresh_bindings()

    def action_keep(self, number: int) -> None:
        self.post_message(self.Keep(number))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "keep":
            number = int(parameters[0])  # type: ignore[call-overload]
            return self.over and number <= len(self.lanes)
        return True


def lane_of(widget: Widget | None) -> Lane | None:
    """The lane a widget is in (its answer, focused), if any."""
    while widget is not None:
        if isinstance(widget, Lane):
            return widget
        widget = widget.parent  # type: ignore[assignment]
    return None
