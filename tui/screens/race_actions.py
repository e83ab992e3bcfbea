"""Racing models in the chat: the palette's "Race models…", the race view,
and keeping one lane's answer as the conversation's reply.

Mixed into `ChatScreen`. Picking 2 to 6 models (screens/race_picker.py, the
model picker's list) puts the chat in race mode: the bar above the prompt
says so, and Esc leaves it. The next prompt goes to every model at once
through the race runner (tui/race.py: a client, a `Turn` and a recording per
lane, `abort()` closing every connection), drawn in a `RaceView`.

In the conversation's tree (tui/branches.py) the race is one prompt with
one answer per lane, each lane's answer row written under the same prompt
row. While no lane is kept, the first lane (in the order picked) that
finished is the chosen one, as the runner records it; keeping a lane (1 to
N on the race, k on a lane) makes its answer the chosen one, here and in the
history (`Race.choose`), and the race view becomes an ordinary answer with
`‹ k/N ›` under it: the other lanes are its alternatives, as regenerated
answers are. A new prompt sent before any lane is kept keeps the first
finished one. The conversation then goes on with the kept answer as context,
on the kept lane's model (the header says so): the race was to pick one.

The runner, the lanes, the race view and pickers and the price table are
imported when a race is asked for: the chat screen's first frame needs none.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.widget import Widget

from ..safe_text import one_line
from ..widgets.race_bar import RaceBar

if TYPE_CHECKING:
    from tokentide.client.config import Endpoint

    from ..branches import Plan
    from ..chat_history import ChatHistory
    from ..choices import Choices
    from ..prices import Cost
    from ..race import Race, RaceLane
    from ..session import SessionTotals
    from ..turn import Exchange, Params
    from ..widgets.composer import Composer
    from ..widgets.conversation import Conversation
    from ..widgets.race_view import RaceView
    from ..widgets.status_line import StatusLine
    from .model_picker import ModelChoice
    from .race_picker import RacePicker


@dataclass
class RaceOver:
    """A race whose lanes have all ended, none kept yet."""

    race: Race
    view: RaceView
    plans: list[Plan]
    costs: list[Cost | None]


class RaceActions:
    """The actions; the attributes below are the chat screen's."""

    if TYPE_CHECKING:
        turns: list[Exchange]
        history: ChatHistory
        streaming: bool
        params: Params
        settings: Any
        choices: Choices
        totals: SessionTotals
        focused: Widget | None
        app: Any

        @property
        def conversation(self) -> Conversation: ...
        @property
        def composer(self) -> Composer: ...
        @property
        def status(self) -> StatusLine: ...
        def plan_prompt(self, text: str) -> Plan: ...
        async def take_off(self, index: int, *, keep_prompt: bool) -> None: ...
        async def use_endpoint(self, endpoint: Endpoint) -> None: ...
        def show_alternatives(self) -> None: ...
        def notify(self, message: str, **kw: Any) -> None: ...
        def query(self, selector: Any) -> Any: ...
        def model_picker(self, kind: type[RacePicker]) -> RacePicker: ...

    race_endpoints: list[Endpoint] | None = None
    """Race mode: the next prompt goes to each of these (lane 1 first)."""
    racing: Race | None = None
    """The race running now; read by the stop key's thread (`abort()` is safe there)."""
    race_over: RaceOver | None = None
    """The last race, over, its view still waiting for a lane to be kept."""
    _race_task: asyncio.Task | None = None

    # -- race mode -----------------------------------------------------------------

    def action_race_models(self) -> None:
        """The palette's "Race models…": tick 2 to 6 of the model picker's models."""
        from .race_picker import RacePicker

        if self.streaming:
            self.notify("An answer is streaming: Esc stops it first.", severity="warning")
            return
        self.app.push_screen(self.model_picker(RacePicker), self._race_picked)

    def _race_picked(self, picks: list[ModelChoice] | None) -> None:
        if picks:
            endpoints = []
            for choice in picks:
                endpoint = self.choices.endpoint(choice.provider, choice.model)
                if endpoint is None:  # the configuration changed under the picker
                    line = one_line(f"{choice.provider} is not configured now: left out")
                    self.notify(line, title="Race", severity="warning", markup=False)
                    continue
                endpoints.append(endpoint)
            self.race_endpoints = endpoints if len(endpoints) >= 2 else None
        self.say_race()
        self.composer.focus()

    def action_cancel_race(self) -> None:
        """Esc in race mode, before the prompt is sent: back to one model."""
        self.race_endpoints = None
        self.say_race()

    def say_race(self) -> None:
        """The bar above the prompt: race mode, a race running, or one to keep."""
        line = None
        if self.racing is not None:
            line = f"racing {len(self.racing.lanes)} models — Esc stops every lane"
        elif self.race_endpoints:
            names = " · ".join(_label(e) for e in self.race_endpoints)
            line = f"racing: {names} — Esc to cancel race mode"
        if (over := self.race_over) is not None:
            count = len(over.race.lanes)
            first = over.race.winner()
            kept = f"lane {first.index + 1}, the first to finish" if first else "lane 1"
            ended = f"race over — Alt+Up, then 1–{count}, keeps a lane's answer"
            ended += f" · a new prompt keeps {kept}"
            line = ended if line is None else f"{ended}\n{line}"
        for bar in self.query(RaceBar):  # none once the screen is being taken down
            bar.say(line)

    # -- the race ----------------------------------------------------------------------

    async def send_race(self, prompt: str) -> None:
        """`prompt` to every model of race mode at once, each in its lane."""
        from tokentide.client.lanes import Lane, LaneSpec

        from ..branches import Answer
        from ..race import Race
        from ..turn import Outcome
        from ..widgets.race_view import RaceView
        from ..widgets.user_message import UserMessage

        endpoints = self.race_endpoints or []
        self.race_endpoints = None
        lanes = [
            Lane(
                LaneSpec(_label(e), e.name, e.model),
                dataclasses.replace(self.settings, endpoint=e),
            )
            for e in endpoints
        ]
        plan = self.plan_prompt(prompt)
        others = [Answer(plan.prompt) for _ in lanes[1:]]
        plan.prompt.answers.extend(others)
        plans = [plan, *(dataclasses.replace(plan, answer=answer) for answer in others)]
        params = self.params
        recording = self.history.recording(lanes[0].settings, params, plan)
        view = RaceView([lane.label for lane in lanes], structured=params.output_schema is not None)
        view.gone = self._race_view_gone

        def done(racer: RaceLane) -> None:
            message, metrics = racer.message, racer.metrics()
            view.lane_done(racer.index, message, metrics, racer.outcome or Outcome.STOPPED)
            self.totals.add(message, metrics)

        race = Race(
            lanes,
            prompt,
            history=plan.history,
            params=params,
            sink=lambda racer, event: view.push(racer.index, event),
            on_lane_done=done,
            recording=recording,
            interruption=getattr(self.app, "interruption", None),
            plans=plans,
        )
        for racer, lane_plan in zip(race.lanes, plans, strict=True):
            lane_plan.answer.turn = racer.turn
        # Streaming from now, before the first await: Enter must not start
        # another answer, and the stop key must find the race.
        self.turns = [*plan.history, race.lanes[0].turn]
        self.racing = race
        self.streaming = True
        self.say_race()
        await self.take_off(plan.index, keep_prompt=not plan.new_prompt)
        await self.conversation.mount_all([UserMessage(prompt), view])
        view.start(
            [lambda racer=racer: racer.message for racer in race.lanes],
            [racer.metrics for racer in race.lanes],
        )
        self.conversation.follow()
        self.status.idle(f"● racing {len(lanes)} models · Esc stops every lane")
        self.status.add_class("-streaming")
        self._race_task = asyncio.create_task(self._run_race(race, view, plans), name="race")
        asyncio.create_task(self._live_prices(race, view), name="race-prices")  # noqa: RUF006

    async def _run_race(self, race: Race, view: RaceView, plans: list[Plan]) -> None:
        costs: list[Cost | None] = [None] * len(race.lanes)
        try:
            await race.run()
        except asyncio.CancelledError:
            pass  # stopped by a quit: every lane was stopped and is recorded
        except Exception as exc:  # a bug, not a request error (those are outcomes)
            said = self.settings.endpoint.secrets.scrub(repr(exc))
            self.notify(f"internal error: {said}", severity="error", timeout=10, markup=False)
        try:
            if view.is_attached:
                await view.flush()
            costs = await race.costs(self.settings.prices)
        finally:
            self._race_ended(race, view, plans, costs)

    def _race_ended(
        self, race: Race, view: RaceView, plans: list[Plan], costs: list[Cost | None]
    ) -> None:
        """Every lane has ended: the first finished lane is the reply until one
        is kept (the runner chose it in the history too)."""
        from ..branches import prune

        winner = race.winner() or race.lanes[0]
        for racer, plan in zip(race.lanes, plans, strict=True):
            plan.answer.metrics = racer.metrics()
        prompt = plans[0].prompt
        prompt.chosen = prompt.answers.index(plans[winner.index].answer)
        prune(prompt)
        self.turns = [*plans[0].history, winner.turn]
        view.finish(costs)
        self.racing = None
        if view.is_attached:
            self.race_over = RaceOver(race, view, plans, costs)
        self.streaming = False
        self.status.idle(self.totals.describe())
        self.say_race()

    async def settle_race(self) -> None:
        """Until the race running, if any, has ended and is recorded and drawn."""
        task = self._race_task
        if task is not None:
            await asyncio.wait([task])

    def abort_race(self) -> None:
        """Esc, Ctrl+C, quitting: every lane's connection closed at once."""
        race = self.racing
        if race is not None:
            race.abort()

    async def _live_prices(self, race: Race, view: RaceView) -> None:
        """Each lane's price of an answer token, for the live cost in its header
        (looked up off the event loop: the price table takes 0.2 s to load)."""
        from ..prices import Priced, cost

        overrides = self.settings.prices
        for racer, lane in zip(race.lanes, view.lanes, strict=True):
            endpoint = racer.settings.endpoint
            million = Priced(
                model=endpoint.model,
                provider=endpoint.name,
                base_url=endpoint.base_url,
                input_tokens=None,
                output_tokens=1_000_000,
                counted=True,
            )
            found = await asyncio.to_thread(cost, million, overrides)
            if found is not None:
                lane.price_per_token = found.usd / 1_000_000
                lane.changed()

    # -- keeping a lane ------------------------------------------------------------------

    async def on_race_view_keep(self, event: RaceView.Keep) -> None:
        """1 to N on the race, k on a lane (by name: `@on` is not read from a mixin)."""
        await self.keep_lane(event.number)

    async def keep_lane(self, number: int) -> bool:
        """Lane `number`'s answer (from 1) becomes the conversation's reply."""
        from ..branches import prune
        from ..turn import Outcome
        from ..widgets.assistant_message import AssistantMessage

        over = self.race_over
        if over is None or not over.view.is_attached:
            self.race_over = None
            return False
        if not 1 <= number <= len(over.race.lanes):
            return False
        racer = over.race.lanes[number - 1]
        if racer.outcome is Outcome.FAILED:
            line = f"Lane {number} failed: nothing to keep. Keep another."
            self.notify(line, title="Race", severity="warning")
            return False
        self.race_over = None
        plan = over.plans[number - 1]
        prompt = plan.prompt
        if plan.answer not in prompt.answers:
            prompt.answers.append(plan.answer)
        prompt.chosen = prompt.answers.index(plan.answer)
        prune(prompt)
        over.race.choose(racer)
        self.turns = [*plan.history, racer.turn]
        answer = AssistantMessage(structured=over.view.lanes[0].answer.structured)
        await self.conversation.mount(answer, after=over.view)
        await over.view.remove()
        message, metrics = racer.message, racer.metrics()
        answer.show_past(message, metrics, racer.outcome is Outcome.INTERRUPTED)
        if (found := over.costs[number - 1]) is not None:
            answer.show_cost(found)
        self.show_alternatives()
        await self.use_endpoint(racer.settings.endpoint)
        self.composer.focus()  # the next prompt, with this answer as its context
        self.say_race()
        return True

    async def keep_first_finished(self) -> None:
        """A prompt sent with a race not kept: the first lane that finished is kept."""
        from ..turn import Outcome

        over = self.race_over
        if over is None:
            return
        first = over.race.winner() or over.race.lanes[0]
        if not await self.keep_lane(first.index + 1):
            self.race_over = None
            self.say_race()
            return
        how = "the first to finish" if first.outcome is Outcome.FINISHED else "none finished"
        line = f"Kept lane {first.index + 1} ({one_line(first.label)}), {how}."
        self.notify(line, title="Race", markup=False)

    def _race_view_gone(self, view: RaceView) -> None:
        """The race view left the screen (kept, a new chat, another conversation)."""
        if self.race_over is not None and self.race_over.view is view:
            self.race_over = None
            self.say_race()


def _label(endpoint: Endpoint) -> str:
    return one_line(f"{endpoint.name}:{endpoint.model}" if endpoint.model else endpoint.name)
