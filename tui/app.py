"""The Textual application: one chat screen over a streaming client."""

from __future__ import annotations

from textual.app import App
from tokentide.client.config import Settings

from .screens.chat import ChatScreen


class TokentideApp(App[int]):
    """Holds the settings and the chat screen; the screen does the work."""

    TITLE = "tokentide"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def on_mount(self) -> None:
        self.sub_title = self.settings.endpoint.describe()
        self.push_screen(ChatScreen(self.settings))


def run_app(settings: Settings) -> int:
    from .ask import demo_endpoint

    with demo_endpoint(settings):
        result = TokentideApp(settings).run()
    return result or 0
