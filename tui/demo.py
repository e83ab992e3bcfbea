"""The offline demo provider: a demo server in this process, for as long as needed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from tokentide.client.config import Settings


@contextmanager
def demo_endpoint(settings: Settings) -> Iterator[Settings]:
    """`settings` as they are, or, for the demo provider, with the endpoint
    pointed at a demo server started here and stopped on exit."""
    if not settings.endpoint.demo:
        yield settings
        return
    from tokentide.client.demo import DemoServer

    with DemoServer() as server:
        endpoint = dataclasses.replace(settings.endpoint, base_url=server.base_url)
        yield dataclasses.replace(settings, endpoint=endpoint)
