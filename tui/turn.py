"""One turn: a prompt, its request, its answer streamed to a sink, one ending.

The app, `tokentide ask` (and later the race) all run their answers through
`Turn`, so the request is built, the expected length is computed, the
answer is streamed, checkpointed and finalised in exactly one way:

    turn = Turn(client, settings, "hello", history=earlier_turns,
                sink=show, on_done=record, checkpoint=save)
    await turn.run()          # every event -> sink; then on_done, once

`sink` gets every event as it arrives and must be quick (queue, don't
render). `checkpoint` gets the turn at most `CHECKPOINT_INTERVAL` apart while
it streams, so a crash loses a fraction of a second of an answer, not all
of it. `on_done(message, metrics, outcome)` is called exactly once, however
the turn ends: finished, stopped (Esc, Ctrl-C, a closed pipe), cut off or
failed; a
caller whose task may be cancelled before `run` starts calls `abandon()`
when the task is done, which records that turn as stopped.

No Textual here: `ask` must start fast.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tokentide.client.config import Settings
from tokentide.client.errors import ApiError
from tokentide.client.events import Message, StreamEvent
from tokentide.client.lifecycle import State
from tokentide.client.meter import Expectation, Metrics, expectation
from tokentide.client.request import ChatRequest

from .params import Params

if TYPE_CHECKING:
    from tokentide.client.stream import ChatClient

CHECKPOINT_INTERVAL = 0.25
"""Seconds between checkpoints of a streaming answer (at most 4 a second)."""


class Outcome(enum.Enum):
    FINISHED = "finished"
    """The server ended the answer (its finish reason says how: stop, length, …)."""
    STOPPED = "stopped"
    """The user stopped it; what arrived is kept, the rest counts as saved."""
    FAILED = "failed"
    """A request or stream error; what arrived is kept, not sent back."""
    INTERRUPTED = "interrupted"
    """Cut off: the stream ended before the answer did (or the app closed
    mid-answer). What arrived is kept and sent back, like a stopped answer;
    no tokens count as saved: nobody chose to stop it."""


_OUTCOMES = {
    State.FINISHED: Outcome.FINISHED,
    State.CANCELLED: Outcome.STOPPED,
    State.FAILED: Outcome.FAILED,
    State.CUT_OFF: Outcome.INTERRUPTED,
}


class Exchange(Protocol):
    """A prompt and its answer: a `Turn`, or a `PastTurn` loaded from the history."""

    prompt: Message
    outcome: Outcome | None

    @property
    def message(self) -> Message: ...


@dataclass
class PastTurn:
    """A turn of a conversation reopened from the history."""

    prompt: Message
    message: Message
    outcome: Outcome | None


Sink = Callable[[StreamEvent], None]
OnDone = Callable[[Message, Metrics, Outcome], None]
Checkpoint = Callable[["Turn"], None]


def _ignore(*_: object) -> None:
    pass


NO_PARAMS = Params()
"""Every setting left to the provider (a frozen dataclass: one serves every turn)."""


class Turn:
    """A prompt and its answer, from the request to the one `on_done`."""

    def __init__(
        self,
        client: ChatClient,
        settings: Settings,
        prompt: str,
        *,
        history: Sequence[Exchange] = (),
        params: Params = NO_PARAMS,
        history_tokens: int | None = None,
        sink: Sink = _ignore,
        on_done: OnDone = _ignore,
        checkpoint: Checkpoint | None = None,
        continues: str | None = None,
    ) -> None:
        self.prompt = Message("user", prompt)
        self.continues = continues
        """The answer so far, which this turn continues in place (assistant
        prefill): `message` is it plus what streams now, so the history and
        the next context get one answer."""
        messages = [*context(history), self.prompt]
        if continues is not None:
            messages.append(Message("assistant", continues))
        self.request = ChatRequest(
            model=settings.endpoint.model,
            messages=messages,
            system=settings.system,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stream=params.stream,
            tools=list(params.tools),
            output_schema=params.output_schema,
            thinking=params.thinking,
            prefill=continues is not None,
        )
        self.expected: Expectation = expectation(
            params.max_tokens, history_tokens, settings.expected_tokens
        )
        self.answer = client.stream(self.request, expected=self.expected)
        self.outcome: Outcome | None = None
        """None while the turn runs; set just before `on_done`."""
        self._sink = sink
        self._on_done = on_done
        self._checkpoint = checkpoint

    @property
    def message(self) -> Message:
        message = self.answer.message
        if self.continues is None:
            return message
        return dataclasses.replace(message, text=self.continues + message.text)

    def metrics(self) -> Metrics:
        return self.answer.metrics()

    @property
    def error(self) -> ApiError | None:
        return self.answer.error

    async def run(self) -> Outcome:
        """Stream the answer into the sink; end in `on_done`.

        A request or stream error is an outcome, not an exception. A
        cancelled task is recorded as stopped and the cancellation goes on.
        """
        if self.outcome is not None:
            return self.outcome  # abandoned before it ran
        sink, checkpoint = self._sink, self._checkpoint
        due = time.monotonic() + CHECKPOINT_INTERVAL
        try:
            async with self.answer:
                async for event in self.answer:
                    sink(event)
                    if checkpoint is not None and (now := time.monotonic()) >= due:
                        due = now + CHECKPOINT_INTERVAL
                        checkpoint(self)
        except ApiError:
            pass  # recorded on the answer; on_done reports it
        finally:
            self._end()
        assert self.outcome is not None
        return self.outcome

    def abort(self) -> None:
        """Stop from any thread: the connection is shut down at once."""
        self.answer.abort()

    def abandon(self) -> None:
        """End a turn whose `run` never started (its task was cancelled first);
        a turn that started ends in `run`, and this does nothing."""
        if self.answer.state is State.PENDING:
            self.answer.abandon()
            self._end()

    def _end(self) -> None:
        if self.outcome is not None:
            return
        self.outcome = _OUTCOMES.get(self.answer.state, Outcome.STOPPED)
        self._on_done(self.message, self.metrics(), self.outcome)


def can_continue_in_place(settings: Settings, params: Params) -> bool:
    """Whether this provider and model continue a stopped answer in place
    (assistant prefill, decided by each wire format); if not, Continue asks
    for the rest with a visible turn (`CONTINUE_PROMPT`)."""
    from tokentide.client.providers import wire_format

    probe = ChatRequest(model=settings.endpoint.model, messages=[], thinking=params.thinking)
    return wire_format(settings.endpoint.wire).can_prefill(probe)


CONTINUE_PROMPT = "Continue exactly where you stopped."
"""The visible turn that asks for the rest of an answer where it cannot be
continued in place."""


def context(history: Sequence[Exchange]) -> list[Message]:
    """The turns sent with the next request.

    A failed turn is left out whole: its prompt is what the user will retry.
    Tools are not run here, so an assistant turn's tool calls would go out
    unanswered, and OpenAI rejects a history like that: send the text only.
    An answer with no text (stopped before the first token, or tool calls
    alone) is left out.
    """
    messages: list[Message] = []
    for turn in history:
        if turn.outcome is None or turn.outcome is Outcome.FAILED:  # in flight, or failed
            continue
        messages.append(turn.prompt)
        if text := turn.message.text:
            messages.append(Message("assistant", text))
    return messages
