"""tokentide-sand: a warm paper-coloured light theme, softer on the eyes than
white for long reading; code in Solarized Light, made for such a ground."""

from textual.theme import Theme

THEME = Theme(
    name="tokentide-sand",
    primary="#1F6F78",
    secondary="#A0522D",
    accent="#B8561E",
    warning="#8F6A00",
    error="#B03A2E",
    success="#3F6B34",
    foreground="#3B3227",
    background="#F7F1E3",
    surface="#EFE6D2",
    panel="#E6DABF",
    dark=False,
    variables={
        "tokentide-code-theme": "solarized-light",
        "tokentide-code-background": "#EBE1C8",
        "footer-key-foreground": "#1F6F78",
    },
)
