"""Keeping the garbage collector from freezing a streamed answer."""

from __future__ import annotations

import gc

_holds = 0
_threshold: tuple[int, int, int] | None = None

NEVER = 1 << 30
"""A threshold the full collection's counter never reaches."""


def hold_collections_at_start() -> None:
    """No collections until `after_start`: starting the app imports Textual and
    builds its screen, and the collector ran 116 times on the way (106 young,
    10 middle), 20-30 ms before the first frame with the prompt box. Nothing
    it would free matters in the half second start-up takes."""
    gc.disable()


def after_start() -> None:
    """Collections back on after the first frame: one of the young objects
    (what start-up made; cycles among them freed), then everything alive is
    frozen (`settle_garbage`)."""
    gc.enable()
    gc.collect(1)
    settle_garbage()


def settle_garbage() -> None:
    """Move everything alive now out of the garbage collector's sight.

    A full collection walks every object, and a streamed answer makes many:
    measured at 200 tok/s, three collections a stream each froze the screen
    for 44-55 ms. Objects that live on (the app, finished answers' lines) are
    frozen after start-up and after each answer; what becomes garbage later
    is still freed by reference counting.
    """
    gc.freeze()


def hold_full_collections() -> None:
    """No full collection until `release_full_collections` (calls nest).

    Freezing between answers is not enough: an answer's own lines and the
    app's per-frame objects outlive the young generations, and measured at
    200 tok/s the full collections they set off took 46-128 ms each, every
    few seconds, while tokens kept arriving. Young collections go on.
    """
    global _holds, _threshold
    if _holds == 0:
        _threshold = gc.get_threshold()
        gc.set_threshold(_threshold[0], _threshold[1], NEVER)
    _holds += 1


def release_full_collections() -> None:
    """The answer is drawn: one full collection of what it left (cycles it
    made are freed here, not leaked by the next freeze), then freeze the rest."""
    global _holds, _threshold
    if _holds == 0:
        return
    _holds -= 1
    if _holds == 0 and _threshold is not None:
        gc.set_threshold(*_threshold)
        _threshold = None
        # What an earlier freeze kept and has died since (a cleared
        # conversation's widgets, in cycles) is collected too, not leaked.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
