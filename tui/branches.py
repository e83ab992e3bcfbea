"""A conversation as a tree: regenerated answers and edited prompts are kept.

Regenerating an answer adds another answer to the same prompt; editing a
prompt adds another prompt after the same answer (and what followed the old
one stays with it). At every place one alternative is *chosen*: the chosen
ones, from the first prompt down, are the path the app shows and sends as
context. Switching an alternative changes the path from there on, each
branch keeping its own choices further down (as ChatGPT does).

    tree = Branches()
    plan = tree.follow_up("hello")        # where the next answer goes
    plan.answer.turn = Turn(..., history=plan.history)
    tree.regenerate(0)                    # another answer to "hello"
    tree.switch(0, ANSWER, -1)            # back to the first one

No Textual here, and no SQL: the history stores the same tree as
`parent_id` and `chosen` columns (tui/store.py, m006_branches), and the row
ids of a live turn are filled in by the history's writer thread.

A failed answer is an alternative only while it is chosen (or followed by
later turns): retrying a failure replaces it rather than adding "‹ 1/2 ›"
for an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tokentide.client.events import Message
from tokentide.client.meter import Metrics

from .turn import Exchange, Outcome, PastTurn

Level = Literal["answer", "prompt"]
ANSWER: Level = "answer"
"""Alternatives of an answer: regenerations of the same prompt."""
PROMPT: Level = "prompt"
"""Alternatives of a prompt: edits sent after the same answer."""


@dataclass(eq=False)
class Prompt:
    """A prompt and the answers it was given."""

    text: str
    parent: Answer | None
    """The answer it follows (None: a first prompt)."""
    row_id: int | None = None
    """Its row in the history, once written (set in the history's thread)."""
    answers: list[Answer] = field(default_factory=list)
    chosen: int = 0

    def parent_row(self) -> int | None:
        """The row this prompt's row follows in the history."""
        return self.parent.hangs() if self.parent is not None else None


@dataclass(eq=False)
class Answer:
    """One answer to a prompt, and the prompts that followed it."""

    prompt: Prompt
    turn: Exchange | None = None
    """The prompt and this answer as sent again as context (a live `Turn`, or a
    `PastTurn` from the history); None only until the screen makes the turn."""
    metrics: Metrics | None = None
    """Its numbers once it ended (None: it never started)."""
    interrupted: bool = False
    """Stored as cut off by the app closing (the footer says so)."""
    row_id: int | None = None
    follow: list[Prompt] = field(default_factory=list)
    chosen: int = 0

    def hangs(self) -> int | None:
        """The row a following prompt names as its parent: this answer's, or
        its prompt's when the answer never got a row (the app closed first)."""
        return self.row_id if self.row_id is not None else self.prompt.row_id

    @property
    def failed(self) -> bool:
        return self.turn is None or self.turn.outcome is Outcome.FAILED


@dataclass
class Plan:
    """Where the next answer goes, made before it is sent."""

    index: int
    """Its place on the path (0: the first exchange)."""
    history: list[Exchange]
    """The exchanges before it: the request's context."""
    prompt: Prompt
    answer: Answer
    new_prompt: bool
    """A prompt is added (and drawn); False: another answer to one already there."""
    continues: str | None = None
    """The answer so far, continued in place (assistant prefill)."""


def unanswered(prompt: Prompt) -> Answer:
    """The answer of a prompt that never got one (the app closed first): it
    keeps the prompt in the path and carries what followed it."""
    turn = PastTurn(Message("user", prompt.text), Message("assistant"), Outcome.FAILED)
    return Answer(prompt, turn)


class Branches:
    """The open conversation's tree (empty for a new chat)."""

    def __init__(self) -> None:
        self.first: list[Prompt] = []
        """The alternatives of the first prompt."""
        self.chosen = 0

    # -- reading -------------------------------------------------------------

    def path(self) -> list[Answer]:
        """The chosen answers, first to last: what is shown and sent."""
        answers: list[Answer] = []
        prompts, chosen = self.first, self.chosen
        while prompts:
            prompt = prompts[min(chosen, len(prompts) - 1)]
            if not prompt.answers:
                break
            answer = prompt.answers[min(prompt.chosen, len(prompt.answers) - 1)]
            answers.append(answer)
            prompts, chosen = answer.follow, answer.chosen
        return answers

    def alternatives(self, index: int, level: Level) -> tuple[int, int]:
        """(which, how many) at the path's `index`: `which` counts from 1."""
        path = self.path()
        if not 0 <= index < len(path):
            return (1, 1)
        if level == ANSWER:
            prompt = path[index].prompt
            return (prompt.chosen + 1, len(prompt.answers))
        siblings, chosen = self._prompts_at(path, index)
        return (chosen + 1, len(siblings))

    def _prompts_at(self, path: list[Answer], index: int) -> tuple[list[Prompt], int]:
        parent = path[index - 1] if index > 0 else None
        if parent is None:
            return self.first, self.chosen
        return parent.follow, parent.chosen

    # -- adding ----------------------------------------------------------------

    def follow_up(self, text: str) -> Plan:
        """A new prompt after the last answer."""
        path = self.path()
        return self._add_prompt(path, len(path), text)

    def edit(self, index: int, text: str) -> Plan:
        """Another prompt in place of the one at `index`; what followed the old
        one stays on its branch."""
        return self._add_prompt(self.path(), index, text)

    def _add_prompt(self, path: list[Answer], index: int, text: str) -> Plan:
        parent = path[index - 1] if index > 0 else None
        prompt = Prompt(text, parent)
        answer = Answer(prompt)
        prompt.answers.append(answer)
        if parent is None:
            self.first.append(prompt)
            self.chosen = len(self.first) - 1
        else:
            parent.follow.append(prompt)
            parent.chosen = len(parent.follow) - 1
        return Plan(index, _turns(path[:index]), prompt, answer, new_prompt=True)

    def regenerate(self, index: int, *, continues: str | None = None) -> Plan:
        """Another answer to the prompt at `index` (the old one is kept as an
        alternative, with whatever followed it). With `continues`, the new
        answer starts with that text and the model goes on from it."""
        path = self.path()
        prompt = path[index].prompt
        answer = Answer(prompt)
        prompt.answers.append(answer)
        prompt.chosen = len(prompt.answers) - 1
        prune(prompt)
        return Plan(
            index, _turns(path[:index]), prompt, answer, new_prompt=False, continues=continues
        )

    # -- switching -------------------------------------------------------------

    def switch(self, index: int, level: Level, step: int) -> Prompt | Answer | None:
        """Choose the next (`step` 1) or previous (-1) alternative at the path's
        `index`; the one chosen now, or None when there is no other."""
        path = self.path()
        if not 0 <= index < len(path):
            return None
        if level == ANSWER:
            prompt = path[index].prompt
            if len(prompt.answers) < 2:
                return None
            chosen = prompt.answers[(prompt.chosen + step) % len(prompt.answers)]
            prompt.chosen = prompt.answers.index(chosen)
            prune(prompt)
            return chosen
        siblings, chosen_at = self._prompts_at(path, index)
        if len(siblings) < 2:
            return None
        picked = siblings[(chosen_at + step) % len(siblings)]
        parent = path[index - 1] if index > 0 else None
        if parent is None:
            self.chosen = siblings.index(picked)
        else:
            parent.chosen = siblings.index(picked)
        return picked


def prune(prompt: Prompt) -> None:
    """Drop the failed answers not chosen that nothing follows: a failure is
    worth showing until it is retried, not as an alternative afterwards."""
    if not prompt.answers:
        return
    chosen = prompt.answers[min(prompt.chosen, len(prompt.answers) - 1)]
    prompt.answers = [
        answer
        for answer in prompt.answers
        if answer is chosen or answer.follow or not answer.failed
    ]
    prompt.chosen = prompt.answers.index(chosen)


def _turns(answers: list[Answer]) -> list[Exchange]:
    return [answer.turn for answer in answers if answer.turn is not None]
