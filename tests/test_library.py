"""`tokentide.client` as a library: its public names, and the README's example, run."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import tokentide.client as client
from tokentide.client import accumulate, config, errors, events, meter, request, stream
from tokentide.client.demo import DemoServer

README = Path(__file__).parent.parent / "README.md"


def test_every_exported_name_imports_and_the_vocabulary_is_exported():
    for name in client.__all__:
        assert getattr(client, name) is not None
    assert sorted(client.__all__) == sorted(client._WHERE)
    # Every class a library user meets (events, errors, requests, streams) is exported.
    for module in (events, errors, request, stream):
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                assert name.startswith("_") or name in client.__all__, name
    # ... and what they configure and measure with.
    for name in ("Endpoint", "Settings", "Timeouts", "resolve", "Metrics", "Accumulator"):
        assert name in client.__all__
    assert client.resolve is config.resolve and client.Metrics is meter.Metrics
    assert client.Accumulator is accumulate.Accumulator


def readme_example() -> str:
    section = README.read_text().split("## Use it as a library", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_against_the_demo_server_without_textual(tmp_path):
    code = readme_example()
    assert "http://127.0.0.1:8765/v1" in code
    with DemoServer(tokens_per_second=2000, ttft=0.01) as server:
        program = code.replace("http://127.0.0.1:8765/v1", server.base_url)
        program += "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
        result = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            timeout=30,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Hello from a library!"
    assert re.fullmatch(r"finished \(stop\) · TTFT \d+ ms · \d+ tokens", lines[1]), lines
    assert lines[-1] == "[]"  # neither Textual nor Rich was imported
