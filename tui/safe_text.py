"""Model output is untrusted: keep it from driving the terminal.

An answer can contain ESC sequences (clear screen, OSC 52 clipboard writes,
title changes), C1 controls and stray carriage returns. Before any of it
reaches a terminal, every control character except newline and tab is
dropped. Printable text, Markdown and Unicode pass through unchanged.
"""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, and C1 controls (0x80-0x9f, e.g. CSI 0x9b).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` with every control character but newline and tab removed."""
    return _CONTROL.sub("", text)
