"""How metrics are worded, in one place for the CLI and the app.

Estimates carry a `~`; what was measured or reported does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokentide.client.events import Message
    from tokentide.client.meter import Metrics


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def fine_ms(value: float | None) -> str:
    """A short time to a tenth of a millisecond (inter-token gaps are often
    under 20 ms); as `ms` from 100 ms up."""
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 100 else ms(value)


def rate(value: float | None) -> str:
    return "– tok/s" if value is None else f"{value:.1f} tok/s"


def count(n: int, word: str = "token") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def tokens(metrics: Metrics) -> str:
    mark = "~" if metrics.estimated else ""
    return mark + count(metrics.tokens_received)


def stopped(metrics: Metrics) -> str:
    """The line a stopped answer gets: `stopped · N tokens received · ~M saved`
    (`~N` when the server did not count them and the count is an estimate; none
    received is exact however it was counted)."""
    received = tokens(metrics) if metrics.tokens_received else count(0)
    return f"stopped · {received} received · ~{metrics.saved or 0} saved"


def outcome(message: Message) -> str:
    if message.cancelled:
        return "stopped"
    if message.interrupted:
        return "cut off"
    if message.error:
        return "failed"
    if message.finish_reason is None:
        return "no finish reason"
    return f"finished ({message.finish_reason})"


def summary(message: Message, metrics: Metrics) -> str:
    """The compact footer under an answer: model, TTFT, tokens/s, tokens, outcome."""
    if message.cancelled:
        return f"{message.model} · TTFT {ms(metrics.ttft_ms)} · {stopped(metrics)}"
    return " · ".join(
        [
            message.model or "?",
            f"TTFT {ms(metrics.ttft_ms)}",
            rate(metrics.tokens_per_s),
            tokens(metrics),
            outcome(message),
        ]
    )


def details(metrics: Metrics) -> str:
    """How each number was obtained, for a tooltip."""
    lines = [
        f"headers after {ms(metrics.headers_ms)} (network and queue)",
        "TTFT: request sent → first generated token, wall clock here",
        "tokens/s: (tokens − 1) / (last token − first token)",
        "ITL: the gap before a delta, shared by its tokens; p50/p99 over tokens",
        "longest stall: the longest gap between two deltas after the first token",
        f"tokens: {metrics.count_method}",
    ]
    if metrics.tokens_saved:
        lines.append(f"saved: {metrics.tokens_saved.describe()}; an estimate, not a bill")
    return "\n".join(lines)


def stats_line(metrics: Metrics) -> str:
    """`tokentide ask --stats`."""
    parts = [
        f"TTFT {ms(metrics.ttft_ms)}",
        rate(metrics.tokens_per_s),
        f"{count(metrics.tokens_received)} ({metrics.count_method})",
    ]
    if metrics.itl_p50_ms is not None and metrics.itl_p99_ms is not None:
        parts.append(f"ITL p50 {fine_ms(metrics.itl_p50_ms)}, p99 {fine_ms(metrics.itl_p99_ms)}")
    if metrics.longest_stall_ms is not None:
        parts.append(f"longest stall {ms(metrics.longest_stall_ms)}")
    if metrics.total_ms is not None:
        parts.append(f"{metrics.total_ms / 1000:.2f} s total")
    if metrics.tokens_saved:
        parts.append(metrics.tokens_saved.describe())
    return " · ".join(parts)
