"""Regenerate the README's screenshots: `.venv/bin/python screenshots/make.py`.

Each shot drives the real app under Textual's Pilot against the real demo
server on loopback, so the pictures show what a user sees. Timings in the
status lines are whatever this machine measured on the day.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # the tests' Pilot helpers, from a checkout

from tests.pilot import make_app, send, wait_idle  # noqa: E402
from tokentide.client.demo import DemoServer  # noqa: E402

SIZE = (110, 34)


async def idle(pilot) -> None:
    """The answer is recorded and the notification's fade has settled."""
    await wait_idle(pilot)
    await pilot.pause(0.3)


async def streaming_and_stopped(server: DemoServer) -> None:
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        server.tokens_per_second = 80
        await send(pilot, "How do I stream an HTTP response in Python?")
        await server.await_for(lambda r: r.tokens_sent >= 260, timeout=30)
        await pilot.pause(0.15)
        app.save_screenshot("streaming.svg", str(HERE))
        await pilot.press("escape")
        await idle(pilot)
        app.save_screenshot("stopped.svg", str(HERE))


async def thinking_and_tools(server: DemoServer) -> None:
    app = make_app(server.base_url, "demo-think")
    async with app.run_test(size=SIZE) as pilot:
        server.tokens_per_second = 300
        server.script(
            "**21.** The Euclidean algorithm: `1071 = 2·462 + 147`, `462 = 3·147 + 21`, "
            "`147 = 7·21`.",
            reasoning="Use the Euclidean algorithm on 1071 and 462, then read off the last "
            "non-zero remainder.",
        )
        await send(pilot, "What is the GCD of 1071 and 462?")
        await idle(pilot)
        app.screen.query_one("#thinking").collapsed = False
        await pilot.pause(0.2)
        app.save_screenshot("thinking.svg", str(HERE))


async def error_inline(server: DemoServer) -> None:
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        server.tokens_per_second = 2000
        server.inject("http:502")
        await send(pilot, "Summarise the release notes")
        await idle(pilot)
        app.save_screenshot("error.svg", str(HERE))


async def main() -> None:
    with DemoServer(ttft=0.3) as server:
        await streaming_and_stopped(server)
        await thinking_and_tools(server)
        await error_inline(server)
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.svg"))))


if __name__ == "__main__":
    asyncio.run(main())
