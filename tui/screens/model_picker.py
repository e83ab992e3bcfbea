"""The model picker (Ctrl+O, "Switch model…"): every configured provider's
models in one searchable list, the provider beside each.

Each provider's list is fetched in a worker of its own, so the picker opens
at once and fills in as servers answer; a slow or failing provider is one
dim line ("lab: loading…", "lab: cannot connect …") and never holds up the
others or raises a pop-up. Typing filters with Textual's fuzzy matcher, the
best matches first; Up/Down move through the list without leaving the
search box, Enter picks, Esc closes with nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tokentide.client.config import Timeouts

from ..choices import ModelSource
from ..safe_text import one_line

LOADING = "loading…"


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str


class ModelPicker(ModalScreen[ModelChoice | None]):
    """Search box over the list; dismissed with the `ModelChoice` or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="models.close"),
        Binding("down", "move('cursor_down')", "Next", show=False),
        Binding("up", "move('cursor_up')", "Previous", show=False),
        Binding("pagedown", "move('page_down')", show=False),
        Binding("pageup", "move('page_up')", show=False),
    ]

    DEFAULT_CSS = """
    ModelPicker {
        align: center middle;
        & > Vertical {
            width: 80%; max-width: 100; height: 80%;
            padding: 0 1; border: thick $primary; background: $surface;
        }
        & OptionList {
            height: 1fr; border: none; padding: 0;
            text-wrap: nowrap; text-overflow: ellipsis;
        }
        & .hint { color: $text-muted; }
    }
    """

    def __init__(self, sources: list[ModelSource], current: ModelChoice, timeouts: Timeouts):
        super().__init__()
        self.sources = sources
        self.current = current
        self.timeouts = timeouts
        self.found: dict[str, list[str] | str] = {}
        """Per provider: its model ids, or the one line saying why there are none (yet)."""
        for source in sources:
            if source.problem is not None:
                self.found[source.provider] = source.problem
            elif source.endpoint is None:
                self.found[source.provider] = list(source.models)
            else:
                self.found[source.provider] = LOADING
        self._choices: dict[str, ModelChoice] = {}
        self._picked_for_user: str | None = None
        """The option highlighted for the user, not by them: it gives way to the
        current model when that one's provider answers later."""

    HINT = "Switch model · type to search · Enter picks · Esc closes"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.HINT, classes="hint")
            yield Input(placeholder="model or provider", id="model-search")
            yield OptionList(id="models")

    def on_mount(self) -> None:
        self._show()
        for source in self.sources:
            if source.endpoint is not None and source.problem is None:
                self.run_worker(self._fetch(source), group="models", exit_on_error=False)

    async def _fetch(self, source: ModelSource) -> None:
        """One provider's list, through the code `tokentide models` uses."""
        from tokentide.client.errors import ApiError

        from ..models import model_ids

        assert source.endpoint is not None
        try:
            ids = await model_ids(source.endpoint, self.timeouts)
        except ApiError as exc:
            self.found[source.provider] = str(exc)
        except Exception as exc:  # any failure is this provider's one line
            self.found[source.provider] = source.endpoint.secrets.scrub(repr(exc))
        else:
            self.found[source.provider] = ids or "the server lists no models"
        if self.is_attached:
            self._show()

    @property
    def options(self) -> OptionList:
        return self.query_one(OptionList)

    @on(Input.Changed)
    def _filter(self) -> None:
        self._show()

    def _show(self) -> None:
        """The list for the search text now, keeping the highlighted model if it is still in it."""
        options = self.options
        kept = options.highlighted_option.id if options.highlighted_option else None
        query = self.query_one(Input).value.strip()
        matcher = Matcher(query) if query else None
        rows: list[tuple[float, Option]] = []
        notes: list[Option] = []
        self._choices = {}
        width = max(
            (len(one_line(m)) for f in self.found.values() if isinstance(f, list) for m in f),
            default=0,
        )
        for p, (provider, found) in enumerate(self.found.items()):
            if isinstance(found, str):
                note = Content.styled(f"{one_line(provider)}: {one_line(found)}", "dim")
                notes.append(Option(note, disabled=True))
                continue
            for m, model in enumerate(found):
                shown, where = one_line(model), one_line(provider)
                # "b think" and "think b" both find demo-think on b.
                score = (
                    max(matcher.match(f"{shown} {where}"), matcher.match(f"{where} {shown}"))
                    if matcher
                    else 1.0
                )
                if score <= 0:
                    continue
                option_id = f"{p}:{m}"  # stable while other providers fill in
                choice = self._choices[option_id] = ModelChoice(provider, model)
                label = self._label(choice, matcher, width)
                rows.append((score, Option(label, id=option_id)))
        if matcher is not None:
            rows.sort(key=lambda row: -row[0])  # stable: equal scores keep their order
        options.set_options([option for _, option in rows] + notes)
        self._highlight(kept, matcher is not None)

    def _label(self, choice: ModelChoice, matcher: Matcher | None, width: int) -> Content:
        """`● model   provider`: the providers in a column, dim; the match highlighted."""
        model = one_line(choice.model)
        shown = matcher.highlight(model) if matcher else Content(model)
        mark = self.mark(choice)
        gap = " " * (max(width - len(model), 0) + 2)
        return Content.assemble(mark, shown, gap, (one_line(choice.provider), "dim"))

    def mark(self, choice: ModelChoice) -> str:
        """Two columns before a model: the one in use is marked."""
        return "● " if choice == self.current else "  "

    def _highlight(self, kept: str | None, searching: bool) -> None:
        """The model the user highlighted, else the best match, else the current
        model; the same whichever provider's list comes first."""
        ids = [option.id for option in self.options.options if not option.disabled]
        if not ids:
            return
        if kept in ids and not searching and kept != self._picked_for_user:
            target = kept
        else:
            if not searching and (current := self._id_of(self.current)) is not None:
                target = current
            elif kept in ids and not searching:
                target = kept
            else:
                target = ids[0]
            self._picked_for_user = target
        self.options.highlighted = self.options.get_option_index(target)

    def _id_of(self, choice: ModelChoice) -> str | None:
        return next((key for key, value in self._choices.items() if value == choice), None)

    @on(Input.Submitted)
    def _submit(self) -> None:
        option = self.options.highlighted_option
        if option is not None and option.id in self._choices:
            self.picked(self._choices[option.id])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id in self._choices:
            self.picked(self._choices[event.option.id])

    def picked(self, choice: ModelChoice) -> None:
        """Enter (or a click) on a model: this picker closes with it."""
        self.dismiss(choice)

    def action_move(self, action: str) -> None:
        getattr(self.options, f"action_{action}")()

    def action_cancel(self) -> None:
        self.dismiss(None)
