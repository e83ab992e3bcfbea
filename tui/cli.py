"""The `tokentide` command line.

Kept thin and fast to start: Textual is imported only by the command that
opens the app, so `tokentide ask` and every `--help` start without it.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tokentide.client.errors import ConfigError

from .exit_codes import ExitCode
from .prelude import fail as _fail
from .prelude import need_terminal
from .prelude import settings as _settings
from .prelude import settle_lanes as _settle_lanes


class PromptGroup(TyperGroup):
    """`tokentide "a prompt"` opens the app and sends the prompt.

    Click reads the first word after the options as a command name. Here a
    word that names no command is taken out before Click parses, options on
    either side of it still apply, and it reaches the app as the prompt. A word
    that is a command stays one (`tokentide ask`); `tokentide -- ask` sends
    "ask". One word close to a command's name is refused as a likely typo
    rather than sent to a paid API.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args, prompt = self._take_prompt(ctx, args)
        rest = super().parse_args(ctx, args)
        if prompt is not None:
            ctx.params["prompt"] = prompt
        return rest

    def _take_prompt(self, ctx: Any, args: list[str]) -> tuple[list[str], str | None]:
        valued = {
            name
            for param in self.get_params(ctx)
            if param.param_type_name == "option" and not param.is_flag and not param.count
            for name in param.opts
        }
        words, dashes = _positionals(args, valued)
        if not words:
            return args, None
        first = words[0]
        word = args[first]
        forced = dashes is not None and dashes < first
        commands = self.list_commands(ctx)
        if not forced and word in commands:
            return args, None
        if len(words) > 1:
            _fail(
                f"one prompt at a time: quote it, e.g. tokentide {_quoted(args, words)}",
                code=ExitCode.USAGE,
            )
        close = difflib.get_close_matches(word, commands, n=1, cutoff=0.75)
        if not forced and close and " " not in word:
            _fail(
                f"no command {word!r} (did you mean {close[0]!r}?); "
                f"to send it as a prompt: tokentide -- {word}",
                code=ExitCode.USAGE,
            )
        kept = [arg for i, arg in enumerate(args) if i not in (first, dashes)]
        return kept, word


def _positionals(args: list[str], valued: set[str]) -> tuple[list[int], int | None]:
    """Indexes of the arguments that are neither options nor their values,
    and the index of a `--` (after which everything is positional)."""
    words: list[int] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return [*words, *range(index + 1, len(args))], index
        if arg.startswith("-") and arg != "-":
            takes_value = arg in valued  # `--model x`, `-m x`; not `--model=x`, `-mx`
            index += 2 if takes_value else 1
            continue
        words.append(index)
        index += 1
    return words, None


def _quoted(args: list[str], words: list[int]) -> str:
    import shlex

    return shlex.quote(" ".join(args[i] for i in words))


app = typer.Typer(
    name="tokentide",
    cls=PromptGroup,
    help="Chat with LLMs in the terminal: streamed Markdown, honest TTFT and tokens/s, "
    "and Esc stops generation (and billing) mid-answer. "
    'tokentide "PROMPT" opens the app and sends PROMPT.',
    epilog="In the app: Enter sends · Ctrl+J new line · Ctrl+E edits the prompt in $EDITOR · "
    "Esc stops the answer · Ctrl+R regenerates it (or retries a failure) · Ctrl+N new chat · "
    "Ctrl+O switches model · Ctrl+S system prompt · Ctrl+P palette (race models, themes, "
    "export to Markdown or JSON, stats, screenshot) · Alt+Up focuses a message: c copies it, "
    "1-9 its code blocks, d its details (ITL, token arrivals), r regenerates, e edits and "
    "resends, n continues, ←/→ switch alternatives · F1 lists every key · Ctrl+Q quits.",
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        "-p",
        help="openai, anthropic, responses, ollama, gemini, demo, or a [providers.NAME] "
        "from the config file. "
        "With none configured: a local server on 127.0.0.1 if one answers, else the demo.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name. Without one anywhere, a --base-url server is asked: "
        "its only model is used, several are listed.",
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Base URL of the API: the /v1 URL for openai and responses "
        "(http://127.0.0.1:8080/v1), the host for anthropic, ollama and gemini.",
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system",
        "-s",
        help="System prompt (over system in the config file; the app also offers its "
        "[prompts] presets, Ctrl+S).",
    ),
]
DemoOpt = Annotated[
    bool, typer.Option("--demo", help="Use the built-in offline demo server (starts in-process).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
PromptArg = Annotated[
    str | None,
    typer.Argument(help="The prompt; '-' or omitted reads it from stdin.", show_default=False),
]
LanesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        metavar="[PROVIDER:]MODEL",
        help="A model (repeat it, up to 6): demo:demo-think, openai:gpt-4o-mini, a "
        "[providers.NAME] of the config file (NAME:MODEL, or NAME: for its own model), or "
        "MODEL for the default provider.",
        show_default=False,
    ),
]
ToolOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tool",
        metavar="NAME=SCHEMA_FILE",
        help="Offer a tool (repeatable); the file holds its parameters' JSON Schema. "
        "Calls are shown and returned, never run.",
        show_default=False,
    ),
]
JsonSchemaOpt = Annotated[
    str | None,
    typer.Option(
        "--json-schema",
        metavar="FILE",
        help="Structured output: the answer is one JSON value matching the schema in FILE "
        "(shown growing, pretty-printed; `ask` to a pipe prints the final strict JSON).",
        show_default=False,
    ),
]
ThinkingOpt = Annotated[
    str | None,
    typer.Option(
        "--thinking",
        metavar="[BUDGET]",
        help="Ask the model to reason first and show it; BUDGET in tokens where the provider "
        "takes one (--thinking alone: 4096; 0: off).",
        show_default=False,
    ),
]
Http2Opt = Annotated[
    bool | None,
    typer.Option(
        "--http2/--http1",
        help="Speak HTTP/2 (prior knowledge on http://, ALPN on https://); "
        "--http1 overrides http2 = true in the config file.",
        show_default=False,
    ),
]


ThemeOpt = Annotated[
    str | None,
    typer.Option(
        "--theme",
        metavar="NAME",
        help="The app's colours for this run: tokentide-dark (default), tokentide-light, "
        "tokentide-contrast, tokentide-deep, tokentide-sand, or one of Textual's (nord, "
        "dracula, gruvbox...). A theme picked in the app (Ctrl+P, Theme) is remembered "
        "in the config file.",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    """Eager: prints before anything else is read or checked."""
    if value:
        from importlib.metadata import version

        print(f"tokentide {version('tokentide')}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    system: SystemOpt = None,
    demo: DemoOpt = False,
    debug: DebugOpt = False,
    http2: Http2Opt = None,
    thinking: ThinkingOpt = None,
    tools: ToolOpt = None,
    json_schema: JsonSchemaOpt = None,
    theme: ThemeOpt = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
    prompt: Annotated[str | None, typer.Option("--prompt", hidden=True)] = None,
) -> None:
    """Open the chat app (the default command); with a PROMPT, send it at once."""
    if ctx.invoked_subcommand is not None:
        return
    if prompt is not None and not prompt.strip():
        _fail("no prompt: the prompt is empty", code=ExitCode.USAGE)
    if theme is not None:
        _check_theme(theme)
    need_terminal()
    settings = _settings(provider, model, base_url, system, demo, debug, http2, thinking)
    offered, schema = _request_files(tools, json_schema)
    from .app import run_app  # Textual is imported here and only here.
    from .turn import Params

    params = Params(tools=offered, output_schema=schema)
    raise typer.Exit(run_app(settings, params, theme=theme, prompt=prompt))


def _check_theme(name: str) -> None:
    """An unknown --theme is one line naming the themes there are."""
    from tokentide import themes

    if name not in themes.names():
        _fail(themes.unknown(name, "--theme"), code=ExitCode.USAGE)


@app.command()
def ask(
    prompt: PromptArg = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    system: SystemOpt = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Stop after this many tokens.")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", "-t", min=0.0, max=2.0, help="Sampling temperature."),
    ] = None,
    no_stream: Annotated[
        bool,
        typer.Option("--no-stream", help="One non-streaming request; print the answer when done."),
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object (text, tool calls, usage, metrics...) at the end."
        ),
    ] = False,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="Plain text on a terminal too (Markdown is rendered there)."),
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not record this exchange in the history.")
    ] = False,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print TTFT, tokens/s and token counts on stderr.")
    ] = False,
    tools: ToolOpt = None,
    json_schema: JsonSchemaOpt = None,
    thinking: ThinkingOpt = None,
    demo: DemoOpt = False,
    debug: DebugOpt = False,
    http2: Http2Opt = None,
) -> None:
    """Stream one answer to stdout. Ctrl-C stops it and closes the connection."""
    from .ask import AskOptions, run_ask
    from .turn import Params

    text = _read_prompt(prompt)
    settings = _settings(provider, model, base_url, system, demo, debug, http2, thinking)
    offered, schema = _request_files(tools, json_schema)
    options = AskOptions(
        prompt=text,
        params=Params(
            max_tokens=max_tokens,
            temperature=temperature,
            stream=not no_stream,
            tools=offered,
            output_schema=schema,
            thinking=settings.thinking,
        ),
        json=json_out,
        raw=raw,
        log=not no_log,
        stats=stats,
        debug=debug,
    )
    raise typer.Exit(run_ask(settings, options))


@app.command()
def race(
    prompt: PromptArg = None,
    models: LanesOpt = None,
    system: SystemOpt = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Stop each answer after this many.")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", "-t", min=0.0, max=2.0, help="Sampling temperature."),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON document at the end: {"lanes": [...]}, each lane shaped as '
            "ask --json's answer (text, usage, metrics with itl_ms...) plus its provider.",
        ),
    ] = False,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="Plain text in the live lanes (Markdown is rendered there)."),
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not record this race in the history.")
    ] = False,
    debug: DebugOpt = False,
    http2: Http2Opt = None,
) -> None:
    """Send one prompt to several models at once and stream their answers side by side.

    Each model gets its own connection; then a table: model, TTFT, tok/s, ITL p50, tokens,
    cost, outcome. To a pipe: each answer under a `== PROVIDER:MODEL ==` line, the table on
    stderr. The history gets the prompt once and every answer under it (the first model,
    in -m order, that finished is the chosen one; the others are its alternatives).
    Ctrl-C closes every connection at once and exits 130; exit 1 if any answer failed.
    """
    from .race_cli import RaceOptions, run_race
    from .turn import Params

    lanes = _lanes(models, system, http2, debug, at_least=2)
    text = _read_prompt(prompt)
    lanes = _settle_lanes(lanes, debug)
    options = RaceOptions(
        prompt=text,
        params=Params(max_tokens=max_tokens, temperature=temperature),
        json=json_out,
        raw=raw,
        log=not no_log,
        debug=debug,
    )
    raise typer.Exit(run_race(lanes, options))


@app.command()
def models(
    provider: ProviderOpt = None,
    base_url: BaseUrlOpt = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help='One JSON document: {"provider", "wire", "base_url", "models"}.'
        ),
    ] = False,
    demo: DemoOpt = False,
    debug: DebugOpt = False,
    http2: Http2Opt = None,
) -> None:
    """List the models the provider serves (its wire format's model list)."""
    from .models import run_models

    settings = _settings(provider, None, base_url, None, demo, debug, http2, need_model=False)
    raise typer.Exit(run_models(settings, debug=debug, as_json=json_out))


@app.command()
def bench(
    prompt: PromptArg = None,
    models: LanesOpt = None,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Streamed runs per model.")] = 10,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", help="Runs in flight at once within a model."),
    ] = 1,
    system: SystemOpt = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=1, help="Stop each answer after this many tokens."),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='One JSON document: {"models": [{provider, model, runs, errors, error, '
            "ttft_ms, tokens_per_s, itl_ms, total_ms, tokens}]}, each figure {p50, p90, p99}.",
        ),
    ] = False,
    debug: DebugOpt = False,
    http2: Http2Opt = None,
) -> None:
    """Stream PROMPT --runs times to each model and print, per model, the runs, the errors
    and the p50/p90/p99 of TTFT, tokens/s, inter-token latency (over every token of every
    run) and total time; percentiles interpolate linearly between the closest ranks.

    Models run one after another (two at once on one server would slow each other down),
    --concurrency runs at a time within a model. A failed run is counted in errors and
    left out of the figures; no run is retried (a retry would count its wait as TTFT).
    Nothing is recorded in the history. Ctrl-C stops every run at once, prints what was
    measured so far and exits 130. Exit 1 when every run of a model failed.
    """
    from .bench import BenchOptions, check_options, run_bench
    from .turn import Params

    try:
        check_options(runs, concurrency)
    except ConfigError as exc:
        _fail(str(exc), code=ExitCode.USAGE)
    lanes = _lanes(models, system, http2, debug)
    text = _read_prompt(prompt)
    options = BenchOptions(
        prompt=text,
        runs=runs,
        concurrency=concurrency,
        params=Params(max_tokens=max_tokens),
        json=json_out,
        debug=debug,
    )
    raise typer.Exit(run_bench(lanes, options))


def _lanes(
    models: list[str] | None, system: str | None, http2: bool | None, debug: bool, at_least=1
):
    """The -m models as lanes, or a one-line usage error naming the one that is wrong."""
    from tokentide.client.lanes import resolve_lanes

    try:
        return resolve_lanes(models or [], system=system, http2=http2, at_least=at_least)
    except ConfigError as exc:
        if debug:
            raise
        _fail(str(exc), code=ExitCode.USAGE)


history_app = typer.Typer(
    name="history",
    help="The conversations the app and `ask` recorded (TOKENTIDE_HISTORY names the file).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(history_app)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document instead of text.")]


def _history(run: Callable[[], None]) -> None:
    from .history_cli import Failed

    try:
        run()
    except Failed as failed:
        raise typer.Exit(failed.code) from None


@history_app.command("list")
def history_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Conversations, newest first: id, date, model, messages, title."""
    from . import history_cli

    _history(lambda: history_cli.list_conversations(limit, json_out))


@history_app.command("show")
def history_show(
    conversation: Annotated[int, typer.Argument(help="The id from `history list`.")],
    json_out: JsonOpt = False,
) -> None:
    """One conversation: a Markdown transcript (the default) or JSON."""
    from . import history_cli

    _history(lambda: history_cli.show(conversation, "json" if json_out else "markdown"))


@history_app.command("search")
def history_search(
    text: Annotated[str, typer.Argument(help="Words to find (stopped answers too).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Messages that contain the words, newest first."""
    from . import history_cli

    _history(lambda: history_cli.search(text, limit, json_out))


@history_app.command("export")
def history_export(
    conversation: Annotated[int, typer.Argument(help="The id from `history list`.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="markdown or json.", case_sensitive=False)
    ] = "markdown",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """A faithful transcript (Markdown) or every recorded field (JSON)."""
    from . import history_cli

    fmt = fmt.lower()
    if fmt not in ("markdown", "json"):
        _fail(f"--format {fmt!r}: use markdown or json", code=ExitCode.USAGE)
    _history(lambda: history_cli.export(conversation, fmt, output))


@history_app.command("delete")
def history_delete(
    conversation: Annotated[int, typer.Argument(help="The id from `history list`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a conversation and all its messages."""
    from . import history_cli

    _history(lambda: history_cli.delete(conversation, yes))


config_app = typer.Typer(
    name="config",
    help="The config file (TOKENTIDE_CONFIG names another): its path, the settings in "
    "effect, editing it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(config_app)


@config_app.command("path")
def config_path_command() -> None:
    """Print the config file's path (it may not exist yet)."""
    from . import config_cli

    raise typer.Exit(config_cli.path())


@config_app.command("show")
def config_show() -> None:
    """The settings in effect, each with where it came from; the API key masked."""
    from . import config_cli

    raise typer.Exit(config_cli.show())


@config_app.command("edit")
def config_edit() -> None:
    """Open the file in $VISUAL or $EDITOR (a commented template if there is none yet),
    then check it and print any mistake in one line."""
    from . import config_cli

    raise typer.Exit(config_cli.edit())


@app.command()
def stats(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    since: Annotated[
        float | None, typer.Option("--since", min=0, help="Only the last DAYS days.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Per model: answers, stopped ones, tokens, tokens saved, cost, TTFT, tokens/s,
    inter-token latency and the longest stalls; on a terminal, the TTFT and tokens/s
    distributions as bar charts (piped: the lines only; --json has the buckets)."""
    from tokentide.client.config import resolve

    from . import history_cli

    try:
        settings = resolve()
    except ConfigError as exc:
        _fail(str(exc), code=ExitCode.USAGE)
    _history(lambda: history_cli.stats(settings, model, since, json_out))


@app.command("demo-server")
def demo_server(
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 8765,
    tokens_per_second: Annotated[
        float, typer.Option("--tokens-per-second", min=0.1, help="Generation speed.")
    ] = 60.0,
    ttft: Annotated[
        float, typer.Option("--ttft", min=0.0, help="Seconds before the first token.")
    ] = 0.35,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Require this bearer key (to test 401s).")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="Fault for successive requests (repeat for more), e.g. http:429, "
            "finish_no_end, hostile (all of them above).",
        ),
    ] = None,
) -> None:
    """Run the offline demo server in the foreground.

    It serves /v1/chat/completions, /v1/responses, /v1/messages (Anthropic),
    /api/chat (Ollama) and /v1beta/models/... (Gemini).

    Faults: http:<status> (the API's own refusal; 429 with Retry-After: 1),
    http:<status>-date (Retry-After as an HTTP date), midstream_error,
    error_message_only, truncate, done_no_finish, finish_no_end, stall,
    empty_200, huge_event, endless, no_usage, bad_usage, bad_tool_args,
    nameless_tool, hostile, keepalive, crlf, fake_gzip, redirect, redirect_host.
    One request can ask for one itself: a prompt starting with /fault NAME
    (the rest is the prompt) or an X-Demo-Fault: NAME header.
    """
    from tokentide.client.demo import check_fault, serve_forever

    if not 0 <= port <= 65535:
        message = f"--port {port} is not a TCP port: use 0-65535 (0 picks a free one)"
        _fail(message, code=ExitCode.USAGE)
    for name in fault or []:
        try:
            check_fault(name)
        except ValueError as exc:
            _fail(f"--fault: {exc}", code=ExitCode.USAGE)

    def ready(base_url: str) -> None:
        print(f"tokentide demo server listening on {base_url}", flush=True)
        print(f"  try: tokentide --base-url {base_url} --model demo", flush=True)

    try:
        serve_forever(
            port=port,
            tokens_per_second=tokens_per_second,
            ttft=ttft,
            api_key=api_key,
            faults=list(fault or []),
            ready=ready,
            log=lambda line: print(line, flush=True),
        )
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} — pick another --port")
    except KeyboardInterrupt:
        pass


def _read_prompt(prompt: str | None) -> str:
    """The prompt from the argument, stdin, or both (`cat f | tokentide ask "summarise"`)."""
    stdin_text = ""
    if prompt in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            _fail("no prompt: pass one as an argument or pipe it on stdin", code=ExitCode.USAGE)
        stdin_text = _read_stdin()
        if not stdin_text.strip():
            _fail("no prompt: stdin was empty", code=ExitCode.USAGE)
        return stdin_text
    if _stdin_is_data():
        stdin_text = _read_stdin()
    if stdin_text.strip():
        return f"{prompt}\n\n{stdin_text}"
    if not prompt.strip():
        _fail("no prompt: the prompt is empty", code=ExitCode.USAGE)
    return prompt


def _read_stdin() -> str:
    """Bytes in, text out: undecodable bytes become U+FFFD instead of a traceback."""
    return sys.stdin.buffer.read().decode("utf-8", "replace")


def _stdin_is_data() -> bool:
    """True for a pipe or a redirected file; false for a terminal, /dev/null or a socket,
    which must not make `ask` wait for input nobody will send."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _request_files(tools: list[str] | None, json_schema: str | None):
    """The tools and the schema the files describe, or a one-line usage error."""
    from . import request_options

    try:
        offered = tuple(request_options.tool(spec) for spec in tools or ())
        schema = request_options.output_schema(json_schema) if json_schema else None
    except ConfigError as exc:
        _fail(str(exc), code=ExitCode.USAGE)
    return offered, schema


def main() -> None:
    """The command line (`tokentide` alone skips it: tui/start.py)."""
    if "--thinking" in sys.argv:
        from .request_options import THINKING_DEFAULT, optional_value

        sys.argv[1:] = optional_value(sys.argv[1:], "--thinking", THINKING_DEFAULT)
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C before a stream started (while starting up): nothing to save.
        sys.exit(ExitCode.CANCELLED)


if __name__ == "__main__":
    main()
