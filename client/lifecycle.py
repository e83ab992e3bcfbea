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

    @property
    def ended(self) -> bool:
        return self in (State.FINISHED, State.CANCELLED, State.FAILED)
