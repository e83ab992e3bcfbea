"""Act on the stop key in the terminal's input thread.

Textual parses keys in a thread and hands them to the event loop. While an
answer streams, the loop can be busy rendering for tens of milliseconds at a
time, and the Esc waits its turn; a fast stream with long code blocks pushed
key-to-EOF past 250 ms in tmux. This driver notices Esc (and Ctrl+C) as
soon as the parser emits it and lets the app shut the stream's socket down
from the input thread (`AnswerStream.abort`), so the provider stops at once;
the key still goes on to the app, which cancels the worker and records the
stop as usual.
"""

from __future__ import annotations

from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

STOP_KEYS = frozenset({"escape", "ctrl+c"})


class StopKeyDriver(LinuxDriver):
    def process_message(self, message: Message) -> None:
        # Runs in the input thread: the app's hook must be thread-safe and quick.
        if isinstance(message, events.Key) and message.key in STOP_KEYS:
            hook = getattr(self._app, "stop_key_pressed", None)
            if hook is not None:
                hook()
        super().process_message(message)
