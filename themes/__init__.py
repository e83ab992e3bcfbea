"""tokentide's Textual themes, one module a theme, and the code colours that
go with every theme the app offers (its own and Textual's built-ins).

Answers draw fenced code themselves (tui/markdown/code.py), outside Textual's
CSS, so a theme says how code looks through two variables of ours besides
Textual's: `tokentide-code-theme`, a Pygments style whose colours were made
for that kind of ground, and `tokentide-code-background`, a ground of its own
so a code block stands apart from the prose around it. Textual's built-in
themes have neither; `code_variables` supplies them, so switching to `nord`
also switches the code to Pygments' `nord`.

Importing this imports Textual (0.2 s): only the app and `tokentide config`
do, never `ask` or `--help`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.theme import BUILTIN_THEMES, Theme

from . import contrast, dark, deep, light, sand

CODE_THEME = "tokentide-code-theme"
"""Theme variable: the Pygments style for fenced code."""
CODE_BACKGROUND = "tokentide-code-background"
"""Theme variable: the code block's own background colour."""

DEFAULT = "tokentide-dark"
"""The theme when neither `--theme` nor the config file names one."""

THEMES: Mapping[str, Theme] = {
    theme.name: theme for theme in (dark.THEME, light.THEME, contrast.THEME, deep.THEME, sand.THEME)
}
"""tokentide's own themes, registered with the app beside Textual's built-ins."""

BUILTIN_CODE_THEMES: Mapping[str, str] = {
    "textual-dark": "monokai",
    "textual-light": "friendly",
    "nord": "nord",
    "gruvbox": "gruvbox-dark",
    "catppuccin-mocha": "one-dark",
    "catppuccin-frappe": "one-dark",
    "catppuccin-macchiato": "one-dark",
    "catppuccin-latte": "friendly",
    "dracula": "dracula",
    "tokyo-night": "one-dark",
    "monokai": "monokai",
    "flexoki": "gruvbox-dark",
    "solarized-light": "solarized-light",
    "solarized-dark": "solarized-dark",
    "rose-pine": "one-dark",
    "rose-pine-moon": "one-dark",
    "rose-pine-dawn": "friendly",
    "atom-one-dark": "one-dark",
    "atom-one-light": "default",
}
"""The Pygments style closest to each of Textual's themes (by name or palette)."""


def names() -> list[str]:
    """Every theme `--theme` and the config file accept: ours first, then Textual's."""
    return [*THEMES, *sorted(set(BUILTIN_THEMES) - set(THEMES))]


def code_variables(theme: Theme) -> dict[str, str]:
    """The code style a theme leaves unsaid: its own variable, else the style
    matching a built-in theme, else one made for a dark or light ground."""
    fallback = "monokai" if theme.dark else "friendly"
    return {CODE_THEME: BUILTIN_CODE_THEMES.get(theme.name, fallback)}


def unknown(name: str, where: str, available: Iterable[str] | None = None) -> str:
    """The one line saying a theme name is not one, and which are."""
    listed = ", ".join(names() if available is None else available)
    return f"{where}: no theme named {name!r}; available: {listed}"
