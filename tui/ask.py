"""`tokentide ask`: one answer streamed to stdout, for people and pipelines.

stdout gets the answer text and nothing else (exactly the text when it is not
a terminal; with --json, one JSON object instead). Everything for the human -
notices, stats, the cancel line, errors - goes to stderr, so
`tokentide ask "..." | less` and `$(tokentide ask ...)` stay clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tokentide.client.accumulate import parse_final
from tokentide.client.config import Settings
from tokentide.client.events import (
    Message,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    TextDelta,
    ToolCall,
)
from tokentide.client.meter import Metrics
from tokentide.client.stream import ChatClient

from .demo import demo_endpoint
from .exit_codes import ExitCode
from .format import count, stats_line
from .json_pieces import pieces
from .recorder import Recording
from .report import Stdout, note, print_traceback
from .safe_text import SafeStream, terminal_json, terminal_safe
from .signals import Interruption, on_signals
from .store import HISTORY_ERRORS, Store
from .terminal_markdown import TerminalMarkdown, terminal_size
from .turn import Outcome, Params, Turn

if TYPE_CHECKING:
    from .live_json import LiveJson


@dataclass
class AskOptions:
    prompt: str
    params: Params = Params()  # noqa: RUF009 - frozen
    json: bool = False
    raw: bool = False
    """Plain text on a terminal too (Markdown is rendered there otherwise)."""
    log: bool = True
    """Record the exchange in the history (`--no-log` skips it)."""
    stats: bool = False
    debug: bool = False


def run_ask(settings: Settings, options: AskOptions) -> int:
    with demo_endpoint(settings) as settings:
        return asyncio.run(_ask(settings, options))


async def _ask(settings: Settings, options: AskOptions) -> int:
    out = _Output(sys.stdout, sys.stderr, silent=options.json, markdown=not options.raw)
    structured = options.params.output_schema is not None
    if structured and not options.json:
        from .live_json import LiveJson  # rich's Live and JSON: only when asked for

        out.structured = LiveJson(_Through(out), tty=out.tty)

    def show(event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            if out.structured is not None:
                out.structured.write(event.text)
            else:
                out.text(event.text)
        elif isinstance(event, ReasoningDelta):
            out.reasoning(event.text)
        elif isinstance(event, Retrying):
            out.note(
                f"retrying in {math.ceil(event.delay)} s ({event.reason}), try {event.attempt + 1} "
                f"of {event.of + 1} · Ctrl-C cancels"
            )
        if out.closed:
            turn.abort()  # nobody can read the rest (`| head`, a full disk): stop generating

    recording = _recording(settings, options, out) if options.log else None
    interruption = Interruption()

    def done(message: Message, metrics: Metrics, outcome: Outcome) -> None:
        outcome = interruption.mark(message, metrics, outcome)  # SIGTERM/SIGHUP: interrupted
        if recording is not None:
            recording.done(message, metrics, outcome)

    hooks: dict[str, Any] = {"sink": show, "on_done": done}
    history_tokens = None
    if recording is not None:
        hooks = {
            "sink": lambda event: (show(event), recording.event(event)),
            "checkpoint": recording.checkpoint,
            "on_done": done,
        }
        history_tokens = recording.expected_tokens()
    client = ChatClient(
        settings.endpoint,
        timeouts=settings.timeouts,
        retries=settings.retries,
        limits=settings.limits,
    )
    async with client:
        turn = Turn(
            client,
            settings,
            options.prompt,
            params=options.params,
            history_tokens=history_tokens,
            **hooks,
        )
        if recording is not None:
            recording.turn = turn
            await recording.prompt(options.prompt)
        with _stop_on_signals(turn, interruption):
            try:
                outcome = await turn.run()
            except asyncio.CancelledError:
                outcome = turn.outcome or Outcome.STOPPED  # Ctrl-C after the end changes nothing
        if recording is not None:
            await recording.written()
    out.end_text(complete=outcome is Outcome.FINISHED)
    message, metrics = turn.message, turn.metrics()
    invalid = None
    if out.structured is not None:
        _, invalid = out.structured.finish(complete=outcome is Outcome.FINISHED)
    if options.json:
        body = answer_json(message, metrics, structured=structured)
        invalid = body.get("output_error")
        for piece in pieces(body):  # never the whole answer escaped at once (json_pieces)
            out.write(terminal_json(piece) if out.tty else piece)
        out.write("\n")
    if interruption.signum is not None:
        out.note(interruption.line())  # the one line; the answer so far is printed and stored
        return interruption.exit_code
    if out.write_error:
        out.note(f"error: cannot write the answer: {out.write_error}")
        return ExitCode.ERROR
    if out.closed:
        return ExitCode.BROKEN_PIPE
    for warning in message.warnings:
        out.note(warning)
    if not options.json:
        for call in message.tool_calls:
            out.note(terminal_safe(tool_call_line(call)))
    code = ExitCode.OK
    if outcome is Outcome.STOPPED:
        out.note(f"cancelled after {count(metrics.tokens_received)}, ~{metrics.saved or 0} saved")
        code = ExitCode.CANCELLED
    elif outcome in (Outcome.FAILED, Outcome.INTERRUPTED):
        if options.debug and turn.error is not None:
            print_traceback(turn.error, settings.endpoint.secrets)
        out.note(f"error: {message.error}")
        code = ExitCode.ERROR
    elif invalid is not None:
        out.note(f"the answer is not the JSON the schema asked for: {invalid}")
        code = ExitCode.ERROR
    elif message.finish_reason is None:
        out.note("the server ended the answer without a finish reason: it may be cut off")
    elif message.finish_reason == "length":
        out.note("stopped at the token limit (finish reason: length)")
    if options.stats:
        out.note(stats_line(metrics))
    return code


def _recording(settings: Settings, options: AskOptions, out: _Output) -> Recording | None:
    """This exchange in the history, as a new conversation; none (and one line
    on stderr) if the history cannot be opened: the answer matters more."""
    try:
        store = Store.open()
    except HISTORY_ERRORS as exc:
        out.note(f"history not saved: {exc}")
        return None
    return Recording(store, None, settings, options.params, warn=lambda line: out.note(line))


def tool_call_line(call: ToolCall) -> str:
    """`tool call: f({"a": 1})`; arguments that are not JSON are shown raw,
    and the line says so: they are not a call anything could run as is."""
    line = f"tool call: {call.name}({call.arguments_raw})"
    return f"{line} — {call.parse_error} (raw text shown)" if call.parse_error else line


def answer_json(message: Message, metrics: Metrics, *, structured: bool = False) -> dict[str, Any]:
    """The answer as one JSON object, the same shape from every wire format.

    With a JSON Schema asked for, `output` is the strictly parsed answer and
    `output_error` says why there is none; `text` keeps what was sent.
    """
    usage = message.usage
    extra: dict[str, Any] = {}
    if structured:
        output, error = parse_final(message.text) if message.text.strip() else (None, "empty")
        extra = {"output": output if error is None else None, "output_error": error}
    return {
        "model": message.model,
        "text": message.text,
        "reasoning": message.reasoning,
        "tool_calls": [call.to_dict() for call in message.tool_calls],
        "finish_reason": message.finish_reason,
        "native_finish_reason": message.native_finish_reason,
        "usage": {
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": metrics.tokens_received,
            "reasoning_tokens": usage.reasoning_tokens if usage else None,
            "estimated": metrics.estimated,
        },
        "metrics": metrics.to_dict(),
        "cancelled": message.cancelled,
        "interrupted": message.interrupted,
        "tokens_saved": metrics.saved,
        "error": message.error,
        **extra,
    }


class _Output:
    """Writes the answer as it arrives; sanitises it only for a terminal."""

    def __init__(self, stdout: TextIO, stderr: TextIO, *, silent: bool, markdown: bool) -> None:
        self.stdout, self.stderr = stdout, stderr
        for stream in (stdout, stderr):
            # A locale that cannot encode the answer gets "?" for what it cannot show.
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(errors="replace")  # type: ignore[attr-defined]
        self.silent = silent
        self.tty = stdout.isatty()
        self.err_tty = stderr.isatty()
        self.last = ""
        self.in_reasoning = False
        self._stdout = Stdout(stdout)
        self.answering = False
        self.structured: LiveJson | None = None
        """The answer as a growing JSON value (`--json-schema`), instead of text."""
        self._answer_safe = SafeStream()
        self._reasoning_safe = SafeStream()
        self.markdown: TerminalMarkdown | None = None
        if markdown and self.tty and not silent:
            width, height = terminal_size(stdout)
            self.markdown = TerminalMarkdown(_Through(self), width=width, height=height)

    def text(self, text: str) -> None:
        if self.silent or self.closed:
            return
        self._close_reasoning()
        self.answering = True
        if self.markdown is not None:
            self.markdown.write(self._answer_safe.feed(text))
            return
        self.write(self._answer_safe.feed(text) if self.tty else text)
        self.last = text[-1:] or self.last

    def write(self, text: str) -> None:
        self._stdout.write(text)

    @property
    def closed(self) -> bool:
        """stdout can take no more: its reader went away, or writing failed."""
        return self._stdout.closed

    @property
    def write_error(self) -> str | None:
        """Why writing failed, when it was not the reader going away."""
        return self._stdout.error

    def reasoning(self, text: str) -> None:
        # Reasoning is for a person watching: never in a pipeline's stdout,
        # and not in the middle of an answer being drawn.
        if self.silent or not self.err_tty or (self.markdown and self.answering):
            return
        if not self.in_reasoning:
            self.stderr.write("\x1b[2m")
            self.in_reasoning = True
        self.stderr.write(self._reasoning_safe.feed(text))
        self.stderr.flush()

    def _close_reasoning(self) -> None:
        if self.in_reasoning:
            self.stderr.write(self._reasoning_safe.flush() + "\x1b[0m\n")
            self.in_reasoning = False

    def end_text(self, *, complete: bool) -> None:
        self._close_reasoning()
        if self.markdown is not None:
            if held := self._answer_safe.flush():
                self.markdown.write(held)
            if complete:
                self.markdown.finish()
            else:
                self.markdown.stop()
            return
        if self.tty and not self.silent and (held := self._answer_safe.flush()):
            self.write(held)
        if self.tty and not self.silent and self.last and self.last != "\n":
            self.write("\n")

    def note(self, line: str) -> None:
        # Notes quote the server (errors, tool calls, model names): a log file
        # gets them as safely as a terminal, and they are never data.
        note(line, self.stderr)


@contextmanager
def _stop_on_signals(turn: Turn, interruption: Interruption) -> Iterator[None]:
    """Ctrl-C cancels the running task, so the stream closes its connection
    in the normal cancellation path (the same one Esc uses in the app).

    SIGTERM and SIGHUP take the same path, after shutting the socket down
    from the handler (the server sees EOF before anything else runs), and
    are remembered in `interruption`: the answer is recorded as interrupted
    and the exit code is 128 + the signal (see tui/signals.py)."""
    task = asyncio.current_task()
    assert task is not None

    def terminate(signum: int) -> None:
        if interruption.signum is None:
            interruption.signum = signum
        turn.abort()
        if turn.outcome is None:  # once the answer has ended there is nothing to cancel
            task.cancel()

    with on_signals(task.cancel, terminate):
        yield


class _Through:
    """A file for the Markdown renderer that writes through `_Output`, so a
    closed terminal is handled like a closed pipe."""

    def __init__(self, output: _Output) -> None:
        self._output = output

    def write(self, text: str) -> int:
        self._output.write(text)
        return len(text)

    def flush(self) -> None:
        pass
