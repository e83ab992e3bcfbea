"""tokentide-contrast: white on black, nothing faded. For low vision, bright
rooms and projectors: text is drawn at full strength (Textual dims it to 87%
by default), muted text stays light, focus and keys are bright yellow, and
code uses a syntax style whose every visible colour keeps WCAG AA contrast
(4.5:1, comments 6:1) on the code background."""

from textual.theme import Theme

THEME = Theme(
    name="tokentide-contrast",
    primary="#00D7FF",
    secondary="#FFD700",
    accent="#FFD700",
    warning="#FFD700",
    error="#FF6B6B",
    success="#5FFF87",
    foreground="#FFFFFF",
    background="#000000",
    surface="#0A0A0A",
    panel="#1A1A1A",
    dark=True,
    text_alpha=1.0,
    variables={
        "text": "#FFFFFF",
        "text-muted": "#E0E0E0",
        "text-disabled": "#BDBDBD",
        "foreground-muted": "#E0E0E0",
        "border": "#FFD700",
        "border-blurred": "#9E9E9E",
        "footer-key-foreground": "#FFD700",
        "footer-description-foreground": "#FFFFFF",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFD700",
        "input-selection-background": "#005F87",
        "tokentide-code-theme": "github-dark",
        "tokentide-code-background": "#141414",
    },
)
