"""The Textual application: one chat screen over a streaming client."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.command import CommandPalette

from tokentide.client.config import Settings

from .garbage import after_start
from .params import Params
from .report import note
from .safe_text import one_line, terminal_safe
from .screens.app_commands import AppCommands
from .screens.chat import ChatScreen
from .signals import TERMINATING, Interruption
from .theming import Preview

if TYPE_CHECKING:
    from . import clipboard


class TokentideApp(App[int]):
    """Holds the settings; the chat screen does the work."""

    TITLE = "tokentide"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "keys", "Keys", id="keys"),
    ]
    COMMANDS = App.COMMANDS | {AppCommands}

    CSS = """
    /* Notices at the top right, under the title bar: Textual's default spot,
       bottom right, covers the prompt and the status line. */
    ToastRack {
        dock: top;
        align: right top;
        margin-bottom: 0;
    }
    """

    def __init__(
        self,
        settings: Settings,
        params: Params | None = None,
        *,
        theme: str | None = None,
        prompt: str | None = None,
    ) -> None:
        super().__init__(driver_class=_driver_class())
        self.settings = settings
        self.params = params or Params()
        """Tools and a JSON Schema offered with every prompt (`--tool`, `--json-schema`)."""
        from . import theming

        theming.register(self)
        # Set before the first frame, so the app never shows in another theme.
        self.theme, self._theme_warning = theming.starting_theme(settings, theme)
        self._theme_preview = Preview()
        self.first_prompt = prompt
        """Sent as soon as the chat screen is up (`tokentide "prompt"`)."""
        self.interruption = Interruption()
        """The SIGTERM/SIGHUP that ended the app, if one did (`run_app` says so after)."""
        self.started = time.time()
        """When this session began: Stats counts the history's answers since then."""

    def get_default_screen(self) -> ChatScreen:
        """The chat is the app's base screen: laid out in the same pass as the
        app, where a screen pushed from `on_mount` was laid out and drawn once
        for nothing (the app holds its first frames back until it is mounted)."""
        return ChatScreen(self.settings, self.params)

    def on_mount(self) -> None:
        # The model's name may come from the server (a base URL without one).
        self.sub_title = one_line(self.settings.endpoint.describe())
        if self.first_prompt:
            self.call_after_refresh(self._send_first_prompt, self.first_prompt)
        if self.settings.notice:
            notice = terminal_safe(self.settings.notice)
            self.notify(notice, title="tokentide", timeout=8, markup=False)
        for warning in (*self.settings.warnings, self._theme_warning):
            if not warning:
                continue
            warning = terminal_safe(warning)
            self.notify(warning, title="config", severity="warning", timeout=12, markup=False)
        self._catch_signals()

    def on_ready(self) -> None:
        """Textual's Ready comes with the first layout, while the first frame
        may still be held back; the refresh after it is the one the terminal
        gets. Only then does the chat screen do what it put off."""
        self.call_after_refresh(self._after_first_frame)

    async def _after_first_frame(self) -> None:
        if (chat := self.chat_screen()) is not None:
            await chat.after_first_frame()
        after_start()  # collections back on; what start-up made out of their sight

    def _send_first_prompt(self, prompt: str) -> None:
        """As if typed and sent: through the composer, so Up recalls it."""
        screen = self.screen
        if isinstance(screen, ChatScreen):
            screen.composer.load_text(prompt)
            screen.composer.action_submit()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The code style of a theme that does not name one (Textual's own)."""
        from tokentide.themes import code_variables

        return code_variables(self.current_theme)

    def search_themes(self) -> None:
        """The palette's theme picker: a live preview, and the pick remembered."""
        self._theme_preview.open(self)

    @on(CommandPalette.OptionHighlighted)
    def _preview_theme(self, event: CommandPalette.OptionHighlighted) -> None:
        self._theme_preview.highlighted(self, event)

    @on(CommandPalette.Closed)
    def _end_theme_preview(self, event: CommandPalette.Closed) -> None:
        self._theme_preview.closed(self, event)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Textual saves to ~/Downloads and fails where there is none (a new
        account, a server): then the data directory's screenshots/ is used.
        Textual's notice names the file."""
        self.deliver_screenshot(filename, path or str(screenshot_directory()))

    def _catch_signals(self) -> None:
        """SIGTERM and SIGHUP end the app through Ctrl+Q's clean-up rather than
        killing it mid-frame, which would leave the terminal in raw mode on the
        alternate screen and the answer unrecorded (see tui/signals.py)."""
        loop = asyncio.get_running_loop()
        for signum in TERMINATING:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._terminated, signum)

    def _terminated(self, signum: int) -> None:
        """On the event loop, as the signal arrives: the answer's socket is shut
        down first (the provider stops now), then the app quits as with Ctrl+Q,
        so Textual restores the terminal. A second signal quits at once."""
        if self.interruption.signum is not None:
            self.exit(self.interruption.exit_code)
            return
        self.interruption.signum = signum
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.interruption = self.interruption  # before the turn's on_done runs
                if (turn := screen.current) is not None:
                    turn.abort()
                screen.abort_race()
        self.call_later(self._quit, self.interruption.exit_code)

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
            screen.abort_race()  # every lane's socket, from this thread too

    def copy_to_clipboard(self, text: str, what: str = "Selection") -> None:
        """Every copy (Textual's own, of a selection in the prompt, too) goes to
        the system clipboard when there is a tool for it and the app is not
        running over SSH, else through the terminal (OSC 52); the notice says
        where, and what (`what`, the first line, the size)."""
        from . import clipboard

        route = clipboard.route()
        if route.command is None:
            super().copy_to_clipboard(text)
            self.notify(clipboard.notice(text, what, route.describe), title="Copied", markup=False)
            return
        self._clipboard = text  # what Ctrl+V in the prompt pastes, as after Textual's own copy
        self.run_worker(self._copy_with(route, text, what), group="clipboard")

    async def _copy_with(self, route: clipboard.Route, text: str, what: str) -> None:
        """The tool runs in a thread (it may be slow to start); if it fails, OSC 52."""
        from . import clipboard

        assert route.command is not None
        error = await asyncio.to_thread(clipboard.run, route.command, text)
        if error is None:
            self.notify(clipboard.notice(text, what, route.describe), title="Copied", markup=False)
            return
        super().copy_to_clipboard(text)
        fallback = clipboard.Route(None, error)
        self.notify(
            clipboard.notice(text, what, fallback.describe),
            title="Copied",
            severity="warning",
            markup=False,
        )

    def action_keys(self) -> None:
        """F1: every key, grouped, read from the bindings (screens/keys.py)."""
        from .screens.keys import KeysScreen, key_groups

        if isinstance(self.screen, KeysScreen):
            return
        self.push_screen(KeysScreen(key_groups(self, self.chat_screen())))

    def chat_screen(self) -> ChatScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, ChatScreen)), None)

    async def action_export(self, fmt: str = "markdown") -> None:
        """The palette's Export: the open conversation to a new file (see
        tui/export.py), named in a notice. Read after the history's queued
        writes, so the answer just ended is in it."""
        from .export import SUFFIX, file_stem, stored_text, unsaved_text, write_export
        from .recorder import WRITER
        from .store import HISTORY_ERRORS

        chat = self.chat_screen()
        if chat is None:
            return
        kind: Literal["markdown", "json"] = "json" if fmt == "json" else "markdown"
        history = chat.history

        def from_history() -> tuple[str, str] | None:
            store, conversation_id = history.store, history.conversation_id
            if store is None or conversation_id is None:
                return None
            head = store.conversation(conversation_id)
            stem = file_stem(head.title if head else None, conversation_id)
            return stored_text(store, conversation_id, kind), stem

        try:
            found = await asyncio.wrap_future(WRITER.submit(from_history))
        except HISTORY_ERRORS as exc:
            chat.notify(f"history: {exc}", title="Export", severity="warning", markup=False)
            found = None
        if found is None:
            turns = list(chat.turns)
            if not turns:
                self.notify("Nothing to export yet: this conversation is empty.", title="Export")
                return
            found = unsaved_text(turns, kind), file_stem(turns[0].prompt.text, None)
        text, stem = found
        try:
            path = await asyncio.to_thread(write_export, stem, SUFFIX[kind], text)
        except OSError as exc:
            why = exc.strerror or str(exc)
            self.notify(f"Cannot write the export: {why}", title="Export", severity="error")
            return
        self.notify(terminal_safe(str(path)), title="Exported", markup=False, timeout=8)

    async def action_stats(self) -> None:
        """The palette's Stats: `tokentide stats` figures for this session and
        the whole history, read after the history's queued writes."""
        from .history_cli import figures
        from .recorder import WRITER
        from .screens.stats import Figures, StatsScreen
        from .store import HISTORY_ERRORS

        chat = self.chat_screen()
        if chat is None:
            return
        store, prices = chat.history.store, chat.settings.prices
        session_line = chat.totals.describe()
        if store is None:
            shown = Figures(session_line, None, None, "history off: nothing recorded to count")
        else:
            since = self.started

            def read() -> Figures:
                session_days = max(time.time() - since, 0.0) / 86400
                session = figures(store, prices, since_days=session_days)
                return Figures(session_line, session, figures(store, prices))

            try:
                shown = await asyncio.wrap_future(WRITER.submit(read))
            except HISTORY_ERRORS as exc:
                shown = Figures(session_line, None, None, f"history: {one_line(str(exc))}")
        await self.push_screen(StatsScreen(shown))

    async def action_quit(self) -> None:
        await self._quit(0)

    async def _quit(self, code: int) -> None:
        """Quitting mid-answer stops it first, through the same cleanup as Esc."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                await screen.stop_streaming()
        self.exit(code)


def _driver_class() -> type | None:
    """The stop-key driver where Textual uses its Linux/macOS driver."""
    if sys.platform == "win32":
        return None
    from .driver import StopKeyDriver

    return StopKeyDriver


def screenshot_directory() -> Path:
    """~/Downloads if there is one, else screenshots/ in the data directory (made)."""
    from platformdirs import user_data_dir, user_downloads_path

    downloads = user_downloads_path()
    if downloads.is_dir():
        return downloads
    directory = Path(user_data_dir("tokentide", appauthor=False)) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def run_app(
    settings: Settings,
    params: Params | None = None,
    *,
    theme: str | None = None,
    prompt: str | None = None,
) -> int:
    from .demo import demo_endpoint

    with demo_endpoint(settings) as settings:
        app = TokentideApp(settings, params, theme=theme, prompt=prompt)
        result = app.run()
    if app.interruption.signum is not None:
        note(app.interruption.line())  # after Textual left the alternate screen
        return app.interruption.exit_code
    return result or 0
