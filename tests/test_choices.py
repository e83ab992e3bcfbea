"""The app's choices without the app: which prompt an edit is, which endpoint a
stored provider means, what the header says."""

from __future__ import annotations

from tokentide.client.config import ConfiguredProvider, Endpoint, Settings
from tokentide.tui.choices import Choices, SystemPrompt
from tokentide.tui.store import ConversationChoice

LAB = Endpoint("lab", "openai", "http://127.0.0.1:9/v1", "m1")
OTHER = Endpoint("other", "anthropic", "http://127.0.0.1:8", "c1")


def choices(**kw) -> Choices:
    settings = Settings(
        LAB,
        system="Be kind.",
        prompts={"concise": "Answer briefly."},
        providers=(
            ConfiguredProvider("other", OTHER),
            ConfiguredProvider("broken", None, "wire = 'x' is not a wire format"),
        ),
        **kw,
    )
    return Choices(settings)


def test_the_prompts_are_the_default_the_presets_and_none():
    assert choices().prompts() == [
        SystemPrompt("default", "Be kind."),
        SystemPrompt("concise", "Answer briefly."),
        SystemPrompt("none", None),
    ]


def test_an_edit_is_named_by_what_it_is():
    found = choices()
    assert found.edited("Answer briefly.") == SystemPrompt("concise", "Answer briefly.")
    assert found.edited("  \n") == SystemPrompt("none", None)
    edited = found.edited("Only haiku.\nAlways.")
    assert edited == SystemPrompt("edited", "Only haiku.\nAlways.")
    assert edited.describe() == "system: edited (Only haiku.)"


def test_a_stored_provider_means_its_endpoint_with_the_stored_model():
    found = choices()
    assert found.endpoint("other", "c2") == Endpoint(
        "other", "anthropic", "http://127.0.0.1:8", "c2"
    )
    assert found.endpoint("lab", "m2").base_url == LAB.base_url
    assert found.endpoint("broken", "x") is None
    assert found.endpoint("gone", "x") is None


def test_the_sources_put_the_current_provider_first_and_the_demo_last():
    sources = choices().sources(LAB)
    assert [s.provider for s in sources] == ["lab", "other", "broken", "demo"]
    assert sources[2].problem and sources[2].endpoint is None
    assert sources[3].endpoint is None and "demo" in sources[3].models


def test_what_is_stored_and_shown():
    found = choices()
    found.prompt = SystemPrompt("concise", "Answer briefly.")
    assert found.stored(LAB) == ConversationChoice("lab", "m1", "concise", "Answer briefly.")
    assert found.header(LAB) == "lab · m1 · http://127.0.0.1:9/v1 · system: concise"
    assert choices().prompt == SystemPrompt("default", "Be kind.")
