"""What the demo server saw and did per request, shared safely with the test thread.

The server runs in its own thread; tests read its records from theirs and
block until a record says something (a token sent, a disconnect noticed).
So every change goes through one condition variable, and readers only ever
get copies.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RecordBook", "RequestRecord"]


@dataclass
class RequestRecord:
    """What the server saw and did for one HTTP request.

    Timestamps are `time.perf_counter()` values, comparable with the test
    process's own perf_counter readings (same clock in every thread).
    `headers` has lower-cased names. Records handed out by the server are
    snapshots: they do not change after you get them.

    The server updates a record *before* handing the corresponding bytes to
    the socket, so once a client has read something (the last token, the end
    of the body) the record already accounts for it: no waiting needed to
    check `completed` or `tokens_sent` after a response has been read.
    """

    id: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    stream: bool = False
    received_at: float = 0.0
    first_token_at: float | None = None
    tokens_sent: int = 0
    disconnected_at: float | None = None
    completed: bool = False
    ended_at: float | None = None
    #: Which TCP connection carried the request (1, 2, ...): shows keep-alive reuse.
    connection: int = 0
    #: The fault this request consumed, if any.
    fault: str | None = None
    #: The model the request asked for (None if the body had none).
    model: str | None = None
    #: The HTTP version the request came in: "1.1", "1.0", or "2".
    http_version: str = "1.1"
    #: Body bytes handed to the socket (before any chunked or HTTP/2 framing).
    bytes_sent: int = 0
    #: The server has sent all it will and holds the response open until the
    #: client leaves (the `stall` and `finish_no_end` faults): once a client
    #: has read `bytes_sent` bytes, nothing more is coming.
    held: bool = False


class RecordBook:
    """Every request's live record, changed only under one lock and watched through it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._records: list[RequestRecord] = []
        self._count = 0

    def add(self, **fields: Any) -> RequestRecord:
        """A new live record, numbered in arrival order."""
        with self._cond:
            self._count += 1
            record = RequestRecord(id=self._count, **fields)
            self._records.append(record)
            self._cond.notify_all()
        return record

    def forget(self) -> None:
        """Drop the records of requests that have ended; numbering goes on."""
        with self._cond:
            self._records = [r for r in self._records if r.ended_at is None]

    def update(self, record: RequestRecord, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def mark_disconnected(self, record: RequestRecord, at: float | None = None) -> None:
        """Note when the client left, unless an earlier moment is already noted."""
        with self._cond:
            if record.disconnected_at is None:
                record.disconnected_at = time.perf_counter() if at is None else at
            self._cond.notify_all()

    def snapshots(self) -> list[RequestRecord]:
        with self._cond:
            return [dataclasses.replace(r) for r in self._records]

    def wait_for(
        self, predicate: Callable[[RequestRecord], Any], timeout: float = 5.0
    ) -> RequestRecord:
        """Block until some record satisfies `predicate`; return a snapshot of it.

        The predicate runs under the lock against live records, so it sees each
        update exactly as the server makes it; keep it cheap.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self._records:
                    if predicate(record):
                        return dataclasses.replace(record)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no request matched within {timeout} s")
                self._cond.wait(remaining)
