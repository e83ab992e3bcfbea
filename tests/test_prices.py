"""What answers cost: the offline price table, the config's own prices, and no price
where none is known (never an invented one)."""

from __future__ import annotations

import pytest

from tokentide.client.config import Price
from tokentide.tui.prices import Priced, cost, usd


def answer(model: str, base_url: str, **kw) -> Priced:
    facts = {"input_tokens": 1000, "output_tokens": 500, "counted": True, "provider": "openai"}
    return Priced(model=model, base_url=base_url, **{**facts, **kw})


def test_a_known_model_on_its_providers_api_is_priced():
    found = cost(answer("gpt-4o-mini", "https://api.openai.com/v1"), {})
    assert found is not None and found.source == "genai-prices"
    assert found.usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert not found.estimated and not found.output_only


def test_a_stop_prices_what_was_not_generated_at_the_output_price():
    found = cost(answer("gpt-4o-mini", "https://api.openai.com/v1", saved_tokens=2000), {})
    assert found is not None and found.saved_usd == pytest.approx(2000 * 0.60 / 1e6)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost:11434/v1",
        "http://192.168.1.20/v1",
        "http://100.101.102.103/v1",  # a tailnet
        "http://host.docker.internal:1234/v1",
    ],
)
def test_a_local_server_costs_nothing_per_token_even_with_a_famous_model_name(base_url):
    assert cost(answer("gpt-4o-mini", base_url, provider="lab"), {}) is None


def test_an_unknown_model_has_no_price_and_the_config_can_give_it_one():
    unknown = answer("house-model-7b", "https://llm.example.com/v1", provider="lab")
    assert cost(unknown, {}) is None
    found = cost(unknown, {"house-model-7b": Price(input=0.5, output=1.5)})
    assert found is not None and found.source == "config"
    assert found.usd == pytest.approx((1000 * 0.5 + 500 * 1.5) / 1e6)


def test_without_the_prompts_count_the_cost_says_it_is_the_answers_only():
    found = cost(answer("gpt-4o-mini", "https://api.openai.com/v1", input_tokens=None), {})
    assert found is not None and found.output_only
    assert found.usd == pytest.approx(500 * 0.60 / 1e6)


def test_dollars_are_shown_with_enough_digits():
    assert [usd(v) for v in (1.234, 0.0456, 0.00042, 0.0000031)] == [
        "$1.23",
        "$0.046",
        "$0.0004",
        "$0.000003",
    ]
