"""`tokentide models`: what the provider serves, one id a line (or one JSON document)."""

from __future__ import annotations

import asyncio
import json
import sys

from tokentide.client.config import Endpoint, Settings, Timeouts
from tokentide.client.errors import ApiError
from tokentide.client.stream import ChatClient

from .demo import demo_endpoint
from .exit_codes import ExitCode
from .report import error_line, print_traceback
from .safe_text import one_line, terminal_json


def run_models(settings: Settings, debug: bool = False, as_json: bool = False) -> int:
    demo = settings.endpoint.demo
    with demo_endpoint(settings) as settings:
        return asyncio.run(_models(settings, debug, as_json, demo))


async def model_ids(endpoint: Endpoint, timeouts: Timeouts) -> list[str]:
    """The model ids `endpoint`'s server lists, secrets masked; shared with the
    app's model picker, so both show the same list. Failures are `ApiError`s."""
    secrets = endpoint.secrets
    async with ChatClient(endpoint, timeouts=timeouts) as client:
        ids = await client.list_models()
    return [secrets.scrub(model_id) for model_id in ids]


async def _models(settings: Settings, debug: bool, as_json: bool, demo: bool) -> int:
    endpoint = settings.endpoint
    secrets = endpoint.secrets
    try:
        ids = await model_ids(endpoint, settings.timeouts)
    except ApiError as exc:
        if debug:
            print_traceback(exc, secrets)
        error_line(str(exc), secrets)
        return ExitCode.ERROR
    if as_json:
        document = {
            "provider": endpoint.name,
            "wire": endpoint.wire,
            # The demo's server lives only as long as this command: its URL means nothing after.
            "base_url": None if demo else secrets.scrub(endpoint.base_url),
            "models": ids,
        }
        dumped = json.dumps(document, ensure_ascii=False)
        print(terminal_json(dumped) if sys.stdout.isatty() else dumped)
        return ExitCode.OK
    # Ids come from the server: one line each, its controls shown, whatever it sent.
    for model_id in ids:
        print(one_line(model_id))
    return ExitCode.OK
