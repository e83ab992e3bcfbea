"""Regenerate the README's screenshots: `.venv/bin/python screenshots/make.py`
(or name some: `... make.py stopped keys`).

Each picture is the real app driven under Textual's Pilot against the real
demo server on loopback, by the steps in tests/scenes.py - the same steps
and the same SVG export the snapshot tests (tests/test_snapshots.py) check.
They come out the same on every run: the answers are scripted, timings
follow the demo server's schedule (TTFT 350 ms, 80 tokens/s) rather than
this machine's speed, a streaming answer is caught at a fixed token, and
the config, history and time zone are a temporary directory's and UTC.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # the tests' scenes, from a checkout

from tests.scenes import SHOTS, take  # noqa: E402


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in SHOTS]
    if unknown:
        sys.exit(f"no such screenshot: {', '.join(unknown)} (there are: {', '.join(SHOTS)})")
    for name in names or list(SHOTS):
        (HERE / f"{name}.svg").write_text(take(name), encoding="utf-8")
        print(f"wrote screenshots/{name}.svg", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
