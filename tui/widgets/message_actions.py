"""What a message in the conversation does when it has the focus.

Alt+Up from the prompt focuses the last message (the chat screen moves the
focus); on a focused message a key asks for an action, posted as
`MessageAction` for the screen to carry out, so the widgets know nothing of
the clipboard or the conversation's turns. Copy is built; regenerate, edit
and continue are hooks: their keys show (in the key bar and under F1) only
once the screen says they apply (`ChatScreen.message_can`).

Clicking a message does not focus it: the prompt keeps the focus, so what is
typed after a click (to select text, say) still lands in the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

if TYPE_CHECKING:
    from textual.widget import Widget

CODE_KEYS = 9
"""Code blocks 1 to 9 are copied by their digit."""

MESSAGE_BINDINGS: list[BindingType] = [
    Binding("c", "message('copy')", "Copy", id="message.copy"),
    Binding("r", "message('regenerate')", "Regenerate", id="message.regenerate"),
    Binding("e", "message('edit')", "Edit", id="message.edit"),
    Binding("n", "message('continue')", "Continue", id="message.continue"),
    Binding(
        "d",
        "message('details')",
        "Details",
        id="message.details",
        tooltip="an answer's numbers, ITL and stalls, and its token arrivals over time",
    ),
    Binding("up", "screen.focus_message(-1)", "Previous", id="message.previous", show=False),
    Binding("down", "screen.focus_message(1)", "Next", id="message.next", show=False),
]
"""Keys of every message (each widget's BINDINGS adds these: Textual reads
BINDINGS only from widget classes, not from a mixin)."""

CODE_BINDINGS: list[BindingType] = [
    Binding(
        str(number),
        f"message('copy_code', {number})",
        f"Copy code block {number}",
        id=f"message.code-{number}",
        group=Binding.Group("Copy code block", compact=True),
    )
    for number in range(1, CODE_KEYS + 1)
]
"""An answer's digits: copy its code block N (labelled [N] in the answer)."""


@dataclass
class MessageAction(Message):
    """A key on a focused message asked for `action` on it: "copy",
    "copy_code" (block `number`), "regenerate", "edit", "continue" or
    "details"."""

    widget: Widget
    action: str
    number: int = 0

    @property
    def control(self) -> Widget:
        return self.widget


class MessageKeys:
    """Mixed into the message widgets (before the Textual base class): focus
    by keyboard only, and the actions their bindings name."""

    can_focus: ClassVar[bool] = True
    FOCUS_ON_CLICK: ClassVar[bool] = False

    def action_message(self, action: str, number: int = 0) -> None:
        self.post_message(MessageAction(self, action, number))  # type: ignore[attr-defined, arg-type]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hidden (and the key passes on) where the action does not apply."""
        if action != "message":
            return True
        name = str(parameters[0])
        number = int(parameters[1]) if len(parameters) > 1 else 0  # type: ignore[call-overload]
        can = getattr(self.screen, "message_can", None)  # type: ignore[attr-defined]
        return bool(can and can(self, name, number))

    def copy_text(self) -> str:
        """The message's text, as copied by `c`."""
        raise NotImplementedError
