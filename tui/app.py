"""The Textual application: one chat screen over a streaming client."""

from __future__ import annotations

import sys

from textual.app import App
from textual.binding import Binding

from tokentide.client.config import Settings

from .garbage import settle_garbage
from .safe_text import one_line, terminal_safe
from .screens.chat import ChatScreen
from .turn import Params


class TokentideApp(App[int]):
    """Holds the settings; the chat screen does the work."""

    TITLE = "tokentide"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit", priority=True)]

    def __init__(self, settings: Settings, params: Params | None = None) -> None:
        super().__init__(driver_class=_driver_class())
        self.settings = settings
        self.params = params or Params()
        """Tools and a JSON Schema offered with every prompt (`--tool`, `--json-schema`)."""

    def on_mount(self) -> None:
        # The model's name may come from the server (a base URL without one).
        self.sub_title = one_line(self.settings.endpoint.describe())
        self.push_screen(ChatScreen(self.settings, self.params))
        self.call_after_refresh(settle_garbage)
        if self.settings.notice:
            notice = terminal_safe(self.settings.notice)
            self.notify(notice, title="tokentide", timeout=8, markup=False)
        for warning in self.settings.warnings:
            warning = terminal_safe(warning)
            self.notify(warning, title="config", severity="warning", timeout=12, markup=False)

    def stop_key_pressed(self) -> None:
        """Esc / Ctrl+C was parsed. Runs in the input thread: it only reads
        state and shuts a socket down (see tui/driver.py)."""
        try:
            screen = self.screen_stack[-1]
        except (IndexError, AttributeError):
            return
        if isinstance(screen, ChatScreen):
            turn = screen.current
            if turn is not None:
                turn.abort()

    async def action_quit(self) -> None:
        """Quitting mid-answer stops it first, through the same cleanup as Esc."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                await screen.stop_streaming()
        self.exit(0)


def _driver_class() -> type | None:
    """The stop-key driver where Textual uses its Linux/macOS driver."""
    if sys.platform == "win32":
        return None
    from .driver import StopKeyDriver

    return StopKeyDriver


def run_app(settings: Settings, params: Params | None = None) -> int:
    from .demo import demo_endpoint

    with demo_endpoint(settings) as settings:
        result = TokentideApp(settings, params).run()
    return result or 0
