"""Themes in the app: which one it starts with, the palette's theme picker
with a live preview, and remembering the user's pick in the config file.

Starting theme: `--theme`, else `theme` in the config file, else
`tokentide-dark`. Only a theme picked in the palette is written back
(`theme = "..."`, one line of the file edited, see config_file.py): a
`--theme` given for one run stays out of the file.

Textual 8's theme palette switches only when a theme is chosen. Here the
highlighted theme is applied as the cursor moves, so the user sees it before
choosing, and Esc (or a click outside) puts the previous one back.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider

from tokentide import themes
from tokentide.client.config import Settings, config_path
from tokentide.client.errors import ConfigError

if TYPE_CHECKING:
    from textual.app import App


def register(app: App) -> None:
    """Make tokentide's themes available beside Textual's built-ins."""
    for theme in themes.THEMES.values():
        app.register_theme(theme)


def starting_theme(settings: Settings, option: str | None) -> tuple[str, str | None]:
    """The theme to start with, and a warning when the config file names none
    that exists (the app still starts: a typo must not lock the user out)."""
    if option:
        return option, None  # checked by the command line already
    name = settings.theme
    if name is None:
        return themes.DEFAULT, None
    if name in themes.names():
        return name, None
    where = f"theme in {config_path()}"
    return themes.DEFAULT, f"{themes.unknown(name, where)} (using {themes.DEFAULT})"


def remember(app: App, name: str) -> None:
    """Write the picked theme to the config file; a file that cannot take it
    (unreadable, not valid TOML) gets one notice, and the theme still applies."""
    from .config_file import set_top_key

    try:
        set_top_key(config_path(), "theme", name)
    except ConfigError as exc:
        app.notify(str(exc), title="theme not saved", severity="warning", markup=False)


class ThemePicker(Provider):
    """The palette's themes; choosing one applies and remembers it."""

    @property
    def commands(self) -> list[tuple[str, partial[None]]]:
        names = sorted(self.app.available_themes)
        return [(name, partial(choose, self.app, name)) for name in names]

    async def discover(self) -> Hits:
        for name, callback in self.commands:
            yield DiscoveryHit(name, callback, text=name)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback in self.commands:
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name)


def choose(app: App, name: str) -> None:
    app.theme = name
    remember(app, name)


class Preview:
    """The theme in place before the picker opened, while it is open."""

    def __init__(self) -> None:
        self.before: str | None = None

    def open(self, app: App) -> None:
        self.before = app.theme
        app.push_screen(CommandPalette(providers=[ThemePicker], placeholder="Search for themes…"))

    def highlighted(self, app: App, event: CommandPalette.OptionHighlighted) -> None:
        """Show the highlighted theme (only while the theme picker is open)."""
        if self.before is None:
            return
        hit = getattr(event.highlighted_event.option, "hit", None)
        name = getattr(hit, "text", None)
        if name in app.available_themes:
            app.theme = name

    def closed(self, app: App, event: CommandPalette.Closed) -> None:
        """Closed without a choice: the theme from before comes back."""
        before, self.before = self.before, None
        if before is not None and not event.option_selected:
            app.theme = before
