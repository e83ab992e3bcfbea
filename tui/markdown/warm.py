"""Load what the first answer needs in a thread, while the user types.

The first answer used to import markdown-it, Pygments and Rich's table and
build the Markdown parser on the event loop when its first tokens arrived:
about 150 ms during which the screen froze. None of it is needed for the
first frame, so the app starts without it and this loads it right after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def warm_up(*first: Callable[[], object]) -> None:
    """Start loading in a thread; returns at once. `first` are called first:
    they import what the caller left out of its own first frame. Not a daemon
    thread: Python waits for it at exit (a second at most) rather than tear
    the interpreter down under it, which crashed a run quit at once (SIGSEGV)."""
    threading.Thread(target=_load, args=(first,), name="tokentide-warm-up").start()


def _load(first: tuple[Callable[[], object], ...]) -> None:
    for load in first:
        load()
    from . import code
    from .blocks import Block, parser
    from .render import BlockRenderer

    parser().parse("# a\n\n- b\n\n| c |\n|---|\n| d |\n")
    renderer = BlockRenderer()
    renderer.block(Block("| a | b |\n|---|---|\n| `c` | **d** |"), 40)
    for theme in ("monokai", "friendly"):  # Pygments, its plain-text lexer, the app's styles
        look = code.CodeLook(theme, renderer.palette.code.background)
        code.draw(code.lex("x = 1", ""), 10, look)
    # The language answers show most: its first fence is then coloured at once
    # (others are drawn plain for the 50-100 ms their lexer takes to build).
    code.lex("x = 1", "python")
