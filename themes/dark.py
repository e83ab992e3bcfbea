"""tokentide-dark: the default. Deep blue-grey like water at night, a tide-teal
primary, and code on a well of its own so a fence reads as a separate thing."""

from textual.theme import Theme

THEME = Theme(
    name="tokentide-dark",
    primary="#2AB3C6",
    secondary="#5A8FD8",
    accent="#F0A35E",
    warning="#F2C14E",
    error="#EF5B6B",
    success="#4FC47F",
    foreground="#D5DEE6",
    background="#0E1419",
    surface="#151D24",
    panel="#1C2833",
    dark=True,
    variables={
        "tokentide-code-theme": "one-dark",
        "tokentide-code-background": "#1A242E",
        "footer-key-foreground": "#2AB3C6",
    },
)
