"""What an answer cost, and what stopping it saved, in US dollars.

Prices come from the config file (`[prices."MODEL"]`, USD per million tokens)
or else from `genai-prices`, a maintained offline price table (imported only
when a price is wanted: it takes 0.2 s to load). A model nobody prices, and
any model served from this machine or a private network (local servers cost
nothing per token), has no price: tokens are shown, never an invented cost.

The saved cost of a stopped answer is the tokens not generated at the output
price: an estimate, since no provider documents that a closed connection
stops the bill (local servers do stop).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tokentide.client.config import Endpoint, Price

if TYPE_CHECKING:
    from tokentide.client.events import Message
    from tokentide.client.meter import Metrics

    from .store import Store


@dataclass(frozen=True)
class Cost:
    usd: float
    """What the answer cost (prompt and answer tokens)."""
    saved_usd: float | None
    """What the tokens not generated would have cost (a stopped answer only)."""
    estimated: bool
    """A count behind it was estimated (no usage from the server)."""
    source: str
    """Where the price came from: "config" or "genai-prices"."""
    output_only: bool = False
    """The server did not say how long the prompt was: the prompt is not in `usd`."""


@dataclass(frozen=True)
class Priced:
    """The facts a price needs, as the history keeps them."""

    model: str
    provider: str
    base_url: str
    input_tokens: int | None
    output_tokens: int
    counted: bool
    """The output count is the server's (else estimated from the stream)."""
    saved_tokens: int | None = None
    when: datetime | None = None

    @classmethod
    def answer(cls, endpoint: Endpoint, message: Message, metrics: Metrics) -> Priced:
        """An answer that just ended, as its endpoint, message and metrics say."""
        return cls(
            model=endpoint.model,
            provider=endpoint.name,
            base_url=endpoint.base_url,
            input_tokens=message.usage.input_tokens if message.usage else None,
            output_tokens=metrics.tokens_received,
            counted=not metrics.estimated,
            saved_tokens=metrics.saved,
        )


def cost(answer: Priced, overrides: Mapping[str, Price]) -> Cost | None:
    """The answer's cost, or None when nothing prices this model."""
    price = overrides.get(answer.model)
    if price is not None:
        return _from_price(answer, price.input, price.output, "config")
    if _local(answer.base_url):
        return None
    found = _lookup(answer)
    if found is None:
        return None
    input_per_m, output_per_m = found
    return _from_price(answer, input_per_m, output_per_m, "genai-prices")


def _from_price(answer: Priced, input_per_m: float, output_per_m: float, source: str) -> Cost:
    input_tokens = answer.input_tokens or 0
    usd = (input_tokens * input_per_m + answer.output_tokens * output_per_m) / 1e6
    saved = None
    if answer.saved_tokens is not None:
        saved = answer.saved_tokens * output_per_m / 1e6
    return Cost(usd, saved, not answer.counted, source, output_only=answer.input_tokens is None)


def _lookup(answer: Priced) -> tuple[float, float] | None:
    """USD per million input and output tokens from genai-prices."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a broken install: no prices, no crash
        return None
    million = 1_000_000
    try:
        per_million = calc_price(
            Usage(input_tokens=million, output_tokens=million),
            answer.model,
            provider_id=_provider_id(answer.provider),
            provider_api_url=answer.base_url or None,
            genai_request_timestamp=answer.when,
        )
    except (LookupError, ValueError):
        return None
    return float(per_million.input_price), float(per_million.output_price)


def _provider_id(provider: str) -> str | None:
    """Our built-in provider names are genai-prices' ids; any other is found by URL."""
    return provider if provider in ("openai", "anthropic") else None


_SHARED = ipaddress.ip_network("100.64.0.0/10")
"""Carrier-grade NAT space, where Tailscale puts the machines of a tailnet."""


def _local(base_url: str) -> bool:
    """A server on this machine or a private network: nothing to pay per token."""
    host = urlsplit(base_url).hostname or ""
    if host in ("localhost", "", "host.docker.internal") or host.endswith((".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback or address.is_private or address.is_link_local:
        return True
    return address.version == 4 and address in _SHARED


def usd(value: float) -> str:
    """$0.0042, $1.23: enough digits to tell small amounts apart."""
    if value >= 1:
        return f"${value:.2f}"
    if value >= 0.01:
        return f"${value:.3f}"
    return f"${value:.4f}" if value >= 0.0001 else f"${value:.6f}"


def price_answers(store: Store, overrides: Mapping[str, Price]) -> int:
    """Price every ended answer not priced yet; how many were looked at.

    Done when a cost is first wanted (`stats`, the app after an answer), not
    while answering: the price table takes 0.2 s to load.
    """
    rows = store.unpriced(priced_models=list(overrides))
    for row in rows:
        found = cost(
            Priced(
                model=row.model or "",
                provider=row.provider or "",
                base_url=f"https://{row.host}" if row.host else "",
                input_tokens=row.input_tokens,
                output_tokens=row.tokens_received or 0,
                counted=bool(row.tokens_counted_by_server),
                saved_tokens=row.tokens_saved,
                when=_when(row.started_at or row.created_at),
            ),
            overrides,
        )
        if found is None:
            store.set_cost(row.id, None, None, "none")
        else:
            store.set_cost(row.id, found.usd, found.saved_usd, found.source)
    return len(rows)


def _when(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None
