"""An offline, loopback LLM server that behaves like a real provider, for demos and tests.

Why a package: the server has several separate concerns, each small and each
with its own reason to change: HTTP/1.1 on a socket (`h11conn`), when bytes go
out and how faults bend that (`pacing`), what an API's bytes look like
(`encoder`, then one module per API: `openai`, `anthropic`, `responses`,
`ollama`, `gemini`), what an answer says (`plan`, `answers`) and what
happened (`records`). `server` ties them together. Standard library and h11
only, and no textual/rich: `client` must stay importable without the UI.

    with DemoServer(tokens_per_second=200, ttft=0.2) as server:
        server.script("Hello!")
        ... talk to server.base_url ...
"""

from .faults import FAULTS, check_fault
from .plan import MODELS
from .records import RequestRecord
from .server import DemoServer, serve_forever

__all__ = ["FAULTS", "MODELS", "DemoServer", "RequestRecord", "check_fault", "serve_forever"]
