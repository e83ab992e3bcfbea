"""How much of one answer the app draws.

A server that never stops (or a hostile one) can send up to the answer limit
(32 MB by default, `[limits] answer_mb`); drawing that would take the memory
and the screen for minutes. The app draws the first `DRAWN_CHARS` of each
part and says so; the whole answer is still kept: in the history, in `ask`,
and as context.
"""

from __future__ import annotations

DRAWN_CHARS = 1_000_000
"""Far past any real answer (about 250,000 tokens)."""


def drawn(text: str, what: str) -> str:
    """`text` as drawn: at most DRAWN_CHARS of it, and a line saying so."""
    if len(text) <= DRAWN_CHARS:
        return text
    return f"{text[:DRAWN_CHARS]}\n… (the {what} goes on past {DRAWN_CHARS:,} characters)"
