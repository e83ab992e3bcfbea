"""SIGTERM and SIGHUP: end like a stop, keep the answer, say so, exit 128 + N.

A service manager or `kill` stopping tokentide (SIGTERM), or its terminal
going away (SIGHUP: a closed window, a dropped ssh session), must not lose
the answer in flight nor leave the provider generating (and billing). Python's
default is to die on the spot: exit -15 with nothing said, the history row
left 'streaming' until some later start marks it, the app's terminal left in
raw mode on the alternate screen. Instead the connection is shut down at once
(the server sees EOF), the partial answer is stored as *interrupted* - not as
a stop the user chose in the app - the terminal is restored, and the process
exits as a shell expects of a signalled program, 128 + the signal's number,
with one line on stderr.

No Textual here: `ask` uses this too and must start fast.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .exit_codes import ExitCode
from .format import count

if TYPE_CHECKING:
    from tokentide.client.events import Message
    from tokentide.client.meter import Metrics

    from .turn import Outcome

TERMINATING: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP)
"""The signals that end tokentide the orderly way (SIGINT is the user's Ctrl-C: a stop)."""


@dataclass
class Interruption:
    """Which terminating signal arrived, if any, and what it cut short.

    Set on the event loop by the signal handler, read by the turn's `on_done`
    (which may run before or after the handler's clean-up: so `signum` is
    set first, synchronously) and by whoever prints the last line.
    """

    signum: int | None = None
    tokens: int | None = None
    """Tokens of the answer the signal cut short; None if none was streaming."""

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "?"

    @property
    def exit_code(self) -> ExitCode:
        """128 + the signal's number, as a shell reports a signalled program:
        143 for SIGTERM, 129 for SIGHUP."""
        assert self.signum is not None
        return ExitCode(128 + self.signum)

    def mark(self, message: Message, metrics: Metrics, outcome: Outcome) -> Outcome:
        """The outcome to record for a turn that just ended (the turn's `on_done`).

        An answer stopped after the signal was not the user's choice: it is
        interrupted, and its error says by what, for `history show` and
        `--json`. Any other ending (finished, failed) is left as it is.
        """
        from .turn import Outcome

        if self.signum is None or outcome is not Outcome.STOPPED:
            return outcome
        message.interrupted, message.cancelled = True, False  # not the user's stop
        message.error = f"stopped by {self.name}"
        self.tokens = metrics.tokens_received
        return Outcome.INTERRUPTED

    def line(self) -> str:
        """The one line for stderr, without the `tokentide: ` prefix."""
        if self.tokens is None:
            return f"stopped by {self.name}"
        if self.tokens == 0:
            return f"stopped by {self.name} before the first token"
        return f"stopped by {self.name} · partial answer kept ({count(self.tokens)})"


@contextmanager
def on_signals(
    on_interrupt: Callable[[], None], on_terminate: Callable[[int], None]
) -> Iterator[None]:
    """Ctrl-C (`on_interrupt()`) and SIGTERM/SIGHUP (`on_terminate(signum)`)
    handled on the running loop for the block's length, the previous handling
    put back after. The handlers run in the loop, between two of its steps, so
    they may shut sockets down and cancel tasks; where the loop cannot take
    signal handlers (Windows), the block runs without them."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        for signum in TERMINATING:
            loop.add_signal_handler(signum, on_terminate, signum)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
        yield
        return
    try:
        yield
    finally:
        for signum in (signal.SIGINT, *TERMINATING):
            loop.remove_signal_handler(signum)
