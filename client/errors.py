"""Every error the client raises, how each is worded, and the one scrubber.

    TokentideError                 base: `str()` is one line, the fix included
      ConfigError                  a setting is wrong; nothing was sent (exit 2)
      ApiError                     a request or its stream failed (exit 1)
        .kind                      what a caller (a retry policy, a UI) branches on
        .status                    the HTTP status, when there was one
        .retry_after               seconds the server asked us to wait, or None
        .fix                       what to do about it, when known

Lower layers are mapped here, at one boundary: httpx's exceptions by
`transport_error`, an HTTP error response by `status_error`, a body that is
not what the wire format promised by `unexpected_body`. Provider modules
raise `ApiError` for errors reported inside a stream.

Secrets: a server may echo the key back (OpenAI's 401 says "Incorrect API
key provided: sk-…"), httpx quotes header values in its messages, and a
traceback carries all of it. `Secrets.scrub` masks every configured secret
as `sk-…abcd`; the client passes each error through it before the error
leaves the client (`ApiError.scrubbed`), and the command line and the app
pass tracebacks and notifications through it too.
"""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx

ErrorKind = Literal[
    "auth",  # 401/403: the key
    "not_found",  # 404: model name or base URL
    "rate_limit",  # 429
    "bad_request",  # 400/413/422: the request itself
    "server",  # 5xx
    "connect",  # could not reach the server
    "timeout",  # connect or idle-read timeout
    "protocol",  # the reply is not what the wire format says
    "cut_off",  # the stream ended before the answer did; what arrived is kept
    "limit",  # an event or the answer grew past its configured size; what arrived is kept
    "provider",  # an error the provider reported with a 200 status
    "internal",  # a bug on our side stopped the stream
]


class _Target(Protocol):
    """What the wording needs to know of where a request went (config.Endpoint)."""

    name: str
    base_url: str
    model: str
    api_key: str | None
    key_env: str | None
    key_from: str | None
    http2: bool


class _Timeouts(Protocol):
    connect: float
    read: float


@dataclass(eq=False)
class TokentideError(Exception):
    """Base of every error tokentide raises on purpose; `str()` is one line."""

    message: str
    fix: str | None = None
    """What to do about it, when known; `str()` appends it after a dash."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.fix:
            return one_line(self.message)
        # A long server message is what gets cut, never the fix after it.
        fix = one_line(self.fix, 200)
        return f"{one_line(self.message, max(100, LINE_LIMIT - len(fix) - 3))} — {fix}"


class ConfigError(TokentideError):
    """A setting is wrong (a flag, a variable, the config file): nothing was sent."""


@dataclass(eq=False)
class ApiError(TokentideError):
    """A request or its stream failed, phrased for the person at the terminal."""

    kind: ErrorKind = "provider"
    status: int | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait (`Retry-After`), when it said."""
    detail: dict[str, Any] | None = field(default=None, repr=False)
    """The provider's error object, e.g. {"type": "server_error", "code": None}."""
    origin: BaseException | None = field(default=None, repr=False)
    """The lower-level exception behind this one, for `--debug` (whose printer
    scrubs it). It is not chained as `__cause__`: it may quote a secret, and a
    logged traceback would show it."""

    def scrubbed(self, secrets: Secrets) -> ApiError:
        """This error with every secret masked in its words and details."""
        if not secrets:
            return self
        return replace(
            self,
            message=secrets.scrub(self.message),
            fix=secrets.scrub(self.fix) if self.fix else self.fix,
            detail=secrets.scrub_value(self.detail) if self.detail else self.detail,
        )


LINE_LIMIT = 400
"""Characters of an error line, the fix included."""


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """Collapse whitespace and control characters so a message fits one line.

    Provider bodies can hold tracebacks, HTML and escape sequences; none of it
    may reach the terminal raw.
    """
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


# -- secrets -------------------------------------------------------------------

SECRET_NAME = re.compile(
    r"auth|api[-_]?key|token|secret|password|cookie|signature|subscription|^(key|sig)$", re.I
)
"""Header and query parameter names whose values are credentials: Authorization,
x-api-key, api-key, Ocp-Apim-Subscription-Key, Helicone-Auth, Gemini's `?key=`,
a signed URL's `sig`."""

_MIN_SECRET = 4
"""Shorter values are not masked: masking "abc" everywhere would garble messages."""

_FRAGMENT = 8
"""A run of this many characters of a secret is masked wherever it appears: a
server's excerpt may cut a key short, or split it over two lines."""


class Secrets:
    """The values that must never be shown: the API key and credential headers.

    Each is masked as it is, and as a server may quote it: JSON-escaped, with
    `\\/` for `/`, `\\u003d` for `=`, percent-encoded; and any run of
    `_FRAGMENT` of its characters, for a key cut short or split.
    """

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        whole: set[str] = set()
        tokens: set[str] = set()
        for value in values:
            value = (value or "").strip()
            if len(value) < _MIN_SECRET:
                continue
            whole.add(value)
            # "Bearer sk-..." also hides the bare token after the scheme.
            scheme, _, token = value.partition(" ")
            tokens.add(token.strip() if token and scheme.isalpha() else value)
        tokens = {token for token in tokens if len(token) >= _MIN_SECRET}
        forms: dict[str, str] = {}
        for value in sorted(whole | tokens, key=len, reverse=True):
            for form in _quoted_forms(value):
                forms.setdefault(form, mask(value))
        # Longest first, so a key inside a longer header value is masked whole.
        self._forms = sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)
        self._prefixes = sorted(
            {form for token in tokens for form in _quoted_forms(token)}, key=len, reverse=True
        )
        self._fragments = {
            token[i : i + _FRAGMENT] for token in tokens for i in range(len(token) - _FRAGMENT + 1)
        }

    def __bool__(self) -> bool:
        return bool(self._forms)

    def scrub(self, text: str, *, fragments: bool = True) -> str:
        text = self._scrub_forms(text)
        if fragments and self._fragments:
            if "\\" in text or "%" in text:
                # Escapes mixed in any way (`\\/` here, `\\u002b` there): an error
                # excerpt reads as well unescaped, and then the key is plain.
                plain = _unescape(text)
                if plain != text and any(f in plain for f in self._fragments):
                    text = self._scrub_forms(plain)
            text = self._scrub_fragments(text)
        return text

    def _scrub_forms(self, text: str) -> str:
        for form, masked in self._forms:
            if form in text:
                text = text.replace(form, masked)
        return text

    def _scrub_fragments(self, text: str) -> str:
        covered = bytearray(len(text))
        for fragment in self._fragments:
            start = text.find(fragment)
            while start != -1:
                covered[start : start + _FRAGMENT] = b"\x01" * _FRAGMENT
                start = text.find(fragment, start + 1)
        if not any(covered):
            return text
        kept: list[str] = []
        for i, ch in enumerate(text):
            if not covered[i]:
                kept.append(ch)
            elif i == 0 or not covered[i - 1]:
                kept.append("…")
        return "".join(kept)

    def scrub_value(self, value: Any) -> Any:
        """`scrub` applied to every string in a JSON-like value."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        return value

    def partial_tail(self, text: str) -> int:
        """How many characters at the end of `text` could begin a secret."""
        for form in self._prefixes:
            tail = text[-(len(form) - 1) :] if len(form) > 1 else ""
            start = tail.find(form[0])
            while start != -1:
                if form.startswith(tail[start:]):
                    return len(tail) - start  # the first match is the longest
                start = tail.find(form[0], start + 1)
        return 0


class Redactor:
    """Masks secrets in text that arrives in pieces (a key split over deltas).

    Whatever could be the beginning of a secret is held back until the next
    piece shows it is not (a word ending in "s" waits for one delta when the
    key starts with "sk-"); `flush` gives what is left at the end.
    """

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._secrets.scrub(self._held + piece, fragments=False)
        hold = self._secrets.partial_tail(text)
        self._held = text[len(text) - hold :] if hold else ""
        return self._secrets.scrub(text[: len(text) - hold])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._secrets.scrub(text)


def _quoted_forms(value: str) -> set[str]:
    """`value` as a server might quote it back."""
    import json
    from urllib.parse import quote

    escaped = "".join(ch if ch.isalnum() or ch in "-_." else f"\\u{ord(ch):04x}" for ch in value)
    forms = {value, json.dumps(value)[1:-1], value.replace("/", "\\/"), quote(value, safe="")}
    return forms | {escaped}


def _unescape(text: str) -> str:
    from urllib.parse import unquote

    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)
    return unquote(text.replace("\\/", "/"))


def mask(secret: str) -> str:
    """`sk-…abcd`: enough to tell two keys apart, too little to use one."""
    if len(secret) < 12:
        return "…"
    return f"{secret[:3]}…{secret[-4:]}"


def cut_off(how: str) -> ApiError:
    """The stream ended before the answer did (`how`: "with [DONE] but no
    finish reason"). Not a stop the user chose, and not a refusal: the
    partial answer is kept and marked interrupted."""
    return ApiError(
        f"the answer was cut off: the stream ended {how}",
        kind="cut_off",
        fix="the server or a proxy ended it early; what arrived is kept, send again for all of it",
    )


def too_large(what: Literal["event", "reply", "answer"], limit: int) -> ApiError:
    """A stream stopped at a size limit (`config.Limits`): a server sending
    without end must not take the memory. The part that arrived is kept; the
    fix names the key that raises the limit, for a server that is right."""
    size = f"{limit / (1 << 20):g} MB"
    if what == "answer":
        return ApiError(
            f"the answer was stopped at {size} (text, reasoning and tool arguments together)",
            kind="limit",
            fix="to allow longer answers, raise answer_mb in the [limits] table of the config file",
        )
    said = "one event in the stream" if what == "event" else "the reply"
    return ApiError(
        f"the server sent {said} over {size}, the limit for a single event",
        kind="limit",
        fix="if the server is right to, raise event_mb in the [limits] table of the config file",
    )


def too_many_tool_calls(limit: int) -> ApiError:
    return ApiError(
        f"the server sent more than {limit} tool calls in one answer",
        kind="limit",
        fix="no model makes that many at once: check the server, then retry",
    )


def no_events(limit: int) -> ApiError:
    """A stream of only blank lines or comments: bytes keep coming, so the
    read timeout never trips, yet no event ever does."""
    return ApiError(
        f"the server sent {limit / (1 << 20):g} MB with no event in it (blank lines or comments)",
        kind="protocol",
        fix="check that the base URL is a chat API that streams; retry",
    )


# -- mapping lower layers --------------------------------------------------------


def transport_error(
    exc: httpx.HTTPError, endpoint: _Target, timeouts: _Timeouts, *, streaming: bool = False
) -> ApiError:
    """A connect, timeout or broken-connection failure as one line with the fix.

    `streaming`: the answer had begun, so a connection that broke cut it off.
    """
    import httpx

    from .http2 import plain_http

    reason = _reason(exc)
    where = endpoint.base_url
    if isinstance(exc, httpx.ConnectTimeout):
        return ApiError(
            f"could not connect to {where} within {timeouts.connect:g} s",
            kind="timeout",
            fix="check the base URL and that the server is running",
        )
    if isinstance(exc, httpx.ConnectError):
        return ApiError(
            f"cannot connect to {where} ({reason})",
            kind="connect",
            fix="check that the server is running and the base URL is right",
        )
    if isinstance(exc, httpx.ReadTimeout):
        return ApiError(
            f"the server sent nothing for {timeouts.read:g} s",
            kind="timeout",
            fix="the model may be overloaded; retry, or raise [timeouts] read in the config",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(f"request timed out ({reason})", kind="timeout")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        if streaming:
            return cut_off(f"when the connection broke ({reason})")
        if endpoint.http2 and plain_http(where):
            # HTTP/2 over plain http:// is spoken from the first byte (no TLS to
            # agree on it); a server of HTTP/1.1 only hangs up on it.
            return ApiError(
                f"the server at {where} hung up on HTTP/2 ({reason}): it may speak HTTP/1.1 only",
                kind="protocol",
                fix="use --http1, or drop http2 = true for this provider in the config",
            )
        return ApiError(
            f"the connection broke before the answer began ({reason})",
            kind="protocol",
            fix="the server or a proxy closed it; retry",
        )
    return ApiError(f"request failed: {reason}", kind="connect")


def status_error(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    parsed: Any,
    provider_said: str | None,
    endpoint: _Target,
) -> ApiError:
    """A 4xx/5xx response as one line: status, the provider's words, the fix.

    `parsed` is the body's JSON (None if it is not JSON), `provider_said` the
    wire format's reading of it.
    """
    said = provider_said or body_excerpt(body) or reason
    retry_after = retry_after_seconds(headers)
    if retry_after is None:
        retry_after = _retry_info(parsed)
    kind, fix = _classify(status, endpoint, said, retry_after)
    message = f"HTTP {status} {reason}".rstrip()
    if said and said not in (reason, f"{status} {reason}", f"{status}"):
        message = f"{message}: {said}"
    detail = parsed.get("error") if isinstance(parsed, dict) else None
    return ApiError(
        message,
        kind=kind,
        status=status,
        fix=fix,
        retry_after=retry_after,
        detail=detail if isinstance(detail, dict) else None,
    )


def unexpected_body(
    expected: str, content_type: str, status: int, body: bytes, endpoint: _Target, label: str
) -> ApiError:
    """A body that is not the `expected` thing (an event stream, JSON): say what it was."""
    return ApiError(
        f"expected {expected} but got {content_type or 'no content type'} "
        f"(HTTP {status}): {body_excerpt(body)}",
        kind="protocol",
        status=status,
        fix=f"check that {endpoint.base_url} speaks the {label} format",
    )


def redirected(
    status: int, reason: str, location: str | None, sent_to: str, base_url: str
) -> ApiError:
    """A 3xx answer. Redirects are never followed: the API key would go along
    to wherever the server points (another port, another host), and a POST
    may come back as a GET. The error names the status and the target (its
    credentials masked) and the base URL that reaches the target directly.

    `sent_to` is the URL the request went to, `base_url` the configured one;
    the part of `sent_to` after the base URL (`/chat/completions`) is taken
    off the target to give its base.
    """
    from urllib.parse import urljoin, urlsplit, urlunsplit

    said = f"HTTP {status} {reason}".rstrip()
    base = urlsplit(base_url)
    if not location:
        return ApiError(
            f"{said} without a Location header",
            kind="protocol",
            status=status,
            fix=f"check the base URL {scrub_url(base_url)}: a proxy or a login page may "
            "stand in front of the API",
        )
    target = urlsplit(urljoin(sent_to, location.strip()))
    sent = urlsplit(sent_to)
    tail = sent.path[len(base.path.rstrip("/")) :] if sent.path.startswith(base.path) else ""
    if tail and target.path.endswith(tail):
        path = target.path[: len(target.path) - len(tail)]
    else:
        path = base.path  # the API is not at the same place there: a guess, said as one
    new_base = urlunsplit((target.scheme, target.netloc, path.rstrip("/"), "", ""))
    guess = "" if tail and target.path.endswith(tail) else " if the API is there"
    return ApiError(
        f"{said} to {scrub_url(urlunsplit(target))}: redirects are not followed, so the "
        "API key is not sent where the server points",
        kind="protocol",
        status=status,
        fix=f"set the base URL to {scrub_url(new_base)}{guess}",
    )


def scrub_url(url: str) -> str:
    """`url` fit to show: no user or password, credential query values
    (`key=`, `token=`, `sig=` ...) masked, no fragment. Configured secrets are
    masked later, by `Secrets.scrub`, like every message."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all (an odd IPv6 literal)
        return one_line(url, 200)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = [pair.partition("=") for pair in parts.query.split("&") if pair]
    query = "&".join(
        f"{name}=…" if sep and SECRET_NAME.search(unquote(name)) else name + sep + value
        for name, sep, value in pairs
    )
    return one_line(urlunsplit((parts.scheme, netloc, parts.path, query, "")), 300)


def bad_encoding(
    encoding: str, *, status: int, reason: str, accepted: str | None, fault: str | None = None
) -> ApiError:
    """A body whose `Content-Encoding` cannot be undone: an encoding httpx
    cannot decode here (`br` without the brotli package, anything unknown),
    or - `fault` given - one the body is not actually in (plain bytes sent as
    `gzip`, usually a proxy that adds the header). Either way nothing of the
    reply can be read, and the fix is on the server's side, or past the proxy."""
    said = "" if 200 <= status < 300 else f"HTTP {status} {reason}".rstrip() + ": "
    header = f"Content-Encoding: {one_line(encoding, 60)}"
    if fault is not None:
        message = f"{said}the reply's body is not what its {header} header says ({fault})"
    else:
        offered = f" (the request accepted {accepted})" if accepted else ""
        message = f"{said}the reply came with {header}, which cannot be decoded here{offered}"
    fix = (
        "the server or a proxy compresses it wrongly; point the base URL past the proxy, "
        "or turn its compression off"
    )
    if fault is None and "br" in encoding.lower().replace(",", " ").split():
        fix += ", or install the brotli package"
    return ApiError(message, kind="protocol", status=status, fix=fix)


def unreadable(exc: BaseException, endpoint: _Target, label: str, data: str = "") -> ApiError:
    """A frame the wire format could not translate (a parser bug or a foreign server)."""
    seen = f": {data[:100]!r}" if data else ""
    return ApiError(
        f"unexpected data from the server ({type(exc).__name__}){seen}",
        kind="protocol",
        fix=f"check that {endpoint.base_url} speaks the {label} format; `--debug` shows where",
    )


def _retry_info(parsed: Any) -> float | None:
    """Google's way of saying when to retry: a `google.rpc.RetryInfo` among
    the error's details, `{"retryDelay": "27s"}` (Gemini's per-minute 429)."""
    error = parsed.get("error") if isinstance(parsed, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = item.get("retryDelay")
            match = re.fullmatch(r"(\d+(?:\.\d+)?)s", delay) if isinstance(delay, str) else None
            if match and math.isfinite(seconds := float(match[1])):
                return seconds
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """How long the server asked us to wait: OpenAI's and Azure's `retry-after-ms`
    (milliseconds, more precise) or the standard `Retry-After`."""
    millis = parse_retry_after(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    return parse_retry_after(headers.get("retry-after"))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form (10 ms to import)

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


EXHAUSTED = ("quota", "billing", "spend limit", "spend_limit", "credit")
"""Words of a 429 that will not pass by waiting: the account is out of money."""


def out_of_credit(said: str, retry_after: float | None) -> bool:
    """Whether a 429 means the account is out of quota or credit, not a rate
    limit. Gemini words every 429 as "exceeded your current quota"; one that
    says when to retry (RetryInfo, Retry-After) is a rate limit: it is sent
    again, and its line must not say the account is empty."""
    return retry_after is None and any(word in said.lower() for word in EXHAUSTED)


def _classify(
    status: int, endpoint: _Target, said: str, retry_after: float | None
) -> tuple[ErrorKind, str | None]:
    if status == 401:
        if endpoint.api_key:
            where = endpoint.key_from or (f"${endpoint.key_env}" if endpoint.key_env else None)
            fix = f"check the API key in {where or 'your settings'}"
        elif endpoint.key_env:
            fix = f"set ${endpoint.key_env} (it is not set)"
        else:
            fix = f"set api_key_env under [providers.{endpoint.name}] in the config file"
        return "auth", fix
    if status == 403:
        return "auth", "the key is valid but not allowed to use this model or endpoint"
    if status == 404:
        return "not_found", (
            f"check the model name {endpoint.model!r} (list them with `tokentide models`) "
            f"and the base URL {endpoint.base_url}"
        )
    if status == 429:
        if out_of_credit(said, retry_after):
            return "rate_limit", "the account is out of quota; check the provider's billing page"
        if retry_after is not None:
            return "rate_limit", f"rate limited; retry in {math.ceil(retry_after)} s"
        return "rate_limit", "rate limited; wait a moment and retry"
    if status in (400, 413, 422):
        return "bad_request", None
    if status >= 500:
        if retry_after is not None:
            return "server", f"the provider had a problem; retry in {math.ceil(retry_after)} s"
        return "server", "the provider had a problem; retry in a moment"
    return "provider", None


def _reason(exc: BaseException) -> str:
    """The root cause in a few words; httpcore wraps it ("All connection attempts failed")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host not found"
        seen = seen.__cause__ or seen.__context__
    return one_line(str(exc) or type(exc).__name__, 160)


def try_json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return None


def body_excerpt(body: bytes, lines: int = 3) -> str:
    """The first lines of a non-JSON body, tags stripped, on one line."""
    text = body[:65536].decode("utf-8", "replace")
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        if title and title.group(1).strip():
            return one_line(title.group(1), 200)
        text = re.sub(r"<[^>]+>", " ", text)
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return one_line(" / ".join(kept), 200)
