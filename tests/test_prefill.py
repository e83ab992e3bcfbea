"""Continue in place (assistant prefill), per wire: what each request body
holds when a stopped answer is continued, and which wires and models refuse."""

from __future__ import annotations

import pytest

from tokentide.client.errors import ConfigError
from tokentide.client.events import Message
from tokentide.client.providers import wire_format
from tokentide.client.providers.anthropic import prefill_allowed
from tokentide.client.request import ChatRequest, Thinking


def continued(model: str = "demo", **kw) -> ChatRequest:
    """A stopped answer sent back to be continued."""
    return ChatRequest(
        model=model,
        messages=[
            Message("user", "count to ten"),
            Message("assistant", "one two three \n"),
        ],
        prefill=True,
        **kw,
    )


def test_anthropic_sends_the_answer_so_far_as_the_last_message_without_trailing_space():
    body = wire_format("anthropic").build_request(continued("claude-sonnet-4-5"), "k").json
    assert body["messages"] == [
        {"role": "user", "content": "count to ten"},
        {"role": "assistant", "content": [{"type": "text", "text": "one two three"}]},
    ]


def test_anthropic_keeps_trailing_space_of_an_answer_that_is_not_continued():
    request = continued("claude-sonnet-4-5")
    request.prefill = False
    request.messages.append(Message("user", "go on"))
    body = wire_format("anthropic").build_request(request, "k").json
    assert body["messages"][1]["content"] == [{"type": "text", "text": "one two three \n"}]


def test_ollama_sends_the_answer_so_far_as_the_last_message():
    body = wire_format("ollama").build_request(continued(), None).json
    assert body["messages"][-1] == {"role": "assistant", "content": "one two three \n"}


@pytest.mark.parametrize("wire", ["openai", "responses", "gemini"])
def test_wires_that_would_ignore_a_prefill_refuse_it(wire):
    fmt = wire_format(wire)
    assert not fmt.can_prefill(continued())
    with pytest.raises(ConfigError, match="cannot continue an answer in place"):
        fmt.build_request(continued(), "k")


@pytest.mark.parametrize("wire", ["anthropic", "ollama"])
def test_thinking_rules_out_a_prefill(wire):
    fmt = wire_format(wire)
    request = continued(thinking=Thinking(2048))
    assert not fmt.can_prefill(request)
    with pytest.raises(ConfigError, match="thinking"):
        fmt.build_request(request, "k")


def test_a_claude_model_from_4_6_on_is_refused_before_anything_is_sent():
    with pytest.raises(ConfigError, match="claude-opus-4-6 cannot continue"):
        wire_format("anthropic").build_request(continued("claude-opus-4-6"), "k")


def test_a_prefill_needs_the_answer_last():
    request = ChatRequest(model="demo", messages=[Message("user", "hi")], prefill=True)
    with pytest.raises(ConfigError, match="last message"):
        wire_format("ollama").build_request(request, None)


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("claude-3-haiku-20240307", True),
        ("claude-3-5-sonnet-20241022", True),
        ("claude-3-7-sonnet-latest", True),
        ("claude-sonnet-4-20250514", True),
        ("claude-opus-4-1-20250805", True),
        ("claude-sonnet-4-5", True),
        ("claude-haiku-4-5-20251001", True),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", True),
        ("claude-opus-4-6", False),
        ("claude-sonnet-4-6", False),
        ("us.anthropic.claude-opus-4-6-v1", False),
        ("anthropic/claude-sonnet-4.6", False),
        ("claude-opus-4-7", False),
        ("claude-sonnet-5", False),
        ("claude-next", False),
        ("demo", True),
        ("deepseek-chat", True),
    ],
)
def test_which_models_continue_a_prefill(model, allowed):
    assert prefill_allowed(model) is allowed
