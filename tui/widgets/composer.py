"""The multi-line prompt box: Enter sends, Shift+Enter / Ctrl+J breaks the line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class Composer(TextArea):
    """A TextArea whose Enter submits instead of inserting a newline.

    TextArea inserts the newline in its own key handler, before bindings are
    looked at, so the keys are intercepted in a handler that runs first; the
    bindings below are what the footer shows.
    """

    BINDINGS = [
        Binding("enter", "submit", "Send", id="composer.send"),
        Binding("ctrl+j", "newline", "Newline", id="composer.newline"),
        # Replaces TextArea's Ctrl+E (end of line; End still does that).
        Binding("ctrl+e", "edit_in_editor", "Editor", id="composer.editor", show=False),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: tall $border-blurred;
        padding: 0 1;
        &:focus { border: tall $border; }
    }
    """

    @dataclass
    class Submitted(Message):
        composer: Composer
        text: str

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder=placeholder,
            highlight_cursor_line=False,
        )
        self.prompts: list[str] = []
        self._recall_index: int | None = None
        self.submitting = False
        """True from Enter until the screen takes the prompt: a stop key pressed
        in between (Enter, then Ctrl+C at once) is meant for that prompt."""
        self.stop_requested = False
        """Such a stop key came: the screen does not send the prompt."""

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            self._take(event)
            self.action_submit()
        elif key in ("escape", "ctrl+c") and self.submitting:
            # Enter, then a stop key before the screen took the prompt (so its
            # stop binding did not apply yet): the prompt is not to be sent.
            self._take(event)
            self.stop_requested = True
        elif key in ("shift+enter", "ctrl+j", "alt+enter"):
            self._take(event)
            self.action_newline()
        elif key == "up" and (self._recall_index is not None or not self.text):
            self._take(event)
            self.action_recall(-1)
        elif key == "down" and self._recall_index is not None:
            self._take(event)
            self.action_recall(+1)
        else:
            # Not ours: Textual goes on to TextArea's own `_on_key` (handlers
            # run down the MRO until one prevents the default).
            self._recall_index = None

    @staticmethod
    def _take(event: events.Key) -> None:
        event.stop()
        event.prevent_default()

    def action_submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        self._recall_index = None
        if not self.prompts or self.prompts[-1] != text:
            self.prompts.append(text)
        self.submitting = True
        self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self._recall_index = None
        self.insert("\n")

    def action_edit_in_editor(self) -> None:
        """The prompt in $VISUAL/$EDITOR, for text too long to write in a box:
        the app hands the terminal over (App.suspend) and takes it back when
        the editor exits, with what was saved in the composer."""
        from textual.app import SuspendNotSupported

        from ..editor import NO_EDITOR, EditorError, edit_text, editor_argv

        try:
            argv = editor_argv()
            if argv is None:
                raise EditorError(NO_EDITOR)
            with self.app.suspend():
                text = edit_text(self.text, argv)
        except EditorError as exc:
            self.notify(str(exc), title="editor", severity="warning", markup=False)
            return
        except SuspendNotSupported:
            message = "this terminal cannot be handed to an editor"
            self.notify(message, title="editor", severity="warning")
            return
        self._recall_index = None
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_recall(self, step: int) -> None:
        """Up in an empty composer walks back through sent prompts; Down walks forward."""
        if not self.prompts:
            return
        index = len(self.prompts) if self._recall_index is None else self._recall_index
        index += step
        if index >= len(self.prompts):
            self._recall_index = None
            self.load_text("")
            return
        self._recall_index = max(0, index)
        self.load_text(self.prompts[self._recall_index])
        self.move_cursor(self.document.end)
