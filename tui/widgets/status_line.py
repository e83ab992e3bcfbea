"""The live metrics line: elapsed, TTFT once known, tokens so far, tokens/s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.widgets import Static

if TYPE_CHECKING:
    from tokentide.client.events import Retrying
    from tokentide.client.meter import Metrics

from .. import format as fmt

INTERVAL = 0.5
"""Seconds between redraws while an answer streams: counters read twice a
second still look live."""
WITH_FRAME = 0.35
"""Once this long has passed since the last redraw, the answer's next frame
(`frame`; one comes at least every 0.1 s while text arrives) redraws the line
too, and both reach the screen in one update; on its own clock each redraw
was an update of its own (37 in a 20 s answer). The clock redraws only when
no frame came (waiting for the first token, a pause, a thinking model)."""


class StatusLine(Static):
    """Keeps its own clock for elapsed time; metrics are taken only after an
    event was pushed (`changed`), at most once per tick."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        &.-streaming { color: $text-accent; }
    }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False, id="status")
        self._metrics_of: Callable[[], Metrics] | None = None
        self._metrics: Metrics | None = None
        self._stale = False
        self._started = 0.0
        self._drawn_at = 0.0  # perf_counter
        self._clock: Timer | None = None
        self._retry: tuple[float, Retrying] | None = None
        """When the next try goes out, and why there is one."""

    def idle(self, text: str) -> None:
        self._stop_clock()
        self._retry = None
        self._metrics_of = self._metrics = None
        self.remove_class("-streaming")
        self.update(text)

    def streaming(self, metrics_of: Callable[[], Metrics]) -> None:
        """An answer started; `metrics_of` gives its metrics when something changed."""
        self._stop_clock()
        self._metrics_of, self._metrics = metrics_of, None
        self._stale = True
        self._started = time.monotonic()
        self.add_class("-streaming")
        self._clock = self.set_interval(INTERVAL, self._tick)
        self._draw()

    def retrying(self, event: Retrying) -> None:
        """The request was refused; it goes out again after `event.delay`."""
        self._retry = (time.monotonic() + event.delay, event)
        self._draw()

    def changed(self) -> None:
        """An event arrived: the next tick takes fresh metrics."""
        self._stale = True

    def frame(self) -> None:
        """The answer is drawing a frame: redraw with it if a redraw is near."""
        if self._clock is not None and perf_counter() - self._drawn_at >= WITH_FRAME:
            self._draw()

    def _tick(self) -> None:
        if perf_counter() - self._drawn_at >= INTERVAL - 0.05:  # no frame drew it
            self._draw()

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.stop()
            self._clock = None

    def _draw(self) -> None:
        if self._metrics_of is None:
            return
        self._drawn_at = perf_counter()  # real time: what the line shows may keep another clock
        if self._stale or self._metrics is None:
            self._stale = False
            self._metrics = self._metrics_of()
        metrics = self._metrics
        if self._retry is not None:
            until, event = self._retry
            left = until - time.monotonic()
            if left > 0:
                self.update(
                    f"↻ retrying in {math.ceil(left)} s ({event.reason}) · "
                    f"try {event.attempt + 1} of {event.of + 1} · Esc cancels",
                    layout=False,
                )
                return
            self._retry = None
        parts = [f"● streaming {time.monotonic() - self._started:.1f} s"]
        if metrics.ttft_ms is None:
            parts.append("waiting for first token")
        else:
            parts.append(f"TTFT {fmt.ms(metrics.ttft_ms)}")
            parts.append(fmt.tokens(metrics))
            parts.append(fmt.rate(metrics.tokens_per_s))
        parts.append("Esc stops")
        # One line, always: no layout of the whole screen ten times a second.
        self.update(" · ".join(parts), layout=False)
