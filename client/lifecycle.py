"""The states an answer goes through (settled in one place: `AnswerStream._settle`).

Apart from stream.py so that code which only reads a state (the turn runner,
a UI) does not import httpx to do so.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    PENDING = "pending"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    CUT_OFF = "cut_off"
    """The stream ended before the answer did (no finish reason, no end
    marker, a connection that broke mid-answer): what arrived is kept."""

    @property
    def ended(self) -> bool:
        return self in (State.FINISHED, State.CANCELLED, State.FAILED, State.CUT_OFF)
