"""`tokentide models`: what the provider serves, one id a line."""

from __future__ import annotations

import asyncio
import sys
import traceback

from tokentide.client.config import Settings
from tokentide.client.errors import StreamError
from tokentide.client.stream import ChatClient

from .ask import EXIT_ERROR, EXIT_OK
from .demo import demo_endpoint


def run_models(settings: Settings, debug: bool = False) -> int:
    with demo_endpoint(settings):
        return asyncio.run(_models(settings, debug))


async def _models(settings: Settings, debug: bool) -> int:
    try:
        async with ChatClient(settings.endpoint, timeouts=settings.timeouts) as client:
            ids = await client.list_models()
    except StreamError as exc:
        if debug:
            traceback.print_exc()
        print(f"tokentide: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for model_id in ids:
        print(model_id)
    return EXIT_OK
