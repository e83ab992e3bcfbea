"""tokentide-deep: a navy deep-sea theme with bioluminescent accents, for
those who find neutral dark greys flat; code in Dracula's colours, which sit
well on blue."""

from textual.theme import Theme

THEME = Theme(
    name="tokentide-deep",
    primary="#7AA2F7",
    secondary="#BB9AF7",
    accent="#2AC3DE",
    warning="#E0AF68",
    error="#F7768E",
    success="#9ECE6A",
    foreground="#CDD6F4",
    background="#0B1026",
    surface="#111838",
    panel="#18214A",
    dark=True,
    variables={
        "tokentide-code-theme": "dracula",
        "tokentide-code-background": "#1B2453",
        "footer-key-foreground": "#2AC3DE",
    },
)
