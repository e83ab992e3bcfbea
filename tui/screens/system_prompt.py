"""The system prompt of this conversation: pick a preset (Ctrl+S, "System
prompt…") or edit the text ("Edit system prompt…", or the picker's last line).

The presets are the config file's top-level `system` ("default") and its
`[prompts]` table; what is picked or edited applies to this conversation
only, from its next message, and the history remembers it with the
conversation.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, TextArea
from textual.widgets.option_list import Option

from ..choices import SystemPrompt
from ..safe_text import one_line

EDIT = "edit"
"""What the picker returns when the user asks to edit the text instead."""


class SystemPromptPicker(ModalScreen[SystemPrompt | str | None]):
    """Dismissed with the chosen `SystemPrompt`, `EDIT`, or None (Esc)."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="prompts.close"),
        Binding("e", "edit", "Edit", id="prompts.edit"),
    ]

    DEFAULT_CSS = """
    SystemPromptPicker {
        align: center middle;
        & > Vertical {
            width: 80%; max-width: 100; height: auto; max-height: 80%;
            padding: 0 1; border: thick $primary; background: $surface;
        }
        & OptionList {
            height: auto; max-height: 20; border: none; padding: 0;
            text-wrap: nowrap; text-overflow: ellipsis;
        }
        & .hint { color: $text-muted; }
    }
    """

    def __init__(self, prompts: list[SystemPrompt], current: SystemPrompt) -> None:
        super().__init__()
        self.prompts = prompts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("System prompt · Enter picks · e edits · Esc closes", classes="hint")
            options = [self._option(n, prompt) for n, prompt in enumerate(self.prompts)]
            options.append(Option("  Edit the current prompt…", id=EDIT))
            yield OptionList(*options)

    def _option(self, index: int, prompt: SystemPrompt) -> Option:
        mark = "● " if prompt == self.current else "  "
        text = one_line(prompt.text or "no system message")
        return Option(
            Content.assemble(mark, one_line(prompt.name), "  ", (text, "dim")), id=str(index)
        )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        current = next((n for n, p in enumerate(self.prompts) if p == self.current), None)
        options.highlighted = current if current is not None else len(self.prompts)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == EDIT:
            self.dismiss(EDIT)
        elif event.option.id is not None:
            self.dismiss(self.prompts[int(event.option.id)])

    def action_edit(self) -> None:
        self.dismiss(EDIT)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SystemPromptEditor(ModalScreen[str | None]):
    """The text in a TextArea: Ctrl+S applies it to this conversation, Esc cancels.
    Blank text means no system message."""

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="prompt-editor.apply", priority=True),
        Binding("escape", "cancel", "Cancel", id="prompt-editor.cancel"),
    ]

    DEFAULT_CSS = """
    SystemPromptEditor {
        align: center middle;
        & > Vertical {
            width: 80%; max-width: 100; height: 60%;
            padding: 0 1; border: thick $primary; background: $surface;
        }
        & TextArea { height: 1fr; }
        & .hint { color: $text-muted; }
    }
    """

    def __init__(self, text: str | None) -> None:
        super().__init__()
        self.text = text or ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                "System prompt for this conversation · Ctrl+S applies · Esc cancels",
                classes="hint",
            )
            yield TextArea(self.text, id="system-text", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_apply(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
