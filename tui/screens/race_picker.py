"""The palette's "Race models…": pick 2 to 6 of the model picker's models.

The same list as Ctrl+O (every configured provider's models, the demo's,
searchable, filled in as each server answers), with a box before each model:
Enter ticks or unticks the highlighted one, Ctrl+S races the ticked ones,
Esc closes with nothing changed. Dismissed with the picks in the order they
were ticked (lane 1 first), or None.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Label

from tokentide.client.lanes import MAX_LANES

from ..safe_text import one_line
from .model_picker import ModelChoice, ModelPicker

MIN_LANES = 2


class RacePicker(ModelPicker):
    """Ticks models; dismissed with the list of ticked `ModelChoice`s or None."""

    BINDINGS = [
        *ModelPicker.BINDINGS,
        Binding("ctrl+s", "race", "Race", id="race.start", priority=True),
    ]

    HINT = "Race models · Enter ticks · Ctrl+S races 2–6 · Esc closes"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ticked: list[ModelChoice] = []

    def mark(self, choice: ModelChoice) -> str:
        return "☑ " if choice in self.ticked else "☐ "

    def picked(self, choice: ModelChoice) -> None:
        """Enter: tick or untick (at most `MAX_LANES`)."""
        if choice in self.ticked:
            self.ticked.remove(choice)
        elif len(self.ticked) >= MAX_LANES:
            self.notify(f"At most {MAX_LANES} models race at once.", severity="warning")
            return
        else:
            self.ticked.append(choice)
        self._show()
        self._say()

    def _say(self) -> None:
        """The hint line names the ticked models, in lane order."""
        label = self.query_one(".hint", Label)
        if not self.ticked:
            label.update(self.HINT)
            return
        names = " · ".join(one_line(f"{c.provider}:{c.model}") for c in self.ticked)
        label.update(Text(f"racing {len(self.ticked)}: {names} · Ctrl+S races · Esc closes"))

    def action_race(self) -> None:
        if len(self.ticked) < MIN_LANES:
            self.notify(
                f"Tick at least {MIN_LANES} models (Enter on each), then Ctrl+S.",
                severity="warning",
            )
            return
        self.dismiss(list(self.ticked))  # type: ignore[arg-type]
