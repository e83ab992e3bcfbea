"""`tokentide models`: what the provider serves, one id a line."""

from __future__ import annotations

import asyncio

from tokentide.client.config import Settings
from tokentide.client.errors import ApiError
from tokentide.client.stream import ChatClient

from .demo import demo_endpoint
from .exit_codes import ExitCode
from .report import error_line, print_traceback


def run_models(settings: Settings, debug: bool = False) -> int:
    with demo_endpoint(settings) as settings:
        return asyncio.run(_models(settings, debug))


async def _models(settings: Settings, debug: bool) -> int:
    secrets = settings.endpoint.secrets
    try:
        async with ChatClient(settings.endpoint, timeouts=settings.timeouts) as client:
            ids = await client.list_models()
    except ApiError as exc:
        if debug:
            print_traceback(exc, secrets)
        error_line(str(exc), secrets)
        return ExitCode.ERROR
    for model_id in ids:
        # Ids come from the server: one printable line each, whatever it sent.
        print(secrets.scrub("".join(ch for ch in model_id if ch.isprintable())))
    return ExitCode.OK
