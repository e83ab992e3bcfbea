"""What the chat talks to, and with which system prompt.

The model picker lists the models of every provider the configuration
reaches (`Settings.providers`), the one in use first and the offline demo
always; choosing one gives an endpoint for the next request. System prompts
are the top-level `system` (named "default"), the `[prompts]` presets, none,
or text edited in the app. Both are remembered per conversation in the
history (`ConversationChoice`), so this module turns the stored names back
into an endpoint and a prompt, or says in one line why it cannot.

No Textual here: this is state and wording, tested without an app.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokentide.client.config import DEMO, Endpoint, Settings

from .safe_text import one_line

if TYPE_CHECKING:
    from tokentide.client.demo import DemoServer

    from .store import ConversationChoice

DEFAULT = "default"
"""The top-level `system` of the config file (or `--system`)."""
NONE = "none"
"""No system message at all."""
EDITED = "edited"
"""Text edited in the app for one conversation."""


@dataclass(frozen=True)
class SystemPrompt:
    name: str
    """`DEFAULT`, a `[prompts]` preset's name, `EDITED` or `NONE`."""
    text: str | None
    """What is sent as the system message; None sends none."""

    def describe(self) -> str:
        """The header's words: the name, and for an edit its first line."""
        if self.name == EDITED and self.text:
            return f"system: {EDITED} ({_clip(self.text)})"
        return f"system: {self.name}"


@dataclass(frozen=True)
class ModelSource:
    """One provider's line in the picker: an endpoint to ask for its models,
    models known without asking (the demo's), or why it cannot be used."""

    provider: str
    endpoint: Endpoint | None = None
    models: tuple[str, ...] = ()
    problem: str | None = None


class Choices:
    """The session's providers and prompts; owns the demo server it starts when
    the demo is chosen without having been the provider at start."""

    def __init__(self, settings: Settings) -> None:
        self.default_system = settings.system
        self.presets = dict(settings.prompts)
        self.prompt = SystemPrompt(DEFAULT if settings.system else NONE, settings.system)
        """The system prompt the next request is sent with."""
        self._endpoints: dict[str, Endpoint] = {settings.endpoint.name: settings.endpoint}
        self._problems: dict[str, str] = {}
        for other in settings.providers:
            if other.endpoint is not None:
                self._endpoints.setdefault(other.name, other.endpoint)
            elif other.problem:
                self._problems[other.name] = other.problem
        self._demo: DemoServer | None = None

    # -- models ------------------------------------------------------------

    def sources(self, current: Endpoint) -> list[ModelSource]:
        """The picker's providers: the one in use first (its server's list, like
        `tokentide models`), the others, the broken ones (one line each), and
        the demo, whose models are known without a server."""
        sources = [ModelSource(current.name, current)]
        for name, endpoint in self._endpoints.items():
            if name != current.name and not endpoint.demo:
                sources.append(ModelSource(name, endpoint))
        sources += [ModelSource(name, problem=why) for name, why in self._problems.items()]
        if current.name != DEMO:
            from tokentide.client.demo import MODELS

            sources.append(ModelSource(DEMO, models=tuple(MODELS)))
        return sources

    def endpoint(self, provider: str, model: str) -> Endpoint | None:
        """Where a request to `model` of `provider` goes; None if the
        configuration no longer reaches that provider."""
        if provider == DEMO and DEMO not in self._endpoints:
            self._endpoints[DEMO] = self._start_demo()
        found = self._endpoints.get(provider)
        if found is None:
            return None
        return dataclasses.replace(found, model=model)

    def _start_demo(self) -> Endpoint:
        """The offline demo, chosen in the picker: a loopback server of our own,
        stopped by `close` (the app's own demo, if it started on one, is used
        instead: it is in `_endpoints` already)."""
        from tokentide.client.demo import DemoServer

        self._demo = DemoServer().start()
        return Endpoint(
            name=DEMO, wire="openai", base_url=self._demo.base_url, model="demo", demo=True
        )

    def close(self) -> None:
        if self._demo is not None:
            self._demo.stop()
            self._demo = None

    # -- system prompts ------------------------------------------------------

    def prompts(self) -> list[SystemPrompt]:
        """The prompts to pick from: the default (when there is one), the
        presets in the file's order, and none."""
        found = [SystemPrompt(DEFAULT, self.default_system)] if self.default_system else []
        found += [SystemPrompt(name, text) for name, text in self.presets.items()]
        return [*found, SystemPrompt(NONE, None)]

    def edited(self, text: str) -> SystemPrompt:
        """The prompt for text edited in the app: a preset's name if the text is
        still exactly that preset, none if it is blank."""
        if not text.strip():
            return SystemPrompt(NONE, None)
        for prompt in self.prompts():
            if prompt.text == text:
                return prompt
        return SystemPrompt(EDITED, text)

    # -- remembered per conversation ---------------------------------------

    def stored(self, current: Endpoint) -> ConversationChoice:
        """What the history keeps for a conversation held with these choices."""
        from .store import ConversationChoice

        return ConversationChoice(current.name, current.model, self.prompt.name, self.prompt.text)

    def header(self, current: Endpoint) -> str:
        return one_line(f"{current.describe()} · {self.prompt.describe()}")


def restore_failure(choice: ConversationChoice, current: Endpoint) -> str:
    """One line for a reopened conversation whose provider is not configured now."""
    return one_line(
        f"this conversation used {choice.provider} · {choice.model}, which is not "
        f"configured now: keeping {current.name} · {current.model}"
    )


def _clip(text: str, width: int = 24) -> str:
    line = one_line(text.strip().splitlines()[0] if text.strip() else "")
    return line if len(line) <= width else line[: width - 1] + "…"
