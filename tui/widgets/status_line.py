"""The live metrics line: elapsed, TTFT once known, tokens so far, tokens/s."""

from __future__ import annotations

from textual.widgets import Static

from tokentide.client.meter import Metrics

from .. import format as fmt


class StatusLine(Static):
    """Updated by the screen at most ~10 times a second while an answer streams."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        &.-streaming { color: $text-accent; }
    }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False, id="status")

    def idle(self, text: str) -> None:
        self.remove_class("-streaming")
        self.update(text)

    def streaming(self, elapsed: float, metrics: Metrics) -> None:
        self.add_class("-streaming")
        parts = [f"● streaming {elapsed:.1f} s"]
        if metrics.ttft_ms is None:
            parts.append("waiting for first token")
        else:
            parts.append(f"TTFT {fmt.ms(metrics.ttft_ms)}")
            parts.append(fmt.tokens(metrics))
            parts.append(fmt.rate(metrics.tokens_per_s))
        parts.append("Esc stops")
        self.update(" · ".join(parts))
