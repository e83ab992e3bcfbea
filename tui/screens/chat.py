"""The chat screen: a conversation, a composer, and one stream worker."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Markdown, Static
from tokentide.client.config import Settings
from tokentide.client.errors import StreamError
from tokentide.client.events import Message, TextDelta
from tokentide.client.request import ChatRequest
from tokentide.client.stream import ChatClient

from ..safe_text import terminal_safe


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop", priority=True),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.client = ChatClient(settings.endpoint, timeouts=settings.timeouts)
        self.history: list[Message] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="conversation")
        yield Input(placeholder="Ask anything — Enter sends, Esc stops", id="composer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conversation", VerticalScroll).anchor()
        self.query_one("#composer", Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt:
            return
        event.input.value = ""
        conversation = self.query_one("#conversation", VerticalScroll)
        await conversation.mount(Static(terminal_safe(prompt), classes="user", markup=False))
        self.history.append(Message("user", prompt))
        self.answer(list(self.history))

    @work(exclusive=True, group="stream")
    async def answer(self, messages: list[Message]) -> None:
        conversation = self.query_one("#conversation", VerticalScroll)
        markdown = Markdown()
        footer = Static("", classes="meta", markup=False)
        await conversation.mount(markdown, footer)
        stream = Markdown.get_stream(markdown)
        endpoint = self.settings.endpoint
        request = ChatRequest(endpoint.model, messages, system=self.settings.system)
        answer = self.client.stream(request)
        try:
            async with answer:
                async for event in answer:
                    if isinstance(event, TextDelta):
                        await stream.write(terminal_safe(event.text))
        except StreamError:
            pass
        except asyncio.CancelledError:
            raise
        finally:
            await stream.stop()
            message, metrics = answer.message, answer.metrics()
            self.history.append(message)
            if message.cancelled and metrics.tokens_saved:
                footer.update(
                    f"stopped · {metrics.tokens_received} tokens received · "
                    f"~{metrics.tokens_saved.tokens} saved"
                )
            elif message.error:
                footer.update(f"error: {message.error}")
            else:
                footer.update(f"{metrics.tokens_received} tokens")

    def action_stop(self) -> None:
        self.workers.cancel_group(self, "stream")

    async def on_unmount(self) -> None:
        await self.client.aclose()
