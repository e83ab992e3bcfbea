"""What this session has cost and saved, for the idle status line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokentide.client.events import Message
    from tokentide.client.meter import Metrics

from .format import count


@dataclass
class SessionTotals:
    answers: int = 0
    tokens: int = 0
    estimated: bool = False
    stopped: int = 0
    saved: int = 0
    failed: int = 0
    cut_off: int = 0

    def add(self, message: Message, metrics: Metrics) -> None:
        if message.interrupted:
            self.answers += 1  # a partial answer, kept and sent back
            self.cut_off += 1
        elif message.error:
            self.failed += 1
        else:
            self.answers += 1
        self.tokens += metrics.tokens_received
        self.estimated = self.estimated or (metrics.estimated and metrics.tokens_received > 0)
        if metrics.saved is not None:
            self.stopped += 1
            self.saved += metrics.saved

    def describe(self) -> str:
        if not (self.answers or self.failed):
            return "ready"
        mark = "~" if self.estimated else ""
        parts = [
            count(self.answers, "answer"),
            mark + count(self.tokens),
        ]
        if self.stopped:
            parts.append(f"{self.stopped} stopped, ~{self.saved} tokens saved")
        if self.cut_off:
            parts.append(f"{self.cut_off} cut off")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return "session: " + " · ".join(parts)
