"""tokentide-light: for light terminals and daylight. Colours are darkened
until text on them stays readable (WCAG AA on the background), which Textual's
default light theme does not always manage for its accent."""

from textual.theme import Theme

THEME = Theme(
    name="tokentide-light",
    primary="#0A7285",
    secondary="#2F5F98",
    accent="#B35A12",
    warning="#9A6700",
    error="#C2283B",
    success="#1F7A45",
    foreground="#1D2731",
    background="#F6F8FA",
    surface="#ECEFF3",
    panel="#DFE5EB",
    dark=False,
    variables={
        "tokentide-code-theme": "friendly",
        "tokentide-code-background": "#E6EBF0",
        "footer-key-foreground": "#0A7285",
    },
)
