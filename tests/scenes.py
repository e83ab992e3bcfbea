"""The app's main states, reached by Pilot steps against the real demo
server: `screenshots/make.py` draws the README's pictures from them and
tests/test_snapshots.py compares them with stored snapshots, so the
pictures are the states the tests check.

A picture must come out the same on every run and machine, so three things
that would differ are fixed here, and only here:

- time: an answer's clock (`Meter`) and the status line's elapsed time
  follow the demo server's own schedule (first token after `ttft`, then one
  token every 1/`tokens_per_second` s) instead of this machine's speed, so
  TTFT, tokens/s and elapsed read as the demo is set to stream;
- where a streaming answer is caught: the app stops reading it after a
  given number of tokens (`Holding`), so the picture is not a race between
  the server and the screen;
- the user's files: the config, the history and the time zone are a
  temporary directory's and UTC (`isolated`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

from textual.pilot import Pilot

from tokentide.client import stream as client_stream
from tokentide.client.config import resolve
from tokentide.client.demo import DemoServer
from tokentide.client.events import ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta
from tokentide.client.meter import Expectation, Meter
from tokentide.tui.app import TokentideApp
from tokentide.tui.widgets import status_line

SIZE = (110, 34)
"""Every picture's terminal: wide enough for a table, short enough to read."""

TOKENS_PER_SECOND = 80.0
TTFT = 0.35

PRICES = '[prices."demo"]\ninput = 3.0\noutput = 15.0\n'
"""A price for the demo model, so footers and Stats show a cost (USD per million)."""

ANSWER = """\
Stream it with **httpx**: `client.stream()` gives the response as it arrives,
and `aiter_lines()` hands you each line the moment its bytes are in.

```python
import httpx

async def stream(url: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                print(line)
```

| approach | first byte | memory | stops on Esc |
|---|---|---|---|
| `response.read()` | after the whole body | the whole body | no |
| `aiter_bytes()` | as it arrives | one chunk | yes |
| `aiter_lines()` | as each line ends | one line | yes |

Closing the `async with` block closes the connection, so the server stops
sending: that is what a stop button should do.
"""
"""A scripted answer with prose, a code block and a table (the streaming shots)."""

PROMPT = "How do I stream an HTTP response in Python?"

HELD_AT = 205
"""Tokens of ANSWER the streaming picture shows: into the table."""


class Schedule:
    """Time as the demo server schedules it: request sent at the meter's
    start, first token `ttft` later, then one token every 1/rate s. Each new
    answer starts where the last one ended, as a clock would."""

    def __init__(self, server: DemoServer) -> None:
        self.server = server
        self.now = 0.0

    def meter(
        self, expected: Expectation | None = None, clock: object = None, streaming: bool = True
    ) -> Meter:
        """A real Meter whose clock reads the schedule (the AnswerStream's own)."""
        ttft, rate, base = self.server.ttft, self.server.tokens_per_second, self.now
        meter = Meter(expected, streaming=streaming)

        def read() -> float:
            if meter.sent_at is None:
                moment = base
            elif meter.headers_at is None:
                moment = base + ttft / 2
            elif meter.first_token_at is None:
                moment = base + ttft
            else:
                moment = base + ttft + meter.estimated_tokens / rate
            self.now = max(self.now, moment)
            return moment

        meter.clock = read
        # Each token at its own scheduled moment, however the reads batched
        # them (a loaded machine reads several at once): the same figures on
        # every run.
        meter.read_arrived = lambda age=0.0: None  # type: ignore[method-assign]
        return meter

    def monotonic(self) -> float:
        return self.now


class Holding:
    """The app reads an answer up to `after` tokens (text, thinking or tool
    arguments), then waits: the server's later bytes stay in the socket, the
    picture shows exactly those tokens, and Esc still stops the answer."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.held = False
        self._release: asyncio.Event | None = None

    def hold(self, after: int) -> None:
        self.after, self.held = after, False

    def release(self) -> None:
        self.after = None
        if self._release is not None:
            self._release.set()

    async def wrap(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        count = 0
        async for event in events:
            yield event
            if isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta):
                count += 1
            if self.after is not None and count >= self.after:
                # Before asking for the next event: the meter has counted
                # exactly the tokens the view was given.
                self.held = True
                self._release = asyncio.Event()
                await self._release.wait()


@dataclass
class Stage:
    """One scene's world: its demo server, schedule, holding point and files."""

    server: DemoServer
    schedule: Schedule
    holding: Holding
    home: Path

    def app(self, model: str = "demo", *, theme: str | None = None) -> TokentideApp:
        """The app as `tokentide` opens it with nothing configured (the demo
        provider; its header names no port), on this stage's server; no
        retries, so a refused request is shown at once."""
        settings = resolve(provider="demo", model=model)
        endpoint = replace(settings.endpoint, base_url=self.server.base_url)
        return TokentideApp(replace(settings, endpoint=endpoint, retries=0), theme=theme)


@contextlib.contextmanager
def isolated(home: Path) -> Iterator[None]:
    """Config, history and data in `home`, local time UTC; all put back after."""
    names = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "TOKENTIDE_HISTORY", "TOKENTIDE_CONFIG", "TZ")
    saved = {name: os.environ.get(name) for name in names}
    config = home / "config" / "tokentide" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(PRICES)
    os.environ.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        TOKENTIDE_HISTORY=str(home / "history.db"),
        TZ="UTC",
    )
    os.environ.pop("TOKENTIDE_CONFIG", None)
    time.tzset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        time.tzset()


_RECT = re.compile(
    r'<rect fill="(?P<fill>[^"]+)" x="(?P<x>[0-9.]+)" y="(?P<y>[0-9.]+)" '
    r'width="(?P<w>[0-9.]+)" height="(?P<h>[0-9.]+)" shape-rendering="crispEdges"/>'
)


def merged_backgrounds(svg: str) -> str:
    """The SVG with each run of touching same-colour background cells as one
    rectangle. Rich's export draws one per segment, and where a segment ends
    depends on whether two styles carrying Textual's mouse offsets compare
    equal, which depends on what Rich's style caches hold from earlier work in
    the process: the same screen could come out cut up differently."""
    out: list[str] = []
    last: dict[str, str] | None = None
    pos = 0
    for match in _RECT.finditer(svg):
        rect = match.groupdict()
        between = svg[pos : match.start()]
        if (
            last is not None
            and not between.strip()
            and (rect["fill"], rect["y"], rect["h"]) == (last["fill"], last["y"], last["h"])
            and abs(float(last["x"]) + float(last["w"]) - float(rect["x"])) < 0.01
        ):
            last["w"] = format(float(last["w"]) + float(rect["w"]), ".6g")
            pos = match.end()
            continue
        if last is not None:
            out.append(_rect(last))
        out.append(between)
        last, pos = rect, match.end()
    if last is not None:
        out.append(_rect(last))
    out.append(svg[pos:])
    return "".join(out)


def _rect(rect: dict[str, str]) -> str:
    return (
        f'<rect fill="{rect["fill"]}" x="{rect["x"]}" y="{rect["y"]}" width="{rect["w"]}" '
        f'height="{rect["h"]}" shape-rendering="crispEdges"/>'
    )


@contextlib.contextmanager
def stage() -> Iterator[Stage]:
    """A fresh demo server (seed 0: the same answers every time) and the
    fixed clock and holding point, patched into the real client and status
    line for the scene's length."""
    with (
        tempfile.TemporaryDirectory(prefix="tokentide-scene-") as home,
        isolated(Path(home)),
        DemoServer(tokens_per_second=TOKENS_PER_SECOND, ttft=TTFT) as server,
    ):
        schedule, holding = Schedule(server), Holding()
        aiter = client_stream.AnswerStream.__aiter__

        def held(answer: client_stream.AnswerStream) -> AsyncIterator[StreamEvent]:
            return holding.wrap(aiter(answer))

        patches = [
            (client_stream, "Meter", schedule.meter),
            (client_stream.AnswerStream, "__aiter__", held),
            (status_line, "time", SimpleNamespace(monotonic=schedule.monotonic)),
        ]
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        for owner, name, value in patches:
            setattr(owner, name, value)
        try:
            yield Stage(server, schedule, holding, Path(home))
        finally:
            for owner, name, value in originals:
                setattr(owner, name, value)


# --------------------------------------------------------------------------- waiting


async def until(pilot: Pilot, check: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Let the app run until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def drawn(pilot: Pilot) -> None:
    """Until the screen stops changing: the last frames of the answer view
    and the status line (redrawn at 4 to 12 a second) are in."""
    app = pilot.app
    previous: list[str] | None = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await pilot.pause(0.3)
        now = [strip.text for strip in app.screen._compositor.render_strips()]
        if now == previous:
            return
        previous = now
    raise AssertionError("the screen kept changing")


async def send(pilot: Pilot, text: str) -> None:
    from tokentide.tui.widgets.composer import Composer

    pilot.app.screen.query_one(Composer).load_text(text)
    await pilot.press("enter")


async def answered(pilot: Pilot, text: str) -> None:
    """Send `text` and wait until the answer is recorded, priced and drawn."""
    await send(pilot, text)
    await pilot.app.screen.settle()
    await pilot.app.screen.coloured()
    await drawn(pilot)


async def held(pilot: Pilot, holding: Holding) -> None:
    await until(pilot, lambda: holding.held, "the answer to reach its holding point")
    await drawn(pilot)


# --------------------------------------------------------------------------- scenes

Scene = Callable[[Pilot], Awaitable[None]]


def streaming(stage: Stage) -> Scene:
    """An answer with code and a table, caught mid-table; the status line live."""

    async def steps(pilot: Pilot) -> None:
        stage.server.script(ANSWER)
        stage.holding.hold(HELD_AT)
        await send(pilot, PROMPT)
        await held(pilot, stage.holding)

    return steps


def stopped(stage: Stage) -> Scene:
    """The same answer stopped by Esc there: kept, with tokens received, saved and cost."""

    async def steps(pilot: Pilot) -> None:
        await streaming(stage)(pilot)
        await pilot.press("escape")
        await pilot.app.screen.settle()
        footer = pilot.app.screen.query("AssistantMessage").last().footer
        await until(pilot, lambda: "$" in str(footer.render()), "the cost in the footer")
        await drawn(pilot)

    return steps


def tool_call(stage: Stage) -> Scene:
    """A tool call whose JSON arguments are drawn as they parse, caught half way."""

    async def steps(pilot: Pilot) -> None:
        stage.holding.hold(10)
        await send(pilot, "What's the weather in Lisbon, in celsius?")
        await held(pilot, stage.holding)

    return steps


def thinking(stage: Stage) -> Scene:
    """A thinking model's reasoning, opened above its answer."""

    async def steps(pilot: Pilot) -> None:
        stage.server.script(
            "**21.** The Euclidean algorithm: `1071 = 2·462 + 147`, `462 = 3·147 + 21`, "
            "`147 = 7·21`.",
            reasoning="Use the Euclidean algorithm on 1071 and 462, then read off the last "
            "non-zero remainder.",
        )
        await answered(pilot, "What is the GCD of 1071 and 462?")
        pilot.app.screen.query_one("#thinking").collapsed = False
        await drawn(pilot)

    return steps


def error(stage: Stage) -> Scene:
    """A server error shown inline, its prompt back in the composer."""

    async def steps(pilot: Pilot) -> None:
        stage.server.inject("http:502")
        await answered(pilot, "Summarise the release notes")

    return steps


def finished(stage: Stage) -> Scene:
    """The whole answer, with its footer (the theme pictures)."""

    async def steps(pilot: Pilot) -> None:
        stage.server.script(ANSWER)
        await answered(pilot, PROMPT)
        pilot.app.screen.conversation.scroll_end(animate=False)
        await drawn(pilot)

    return steps


CONVERSATIONS = (
    ("Stream an HTTP response in Python", "Use `client.stream()`."),
    ("Two &mut borrows in Rust?", "Only one may exist at a time."),
    ("The SSE spec in five bullets", "- `data:` lines…"),
    ("Cancel an asyncio task cleanly", "Call `task.cancel()`."),
    ("A haiku about TTFT", "First token arrives —"),
)


def seed_history(path: Path, start: float = 1_735_689_600.0) -> None:
    """Five conversations a day apart from 2025-01-01 (UTC), each a prompt
    and an answer with fixed figures (the third one stopped)."""
    from tokentide.tui.store import AnswerRecord, Store

    with Store.open(path) as store:
        for day, (prompt, answer) in enumerate(CONVERSATIONS):
            store.clock = lambda day=day: start + day * 86400 + 9 * 3600
            conversation = store.new_conversation()
            store.add_user(conversation, prompt)
            row = store.start_answer(
                conversation,
                provider="demo",
                wire="openai",
                model="demo",
                host="127.0.0.1",
                params=None,
                expected_tokens=None,
                expected_method=None,
            )
            store.finish_answer(
                row,
                AnswerRecord(
                    text=answer,
                    outcome="stopped" if day == 2 else "finished",
                    finish_reason=None if day == 2 else "stop",
                    tokens_received=40 + 10 * day,
                    counted=True,
                    tokens_saved=200 if day == 2 else None,
                    ttft_ms=300.0 + 20 * day,
                    tokens_per_s=70.0 + day,
                    itl_p50_ms=14.0 + day / 2,
                    itl_p99_ms=40.0 + 5 * day,
                    longest_stall_ms=120.0 + 30 * day,
                ),
            )


def conversation_list(stage: Stage) -> Scene:
    """Ctrl+B: the saved conversations, newest first, with a search box."""
    seed_history(stage.home / "history.db")

    async def steps(pilot: Pilot) -> None:
        await until(pilot, lambda: pilot.app.screen.history.store is not None, "the history")
        await pilot.press("ctrl+b")
        await drawn(pilot)

    return steps


def model_picker(stage: Stage) -> Scene:
    """Ctrl+O: every configured provider's models, searchable (a second
    provider, "lab", is configured on the same server)."""
    config = stage.home / "config" / "tokentide" / "config.toml"
    lab = f'[providers.lab]\nwire = "openai"\nbase_url = "{stage.server.base_url}"\n'
    config.write_text(PRICES + lab)

    async def steps(pilot: Pilot) -> None:
        from tokentide.tui.screens.model_picker import LOADING, ModelPicker

        await pilot.pause()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, ModelPicker), "the picker")
        options = pilot.app.screen.options

        def loaded() -> bool:
            texts = [
                str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
            ]
            return bool(texts) and not any(LOADING in text for text in texts)

        await until(pilot, loaded, "every provider's models")
        await drawn(pilot)

    return steps


def keys(stage: Stage) -> Scene:
    """F1: every key, grouped by where it works."""

    async def steps(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("f1")
        await drawn(pilot)

    return steps


def stats(stage: Stage) -> Scene:
    """The palette's Stats, over a seeded history and one answer of this session."""
    seed_history(stage.home / "history.db")

    async def steps(pilot: Pilot) -> None:
        from tokentide.tui.screens.stats import StatsScreen

        stage.server.script(ANSWER)
        await answered(pilot, PROMPT)
        await pilot.app.run_action("stats")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatsScreen), "Stats")
        await drawn(pilot)

    return steps


def race(stage: Stage) -> Scene:
    """Race models… from the palette: demo and demo-think answer one prompt side
    by side; both finished, each lane's numbers and cost in its header."""
    config = stage.home / "config" / "tokentide" / "config.toml"
    config.write_text(PRICES + '[prices."demo-think"]\ninput = 1.0\noutput = 5.0\n')

    async def steps(pilot: Pilot) -> None:
        from tokentide.tui.screens.model_picker import LOADING
        from tokentide.tui.screens.race_picker import RacePicker

        await until(pilot, lambda: pilot.app.screen.history.store is not None, "the history")
        await pilot.app.screen.run_action("race_models")
        await until(pilot, lambda: isinstance(pilot.app.screen, RacePicker), "the race picker")
        picker = pilot.app.screen
        await until(pilot, lambda: LOADING not in picker.found.values(), "the demo's models")
        await pilot.pause()
        await pilot.press("enter", "down", "enter", "ctrl+s")
        await until(pilot, lambda: not isinstance(pilot.app.screen, RacePicker), "the race mode")
        await answered(pilot, "Why is the sky blue?")
        await until(
            pilot,
            lambda: "$" in str(pilot.app.screen.query("LaneHeader").last().render()),
            "the costs",
        )
        pilot.app.screen.conversation.scroll_home(animate=False)  # the lanes' headers
        await drawn(pilot)

    return steps


@dataclass(frozen=True)
class Shot:
    """A picture: the scene, and the model and theme the app starts with."""

    scene: Callable[[Stage], Scene]
    model: str = "demo"
    theme: str | None = None
    caption: str = ""


SHOTS: dict[str, Shot] = {
    "streaming": Shot(
        streaming, caption="An answer streaming as Markdown, with the live status line"
    ),
    "stopped": Shot(
        stopped, caption="Esc stopped the answer: what arrived stays, with tokens saved and cost"
    ),
    "tool-call": Shot(
        tool_call,
        "demo-tools",
        caption="A tool call streaming, its JSON arguments parsed as they arrive",
    ),
    "thinking": Shot(
        thinking, "demo-think", caption="A thinking model's reasoning above its answer"
    ),
    "error": Shot(error, caption="A failed request shown inline, the prompt kept for a retry"),
    "conversations": Shot(conversation_list, caption="Ctrl+B: the saved conversations, searchable"),
    "model-picker": Shot(model_picker, caption="Ctrl+O: every configured provider's models"),
    "keys": Shot(keys, caption="F1: every key, grouped by where it works"),
    "stats": Shot(stats, caption="Stats (Ctrl+P): this session and the whole history, per model"),
    "race": Shot(race, caption="Race models… (Ctrl+P): two models answer one prompt side by side"),
    "theme-dark": Shot(finished, theme="tokentide-dark", caption="tokentide-dark (the default)"),
    "theme-light": Shot(finished, theme="tokentide-light", caption="tokentide-light"),
}
"""Every picture, by file name (without .svg)."""


def steady(scene: Scene) -> Scene:
    """The scene, then every text cursor made steady (shown, not blinking:
    a blink would be caught on or off at random), and every widget drawn
    afresh: a line Textual cached while two race lanes were still settling
    their widths can keep one padding cell in a code block's colour, and
    whether it does depends on timing."""

    async def steps(pilot: Pilot) -> None:
        from textual.widgets import Input, TextArea

        # Run as the app's auto-pilot, the scene starts before the chat
        # screen is composed: it waits for the screen's first frame.
        await pilot.app.screen.started.wait()
        await scene(pilot)
        for screen in pilot.app.screen_stack:
            for widget in screen.query("Input, TextArea"):
                assert isinstance(widget, Input | TextArea)
                widget.cursor_blink = False
            for widget in screen.walk_children():
                widget.refresh()
        await pilot.pause()
        await drawn(pilot)

    return steps


def take(name: str) -> str:
    """The SVG of one shot, taken as the snapshot tests take theirs."""
    from textual._doc import take_svg_screenshot

    shot = SHOTS[name]
    with stage() as world:
        scene = steady(shot.scene(world))  # first: it may write the history or config
        app = world.app(shot.model, theme=shot.theme)
        return merged_backgrounds(
            take_svg_screenshot(app=app, terminal_size=SIZE, run_before=scene)
        )
