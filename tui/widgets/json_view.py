"""Structured output in the app: the answer's JSON value, drawn as it parses."""

from __future__ import annotations

import json

from rich.text import Text
from textual.widgets import Static

from tokentide.client.accumulate import parse_final, parse_partial

from ..safe_text import safe_text, terminal_json


class JsonView(Static):
    """The value parsed so far, pretty-printed; at the end the strict parse,
    or the raw text and why it is not valid JSON (never a partial value
    shown as if it were the answer)."""

    DEFAULT_CSS = """
    JsonView {
        border-left: outer $success;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    JsonView.-invalid { border-left: outer $error; }
    """

    def show(self, text: str, *, final: bool = False) -> None:
        if final:
            value, error = parse_final(text) if text.strip() else (None, "the answer is empty")
        else:
            value, error = parse_partial(text), None
        body = Text()
        if error is None and value is not None:
            body.append(terminal_json(json.dumps(value, ensure_ascii=False, indent=2)))
        else:
            body.append_text(safe_text(text))
        if error is not None:
            body.append_text(safe_text(f"\nnot valid JSON: {error}", style="italic"))
        self.set_class(error is not None, "-invalid")
        self.update(body)
