"""Canned content for the demo server: answers, reasoning, tool arguments, token splitting.

The demo provider has to look and feel like a real model without a network, so
the answers are realistic Markdown documents (headings, lists, tables, fenced
code in several languages, links, quotes) long enough to show off streaming,
and the same prompt always gets the same answer so screenshots and tests are
reproducible. Nothing here does I/O; the pacing decides *when* bytes go out,
this module decides *what* they say.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ANSWERS",
    "BAD_TOOL_ARGS",
    "ENDLESS_DELTA",
    "GREETING",
    "HOSTILE",
    "STRAY_TOOL_ARGS",
    "choose_answer",
    "is_greeting",
    "last_user_text",
    "message_chars",
    "reasoning_for",
    "split_tokens",
    "tool_arguments",
    "topic_for",
]

# --------------------------------------------------------------------------- answers

PYTHON = '''# Streaming an HTTP response in Python with `asyncio`

Streaming lets you **show output as soon as it arrives** instead of waiting for the
whole body. With [httpx](https://www.python-httpx.org/) this takes only a few lines,
but there are a couple of details that are easy to get wrong.

## The basic loop

```python
import asyncio
import time

import httpx


async def stream_answer(url: str, payload: dict) -> str:
    """Print tokens as they arrive and return the full text."""
    parts: list[str] = []
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0)) as client:
        async with client.stream("POST", url, json=payload) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue  # blank separators and ": keep-alive" comments
                data = line.removeprefix("data: ")
                if data == "[DONE]":
                    break
                parts.append(data)
                print(data, end="", flush=True)
    print(f"\\n{len(parts)} events in {time.perf_counter() - started:.2f} s")
    return "".join(parts)


if __name__ == "__main__":
    asyncio.run(stream_answer("http://127.0.0.1:8000/v1/chat/completions", {}))
```

## Things that matter

1. **Use `client.stream()`**, not `client.post()`: the latter reads the whole body
   into memory before returning.
2. **Set a read timeout**, not just a connect timeout. A server that stalls
   mid-answer should not hang your program forever.
3. **Leave the `async with` block to cancel.** Closing the response closes the
   connection, and a well-behaved server stops generating.
4. *Flush* stdout, or your terminal may buffer the output line by line.

> Tip: cancelling the task that runs `stream_answer()` raises `CancelledError`
> inside the `async with`, which closes the response for you.

## Measuring what you get

| Metric | How to measure | Typical value |
|---|---|---|
| Time to first token | first content delta − request sent | 0.2–1.5 s |
| Tokens per second | deltas ÷ (last − first delta) | 30–150 tok/s |
| Total latency | last byte − request sent | depends on length |

- Use `time.perf_counter()`, never `time.time()`: wall-clock time can jump.
- Count *deltas* as a cheap estimate of tokens; most servers send one token per event.
- Measure on the client side; the server's numbers don't include the network.

That's all you need for a responsive streaming client. For the full protocol,
see the [OpenAI streaming guide](https://platform.openai.com/docs/api-reference/streaming).
'''

RUST = """# Ownership and borrowing in Rust

Rust's ownership model is what lets it guarantee **memory safety without a garbage
collector**. It comes down to three rules, checked entirely at compile time:

1. Each value has exactly *one owner*.
2. When the owner goes out of scope, the value is dropped.
3. You can have **either** one mutable reference **or** any number of shared
   references to a value, but not both at the same time.

## Moves and borrows

```rust
#[derive(Debug)]
struct Config {
    name: String,
    retries: u32,
}

fn describe(config: &Config) -> String {
    // A shared borrow: we can read, but not modify or keep it.
    format!("{} (retries: {})", config.name, config.retries)
}

fn bump(config: &mut Config) {
    // An exclusive borrow: nobody else can look at `config` meanwhile.
    config.retries += 1;
}

fn main() {
    let mut config = Config { name: "tokentide".to_string(), retries: 2 };
    bump(&mut config);
    println!("{}", describe(&config));

    let moved = config; // ownership moves here
    // println!("{:?}", config); // error[E0382]: borrow of moved value
    println!("{moved:?}");
}
```

Run it with Cargo:

```bash
cargo new ownership-demo && cd ownership-demo
cargo run --release
cargo clippy -- -D warnings   # the linter catches many borrow mistakes early
```

## Choosing how to hold a value

| Type | Owns the data? | Mutable? | Typical use |
|---|---|---|---|
| `T` | yes | if binding is `mut` | plain values, struct fields |
| `&T` | no | no | read-only function arguments |
| `&mut T` | no | yes | in-place updates |
| `Box<T>` | yes | yes | heap allocation, recursive types |
| `Rc<T>` / `Arc<T>` | shared | no (use `RefCell`/`Mutex`) | shared ownership |

## Common pitfalls

- **Holding a borrow too long.** Since Rust 2018, *non-lexical lifetimes* end a
  borrow at its last use, so restructuring code often fixes the error.
- **Cloning to silence the compiler.** `.clone()` works, but it copies data; prefer
  borrowing when you only need to read.
- **Returning references to locals.** The local is dropped at the end of the
  function, so return an owned `String` instead of `&str`.

> The borrow checker is not your enemy; it is a very strict code reviewer that
> never gets tired.

Further reading: chapter 4 of [The Rust Programming Language](https://doc.rust-lang.org/book/ch04-00-understanding-ownership.html).
"""

SQL = """# Window functions in SQL

A **window function** computes a value for each row using a *window* of related
rows, without collapsing them the way `GROUP BY` does. They are supported by
PostgreSQL, SQLite (3.25+), MySQL 8 and every major warehouse.

## Example: running totals and ranks

Suppose we have a table of orders:

```sql
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer    TEXT    NOT NULL,
    ordered_at  DATE    NOT NULL,
    amount      NUMERIC(10, 2) NOT NULL
);

SELECT
    customer,
    ordered_at,
    amount,
    SUM(amount) OVER (PARTITION BY customer ORDER BY ordered_at) AS running_total,
    RANK()      OVER (PARTITION BY customer ORDER BY amount DESC) AS size_rank,
    amount - LAG(amount) OVER (PARTITION BY customer ORDER BY ordered_at) AS change
FROM orders
ORDER BY customer, ordered_at;
```

The result keeps every row and adds the computed columns:

| customer | ordered_at | amount | running_total | size_rank | change |
|---|---|---:|---:|---:|---:|
| ada | 2024-01-03 | 120.00 | 120.00 | 2 | *NULL* |
| ada | 2024-02-11 | 80.00 | 200.00 | 3 | −40.00 |
| ada | 2024-03-07 | 150.00 | 350.00 | 1 | 70.00 |
| linus | 2024-01-20 | 60.00 | 60.00 | 1 | *NULL* |

## The parts of `OVER (...)`

- `PARTITION BY` splits rows into independent groups (like `GROUP BY`, but rows stay).
- `ORDER BY` defines the order *inside* each partition; it is required for `LAG`,
  `LEAD`, `ROW_NUMBER` and running totals.
- A **frame clause** such as `ROWS BETWEEN 6 PRECEDING AND CURRENT ROW` limits the
  window, which gives you a 7-row moving average:

```sql
SELECT ordered_at,
       AVG(amount) OVER (ORDER BY ordered_at
                         ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg_7
FROM orders;
```

## Pitfalls

1. The default frame with `ORDER BY` is `RANGE BETWEEN UNBOUNDED PRECEDING AND
   CURRENT ROW`, so **ties share a running total**. Use `ROWS` if you want one row at a time.
2. You cannot use a window function in `WHERE`; wrap the query in a CTE and filter outside.
3. `RANK()` leaves gaps after ties, `DENSE_RANK()` does not, and `ROW_NUMBER()` never ties.

> Rule of thumb: if you are about to self-join a table to "look at the previous
> row", you probably want `LAG()`.

See the [PostgreSQL tutorial on window functions](https://www.postgresql.org/docs/current/tutorial-window.html)
for more examples.
"""

BASH = """# Finding what is filling up your disk

When a disk is nearly full, the quickest way to find the culprit is to work from
the top down: first *which filesystem*, then *which directory*, then *which files*.

## 1. Which filesystem?

```bash
df -h -x tmpfs -x devtmpfs
```

Look at the `Use%` column. Anything above **90%** deserves attention.

## 2. Which directory?

```bash
# Biggest directories one level below /var, largest last
sudo du -xh --max-depth=1 /var 2>/dev/null | sort -h | tail -n 15
```

- `-x` stays on one filesystem, so you don't wander into network mounts.
- `sort -h` understands human sizes like `512K`, `3.1G`.
- If you have it installed, [`ncdu`](https://dev.yorhel.nl/ncdu) gives an
  interactive view of the same data.

## 3. Which files?

```bash
#!/usr/bin/env bash
set -euo pipefail

dir="${1:-.}"
# The 20 largest files over 100 MiB, with sizes in MiB
find "$dir" -xdev -type f -size +100M -printf '%s\\t%p\\n' 2>/dev/null \\
  | sort -rn \\
  | head -n 20 \\
  | awk -F'\\t' '{ printf "%8.1f MiB  %s\\n", $1 / 1048576, $2 }'
```

## Usual suspects

| Location | What grows there | Safe cleanup |
|---|---|---|
| `/var/log` | rotated logs | `sudo journalctl --vacuum-size=200M` |
| `~/.cache` | pip, npm, browser caches | delete the cache directories |
| `/var/lib/docker` | images, volumes | `docker system prune` |
| `node_modules/` | dependencies | remove and reinstall |

## Deleted but still open

A file that was deleted while a process still holds it open keeps using space:

```bash
sudo lsof +L1 | awk 'NR == 1 || $7 > 100000000'
```

Restart the process that owns it (often a log writer) and the space comes back.

> **Careful:** never delete files under `/var/lib` by hand unless you know which
> service owns them. Use the tool that created them.

1. Check `df` again after each cleanup step.
2. Keep at least *10–15%* free; some filesystems slow down badly when nearly full.
3. Set up log rotation so it does not happen again.
"""

SSE = """# How streaming works in LLM APIs

Most LLM APIs stream their answers with **Server-Sent Events (SSE)**: a plain HTTP
response with `Content-Type: text/event-stream` that stays open while the model
generates. Each token (or a few) is sent as soon as it exists.

## What goes over the wire

A streaming request is an ordinary `POST` with `"stream": true`:

```bash
curl -N http://127.0.0.1:8000/v1/chat/completions \\
  -H "Content-Type: application/json" \\
  -d '{"model": "demo", "stream": true,
       "messages": [{"role": "user", "content": "Say hello"}]}'
```

The response body is a sequence of `data:` lines, each followed by a blank line:

```json
{
  "id": "chatcmpl-123",
  "object": "chat.completion.chunk",
  "choices": [
    {"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}
  ]
}
```

and it ends with `data: [DONE]`.

## The event lifecycle

1. The first chunk carries `delta.role = "assistant"` and usually empty content.
2. Content chunks carry small `delta.content` pieces; *concatenate them*.
3. A chunk with `finish_reason` (`stop`, `length`, `tool_calls`) ends the answer.
4. With `stream_options.include_usage`, one more chunk has `choices: []` and the
   token `usage`.
5. `data: [DONE]` closes the stream.

## Things a robust client handles

- **Comments.** Lines starting with `:` (such as `: keep-alive`) are not events.
- **Errors mid-stream.** A `data:` line can contain `{"error": {...}}` after a
  `200 OK` was already sent.
- **Truncation.** If the body ends without `finish_reason` and without `[DONE]`,
  the answer is incomplete, even though no exception was raised.
- **Line endings.** SSE allows `\\n`, `\\r\\n` and `\\r`.

| Field | Where | Meaning |
|---|---|---|
| `delta.content` | each chunk | the next piece of text |
| `delta.tool_calls` | tool chunks | function name and argument fragments |
| `finish_reason` | last choice chunk | why generation stopped |
| `usage` | final chunk | prompt and completion token counts |

> Cancelling is just closing the connection. The server notices the *EOF* and,
> if it is well behaved, stops generating, so you stop paying for tokens.

The format itself is specified in the
[WHATWG HTML standard](https://html.spec.whatwg.org/multipage/server-sent-events.html).
"""

FORMATS = """# JSON vs TOML vs YAML for configuration files

All three can describe the same data, but they make different trade-offs. Here is
a quick comparison, followed by the **same config** in each format.

## At a glance

| | JSON | TOML | YAML |
|---|---|---|---|
| Comments | no | yes (`#`) | yes (`#`) |
| Trailing commas | no | n/a | n/a |
| Indentation matters | no | no | **yes** |
| Dates and times | no (strings) | yes, native | yes, native |
| Standard library in Python | `json` | `tomllib` (3.11+, read-only) | no (`PyYAML`) |
| Good for | machine-to-machine | human-edited config | complex, nested config |

## The same settings three ways

```json
{
  "model": "demo",
  "stream": true,
  "providers": [
    {"name": "local", "base_url": "http://127.0.0.1:8000/v1", "timeout": 30}
  ]
}
```

```toml
model = "demo"
stream = true

[[providers]]
name = "local"
base_url = "http://127.0.0.1:8000/v1"
timeout = 30  # seconds
```

```yaml
model: demo
stream: true
providers:
  - name: local
    base_url: http://127.0.0.1:8000/v1
    timeout: 30  # seconds
```

## Reading them from Python

```python
import json
import tomllib
from pathlib import Path

settings = tomllib.loads(Path("config.toml").read_text(encoding="utf-8"))
same = json.loads(Path("config.json").read_text(encoding="utf-8"))
assert settings["providers"][0]["timeout"] == same["providers"][0]["timeout"]
```

## Recommendations

- Pick **TOML** for files people edit by hand: it is explicit, has comments and
  no indentation traps. Python's own `pyproject.toml` uses it.
- Pick **JSON** for data exchanged between programs, and for anything that must be
  parsed everywhere.
- Pick *YAML* only when you need its extra features (anchors, multi-document
  files) or an ecosystem already expects it (Kubernetes, GitHub Actions).

> YAML's "Norway problem": in YAML 1.1 the unquoted value `NO` is parsed as the
> boolean `false`. Quote your strings.

More detail: the [TOML spec](https://toml.io/en/v1.0.0) and the
[YAML 1.2 spec](https://yaml.org/spec/1.2.2/).
"""

GREETING = """Hello! 👋 I'm the **tokentide demo model**, an offline stand-in that streams \
canned answers so you can try the app without an API key.

Try asking about:

- *Rust* ownership
- SQL window functions
- `asyncio` streaming in Python

Press **Esc** to stop an answer mid-stream.
"""

#: The answer under the `hostile` fault: what a compromised or malicious server
#: could send to take over a terminal. Each line is one trick a client must
#: neutralise (or show visibly) before it reaches a terminal or a Rich renderer.
HOSTILE = (
    "Hostile answer, each line a trick:\n\n"
    "- clear screen and home: \x1b[2J\x1b[Hstill here?\n"
    "- clipboard write (OSC 52): \x1b]52;c;aGk=\x07\n"
    "- window title (OSC 0): \x1b]0;owned\x07\n"
    "- hyperlink (OSC 8): \x1b]8;;file:///etc/passwd\x1b\\click\x1b]8;;\x1b\\\n"
    "- C1 CSI: \u009b31mred?\u009b0m\n"
    "- bidi override: \u202egnp.exe\u202c and isolate: \u2066abc\u2069\n"
    "- Rich markup: [red]x[/red] and [link=file:///etc/passwd]y[/link]\n"
    "- carriage return: hidden\rshown, backspace: a\x08b, bell: \x07\n"
)

#: Tool arguments that never become valid JSON (the `bad_tool_args` fault).
BAD_TOOL_ARGS = '{"city": "Par'

#: The arguments of the nameless, id-less tool-call fragment (the `nameless_tool` fault).
STRAY_TOOL_ARGS = '}{"garbage'

#: One delta of the `endless` fault: 64 KiB of Markdown paragraphs.
ENDLESS_DELTA = (
    ("This answer never ends. " * 3 + "It goes on and on, paragraph after paragraph.\n\n") * 1024
)[: 64 * 1024]

#: The long canned answers, by topic key. Order matters for the hash fallback.
ANSWERS: dict[str, str] = {
    "python": PYTHON,
    "rust": RUST,
    "sql": SQL,
    "bash": BASH,
    "sse": SSE,
    "formats": FORMATS,
}

# Keyword -> topic, checked in this order (first match wins), whole words only.
_KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("rust", ("rust", "cargo", "borrow", "borrowing", "ownership", "lifetime", "lifetimes")),
    ("sql", ("sql", "database", "query", "postgres", "postgresql", "sqlite", "mysql", "window")),
    ("python", ("python", "asyncio", "httpx", "pip", "async", "await")),
    ("bash", ("bash", "shell", "terminal", "linux", "disk", "command", "zsh", "unix")),
    ("sse", ("json", "api", "http", "sse", "stream", "streaming", "curl", "token", "tokens")),
    ("formats", ("table", "compare", "comparison", "versus", "vs", "yaml", "toml", "config")),
]

_GREETING_RE = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|yo|hallo|hola|greetings|good (morning|afternoon|evening))"
    r"\b[\s!.,?]*(there|you|all|tokentide|demo)?[\s!.,?😀👋🙂]*$",
    re.IGNORECASE,
)

_TOPIC_NOTES: dict[str, str] = {
    "python": "the difference between reading the whole body and iterating over it, "
    "plus timeouts and cancellation",
    "rust": "the three ownership rules, a small example that moves and borrows, "
    "and the usual borrow-checker errors",
    "sql": "how OVER (...) differs from GROUP BY, with a running total and a rank "
    "as concrete examples",
    "bash": "a top-down approach: filesystem, then directory, then individual files, "
    "plus deleted-but-open files",
    "sse": "the framing (data lines, blank lines, [DONE]), the chunk fields and the "
    "failure modes a client must handle",
    "formats": "a comparison table and the same settings written in each format",
}


def topic_for(prompt: str) -> str:
    """The canned-answer key for a prompt: keyword match first, else a stable hash.

    A stable hash (crc32, not `hash()`) keeps the choice identical across runs
    and processes, so screenshots and recorded demos do not change.
    """
    words = set(re.findall(r"[a-z0-9]+", prompt.lower()))
    for topic, keywords in _KEYWORDS:
        if words.intersection(keywords):
            return topic
    keys = list(ANSWERS)
    return keys[zlib.crc32(prompt.strip().encode("utf-8")) % len(keys)]


def is_greeting(prompt: str) -> bool:
    """True for short hellos, which deserve a short answer rather than an essay."""
    return len(prompt) <= 40 and _GREETING_RE.match(prompt) is not None


def choose_answer(prompt: str) -> str:
    """The answer text for the last user message.

    `/echo TEXT` answers exactly TEXT (for end-to-end tests that drive the app
    through a subprocess and cannot call `DemoServer.script()`), greetings get
    a short answer, everything else a long canned Markdown document.
    """
    if prompt.startswith("/echo "):
        return prompt[len("/echo ") :]
    if is_greeting(prompt):
        return GREETING
    return ANSWERS[topic_for(prompt)]


def reasoning_for(prompt: str) -> str:
    """A few sentences of plausible thinking about the prompt, for `demo-think`."""
    subject = " ".join(prompt.split())
    if len(subject) > 60:
        subject = subject[:57].rstrip() + "..."
    if not subject:
        subject = "an empty message"
    if prompt.startswith("/echo "):
        return (
            f'The user wants me to repeat "{subject[6:]}" back exactly. '
            "Nothing to work out here; I should reproduce it verbatim without adding anything."
        )
    if is_greeting(prompt):
        return (
            f'The user said "{subject}". That is a greeting, so a long answer would be '
            "out of place. I'll say hello, explain briefly what this demo is, "
            "and suggest a few things to try."
        )
    topic = topic_for(prompt)
    return (
        f'The user asked: "{subject}". Let me work out what they actually need. '
        f"The most useful structure is probably {_TOPIC_NOTES[topic]}. "
        "A short, runnable example will make it concrete, so I'll include one and keep it minimal. "
        "I should also point out the most common mistake, because that is usually why people ask. "
        "Headings and a list will keep the answer easy to skim in a terminal."
    )


# --------------------------------------------------------------------------- tools

_CITY_RE = re.compile(r"\b(?:in|for|at)\s+([A-Z][a-zA-Z\u00C0-\u024F]+(?:\s[A-Z][a-zA-Z]+)?)")


def tool_arguments(prompt: str, tool: dict[str, Any] | None) -> str:
    """JSON arguments for the demo tool call, shaped by the request's tool schema.

    With no tool in the request this is a `get_weather` call for the city the
    prompt mentions (Paris if none). With a tool, each declared property gets a
    plausible value of its type so the arguments validate against the schema.
    """
    match = _CITY_RE.search(prompt)
    city = match.group(1) if match else "Paris"
    params: dict[str, Any] = {}
    if tool is not None:
        function = tool.get("function", tool) if isinstance(tool, dict) else {}
        params = function.get("parameters") or {} if isinstance(function, dict) else {}
    props = params.get("properties") if isinstance(params, dict) else None
    if not isinstance(props, dict) or not props:
        return json.dumps({"city": city, "unit": "celsius"}, ensure_ascii=False)
    args: dict[str, Any] = {}
    for name, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            args[name] = schema["enum"][0]
        elif kind in ("integer", "number"):
            args[name] = 3
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        elif any(word in name.lower() for word in ("city", "location", "place", "town")):
            args[name] = city
        else:
            args[name] = " ".join(prompt.split()[:6]) or name
    return json.dumps(args, ensure_ascii=False)


def structured_answer(prompt: str, schema: dict[str, Any]) -> str:
    """A JSON answer that matches `schema`, indented so it streams in many
    small tokens the way a model writes one; any object for an empty schema."""
    if not schema:
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    return json.dumps(_sample(schema, prompt, "answer", 0), ensure_ascii=False, indent=2)


def _sample(schema: Any, prompt: str, name: str, depth: int) -> Any:
    """A plausible value of `schema`: enums, consts, objects, arrays and scalars."""
    schema = schema if isinstance(schema, dict) else {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _sample(schema[key][0], prompt, name, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") if depth < 4 else None
        if not isinstance(props, dict):
            return {}
        return {key: _sample(value, prompt, key, depth + 1) for key, value in props.items()}
    if kind == "array":
        count = max(2, schema.get("minItems", 0) if isinstance(schema.get("minItems"), int) else 0)
        return [_sample(schema.get("items"), prompt, name, depth + 1) for _ in range(min(count, 3))]
    if kind == "integer":
        return int(schema.get("minimum", 3)) if isinstance(schema.get("minimum"), int) else 3
    if kind == "number":
        return 3.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    match = _CITY_RE.search(prompt)
    if match and any(word in name.lower() for word in ("city", "location", "place", "town")):
        return match.group(1)
    return " ".join(prompt.split()[:6]) or name


# --------------------------------------------------------------------------- messages


def _content_text(content: Any) -> str:
    """The text of a message's content, which may be a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
        return "".join(texts)
    return ""


def last_user_text(messages: Sequence[Any]) -> str:
    """The text of the last `user` message ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def message_chars(messages: Sequence[Any]) -> int:
    """Characters of all message text, the basis of the prompt-token estimate."""
    total = 0
    for message in messages:
        if isinstance(message, dict):
            total += len(_content_text(message.get("content")))
    return total


# --------------------------------------------------------------------------- tokens

# Pre-tokenisation in the spirit of GPT-style BPE: contractions, a word with its
# leading space, runs of digits, punctuation with an optional leading space,
# newlines, and other whitespace.
_PIECE_RE = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)\b"
    r"| ?[^\W\d_]+"
    r"| ?\d{1,3}"
    r"| ?[^\s\w]+"
    r"|\n+"
    r"|[^\S\n]+(?!\S)"
    r"|[^\S\n]+"
    r"|_+",
    re.UNICODE,
)


def split_tokens(text: str, seed: int = 0) -> list[str]:
    """Split text into 1-6 character deltas the way a real tokenizer's output looks.

    Words keep their leading space (" hello"), punctuation comes in short runs,
    long words and long whitespace runs are broken into several pieces. The
    split is deterministic for a given text and seed, and the pieces always
    concatenate to exactly `text` (newlines, unicode and all), which is what
    the tests and the app's accumulators rely on.
    """
    rng = random.Random(f"{seed}:{zlib.crc32(text.encode('utf-8', 'surrogatepass'))}")
    pieces: list[str] = []
    pos = 0
    for match in _PIECE_RE.finditer(text):
        if match.start() > pos:  # anything the pattern missed, kept verbatim
            pieces.extend(_chop(text[pos : match.start()], rng, 3))
        pos = match.end()
        piece = match.group()
        if len(piece) <= 6:
            pieces.append(piece)
        elif not piece.strip():  # whitespace runs: indentation comes in 4s
            pieces.extend(_chop(piece, rng, 4))
        elif not piece.strip(" ").isalnum():  # punctuation runs such as "```" or "-->"
            pieces.extend(_chop(piece, rng, 3))
        else:  # long words become two or three sub-word pieces
            pieces.extend(_chop(piece, rng, 6))
    if pos < len(text):
        pieces.extend(_chop(text[pos:], rng, 3))
    return pieces


def _chop(piece: str, rng: random.Random, longest: int) -> list[str]:
    """Cut a piece into as few parts of at most `longest` characters as possible.

    Sizes are spread evenly (" Streaming" -> " Stre", "aming"-like halves, never
    a one-letter tail) and the rng only decides which parts get the extra
    character, so the result looks like sub-word tokens rather than a ruler.
    """
    count = -(-len(piece) // longest)
    base, extra = divmod(len(piece), count)
    bigger = set(rng.sample(range(count), extra))
    parts: list[str] = []
    i = 0
    for n in range(count):
        size = base + (1 if n in bigger else 0)
        parts.append(piece[i : i + size])
        i += size
    return parts
