"""A loopback server whose answer never ends, and the peak memory of a process.

The replay server sends canned bytes; a server that sends without end (one
line that never ends, deltas forever) has to be made of a prefix and a block
written again and again until the client hangs up. It stops by itself after
`cap` bytes, so a client that never hangs up fails its test instead of
eating the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from tests.replay import LoopbackServer


@dataclass
class Endless:
    prefix: bytes
    block: bytes
    content_type: str = "text/event-stream"
    status: int = 200
    cap: int = 1 << 30
    """Bytes sent at most; then the server closes (a test's client is broken)."""


class EndlessServer(LoopbackServer):
    """Answers every request with `Endless.prefix`, then `block` until the
    client closes the connection (or `cap` is reached). `sent` is what the
    last answer wrote before it ended."""

    def __init__(self, answer: Endless) -> None:
        super().__init__()
        self.answer = answer
        self.sent = 0
        self.capped = False

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = self.answer
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            # No length and no chunking: the body runs until the connection closes.
            writer.write(
                f"HTTP/1.1 {answer.status} X\r\nContent-Type: {answer.content_type}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            writer.write(answer.prefix)
            self.sent = len(answer.prefix)
            while self.sent < answer.cap:
                writer.write(answer.block)
                self.sent += len(answer.block)
                await writer.drain()
            self.capped = True
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what the test wants
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def peak_rss_mb() -> float:
    """This process's peak resident memory since `reset_peak_rss`, in MB."""
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found, "no VmHWM in /proc/self/status"
    return int(found.group(1)) / 1024


def rss_mb() -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert found
    return int(found.group(1)) / 1024


def reset_peak_rss() -> None:
    """Start the peak over from the memory in use now (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")
