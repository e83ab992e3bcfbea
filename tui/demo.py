"""The offline demo provider: a DemoServer in this process, for as long as needed."""

from __future__ import annotations

from contextlib import contextmanager

from tokentide.client.config import Settings


@contextmanager
def demo_endpoint(settings: Settings):
    """Start the demo server in-process when the demo provider is chosen."""
    if not settings.endpoint.is_demo:
        yield
        return
    from tokentide.client.demo_server import DemoServer

    with DemoServer() as server:
        settings.endpoint.base_url = server.base_url
        yield
