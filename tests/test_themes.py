"""Themes: tokentide's own, the code colours that follow the theme, the palette's
picker (live preview, Esc puts the old theme back, the pick written to the
config file and used at the next start), and a theme named in the file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pygments.styles import get_style_by_name
from pygments.token import Keyword, Whitespace
from rich.color import Color as RichColor
from textual.color import Color
from textual.command import Command, CommandList, CommandPalette
from textual.theme import BUILTIN_THEMES

from tests.pilot import make_app, send, wait_idle
from tokentide import themes
from tokentide.client.demo import DemoServer

SIZE = (100, 30)
CODE = "```python\ndef answer():\n    return 42\n```\n"

HAND_WRITTEN = """\
# mine: keep this comment
retries = 3   # flaky wifi

[timeouts]
read = 300
"""


@pytest.fixture
def server():
    with DemoServer(tokens_per_second=400, ttft=0.02) as demo:
        yield demo


@pytest.fixture
def config_file(isolated_env: Path) -> Path:
    """The config file every command reads in these tests (XDG_CONFIG_HOME is tmp)."""
    path = isolated_env / "xdg-config" / "tokentide" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(HAND_WRITTEN)
    return path


async def until(pilot, check: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Let the app run until `check()` holds (palette searches run in workers)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


def contrast(one: str, two: str) -> float:
    """WCAG contrast ratio of two colours."""

    def luminance(hex_color: str) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        color = Color.parse(hex_color)
        return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)

    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# --------------------------------------------------------------------------- the themes


def test_five_own_themes_dark_light_and_high_contrast_each_with_a_real_code_style():
    own = themes.THEMES
    assert len(own) >= 5
    assert {"tokentide-dark", "tokentide-light", "tokentide-contrast"} <= set(own)
    assert any(not theme.dark for theme in own.values())
    assert not set(own) & set(BUILTIN_THEMES)
    assert themes.names()[: len(own)] == list(own)
    for theme in own.values():
        style = get_style_by_name(theme.variables[themes.CODE_THEME])  # raises if unknown
        ground = theme.variables[themes.CODE_BACKGROUND]
        assert contrast(ground, theme.background) > 1.1, theme.name  # a ground of its own
        assert contrast(theme.foreground, theme.background) >= 7, theme.name
        assert style is not None
    for name, style_name in themes.BUILTIN_CODE_THEMES.items():
        assert name in BUILTIN_THEMES and get_style_by_name(style_name)


def test_the_high_contrast_theme_keeps_every_code_colour_readable():
    theme = themes.THEMES["tokentide-contrast"]
    assert theme.text_alpha == 1.0
    ground = theme.variables[themes.CODE_BACKGROUND]
    style = get_style_by_name(theme.variables[themes.CODE_THEME])
    # Whitespace tokens are drawn as blanks: their colour is never seen.
    colors = {
        f"#{spec['color']}" for token, spec in style if spec["color"] and token not in Whitespace
    }
    assert colors
    worst = min(colors, key=lambda color: contrast(color, ground))
    assert contrast(worst, ground) >= 4.5, worst
    for name in ("text-muted", "foreground-muted", "footer-key-foreground", "border"):
        assert contrast(theme.variables[name], theme.background) >= 7, name


# --------------------------------------------------------------------------- code blocks


def code_row(app, needle: str):
    """The segments of the screen row showing `needle`."""
    for strip in app.screen._compositor.render_strips():
        if needle in strip.text:
            return list(strip)
    raise AssertionError(f"{needle!r} not on screen")


def hex_of(color: RichColor | None) -> str:
    assert color is not None
    return color.get_truecolor().hex.upper()


async def test_code_blocks_take_the_themes_background_and_syntax_colours(server):
    server.script(CODE)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "code please")
        await wait_idle(pilot)
        for name, code_theme in (
            ("tokentide-dark", "one-dark"),
            ("tokentide-light", "friendly"),
            ("nord", "nord"),  # a Textual theme: the matching Pygments style
        ):
            app.theme = name
            await pilot.pause()
            row = code_row(app, "def answer")
            keyword = next(segment for segment in row if segment.text == "def")
            expected = f"#{get_style_by_name(code_theme).style_for_token(Keyword)['color']}"
            assert hex_of(keyword.style.color) == expected.upper(), name
            ground = app.theme_variables.get(themes.CODE_BACKGROUND)
            if ground is not None:
                assert hex_of(keyword.style.bgcolor) == ground.upper(), name
            # Its own ground: not the screen's.
            assert (
                hex_of(keyword.style.bgcolor)
                != Color.parse(app.theme_variables["background"]).hex6.upper()
            ), name


# --------------------------------------------------------------------------- the picker


async def open_theme_picker(pilot) -> CommandPalette:
    """Ctrl+P, then the palette's Theme command, as a user does."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*"theme")
    commands = app.screen.query_one(CommandList)

    def theme_command() -> int | None:
        for index in range(commands.option_count):
            option = commands.get_option_at_index(index)
            if isinstance(option, Command) and option.hit.text == "Theme":
                return index
        return None

    await until(pilot, lambda: theme_command() is not None, "the Theme command")
    commands.highlighted = theme_command()
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(app.screen, CommandPalette) and app.screen.query(CommandList),
        "the theme picker",
    )
    return app.screen


async def test_the_picker_previews_esc_restores_and_a_pick_is_remembered(server, config_file):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "tokentide-dark"
        # Moving through the list shows each theme; Esc brings the old one back.
        picker = await open_theme_picker(pilot)
        await pilot.press(*"tokentide-")
        commands = picker.query_one(CommandList)
        await until(pilot, lambda: commands.option_count >= 5, "the tokentide themes")
        shown = []
        for _ in range(3):
            await pilot.press("down")
            highlighted = commands.get_option_at_index(commands.highlighted).hit.text
            await until(pilot, lambda name=highlighted: app.theme == name, f"{highlighted} shown")
            shown.append(highlighted)
        assert len(set(shown)) == 3 and set(shown) - {"tokentide-dark"}
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the close")
        assert app.theme == "tokentide-dark"
        assert config_file.read_text() == HAND_WRITTEN  # nothing picked, nothing written

        # Picking one applies it and writes one line into the user's file.
        await open_theme_picker(pilot)
        await pilot.press(*"tokentide-sand", "enter")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the pick")
        await until(pilot, lambda: "sand" in config_file.read_text(), "the file")
        assert app.theme == "tokentide-sand"
        await pilot.press("ctrl+q")
    lines = HAND_WRITTEN.splitlines(keepends=True)
    assert config_file.read_text() == "".join(
        [*lines[:2], 'theme = "tokentide-sand"\n', *lines[2:]]
    )

    # The next start uses it.
    again = make_app(server.base_url)
    async with again.run_test(size=SIZE):
        assert again.theme == "tokentide-sand"
        assert again.current_theme.background == themes.THEMES["tokentide-sand"].background


async def test_a_theme_option_is_used_for_the_run_and_not_written(server, config_file):
    from tokentide.client.config import resolve
    from tokentide.tui.app import TokentideApp

    settings = resolve(base_url=server.base_url, model="demo", env={})
    app = TokentideApp(settings, theme="tokentide-contrast")
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "tokentide-contrast"
        await pilot.press("ctrl+q")
    assert config_file.read_text() == HAND_WRITTEN


async def test_an_unknown_theme_in_the_file_starts_the_default_with_one_notice(server, config_file):
    config_file.write_text('theme = "solarised"\n' + HAND_WRITTEN)
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == themes.DEFAULT
        notes = [n.message for n in app._notifications if "solarised" in n.message]
        assert len(notes) == 1 and "\n" not in notes[0]
        assert "available: tokentide-dark" in notes[0] and "solarized-light" in notes[0]


async def test_a_file_that_cannot_take_the_pick_gets_a_notice_and_the_theme_applies(
    server, config_file
):
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        config_file.write_text("retries = [\n")  # broken while the app runs
        await open_theme_picker(pilot)
        await pilot.press(*"nord", "enter")
        await until(pilot, lambda: app.theme == "nord", "the pick")
        await until(
            pilot, lambda: any("not valid TOML" in n.message for n in app._notifications), "notice"
        )
    assert config_file.read_text() == "retries = [\n"


# --------------------------------------------------------------------------- screenshots


async def test_the_palette_screenshot_lands_in_a_directory_that_exists(
    server, isolated_env, monkeypatch
):
    monkeypatch.setenv("HOME", str(isolated_env / "home"))  # a new account: no ~/Downloads
    (isolated_env / "home").mkdir()
    app = make_app(server.base_url)
    saved = asyncio.Event()
    notices: list[str] = []
    notify = app.notify

    def spy(message, *args, **kwargs):
        notices.append(str(message))
        if kwargs.get("title") == "Screenshot":
            saved.set()
        return notify(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", spy)
    async with app.run_test(size=SIZE) as pilot:
        app.action_screenshot()
        await asyncio.wait_for(saved.wait(), 10)
        await pilot.pause()
    folder = isolated_env / "xdg-data" / "tokentide" / "screenshots"
    (shot,) = folder.iterdir()
    assert shot.suffix == ".svg" and "<svg" in shot.read_text()[:200]
    assert any(str(shot) in note and "Saved screenshot" in note for note in notices), notices
