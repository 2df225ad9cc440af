"""SIP messages (RFC 3261 §7, §20, §25): parse and serialise requests and responses.

Deliberately small: header values stay strings, and the few structured headers a UAC
needs (Via, From/To/Contact/Route addresses, CSeq, URIs) have their own parsers.
Anything malformed raises :class:`SipParseError`; callers turn that into a clear
failure, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"

# RFC 3261 §7.3.3 compact forms (plus the common extension ones).
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Canonical spelling for headers whose capitalisation is not simple Title-Case.
_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

# Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1).
_MULTI_VALUE = {"via", "route", "record-route", "contact"}


class SipParseError(ValueError):
    """A SIP message, header or URI that cannot be parsed."""


def canonical_name(name: str) -> str:
    """Full, conventionally capitalised header name (expands compact forms)."""
    name = name.strip()
    low = name.lower()
    if len(low) == 1 and low in COMPACT_FORMS:
        return COMPACT_FORMS[low]
    if low in _CANONICAL:
        return _CANONICAL[low]
    return "-".join(part[:1].upper() + part[1:].lower() for part in low.split("-"))


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and <...>."""
    out: list[str] = []
    buf: list[str] = []
    quote = False
    angle = False
    escaped = False
    for ch in value:
        if quote:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    if quote:
        raise SipParseError(f"unterminated quote in {value!r}")
    last = "".join(buf).strip()
    if last or out:
        out.append(last)
    return [v for v in out if v]


def _split_params(text: str) -> dict[str, str | None]:
    """``;a=1;b;c="x"`` → {"a": "1", "b": None, "c": "x"} (names lower-cased)."""
    params: dict[str, str | None] = {}
    for part in _split_outside_quotes(text, ";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not name:
            raise SipParseError(f"empty parameter name in {text!r}")
        value = value.strip()
        if sep and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        params[name] = value if sep else None
    return params


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    quote = False
    for ch in text:
        if ch == '"':
            quote = not quote
        if ch == sep and not quote:
            out.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf))
    return out


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# ---------------------------------------------------------------------------- URIs
@dataclass
class SipURI:
    """``sip:user@host:port;params?headers`` (RFC 3261 §19.1)."""

    host: str
    user: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""  # kept raw, never interpreted by a UAC

    _RE = re.compile(
        r"^(?P<scheme>sips?):(?:(?P<userinfo>[^@]*)@)?(?P<hostport>[^;?]+)(?P<rest>.*)$"
    )

    @classmethod
    def parse(cls, text: str) -> SipURI:
        m = cls._RE.match(text.strip())
        if m is None:
            raise SipParseError(f"not a SIP URI: {text!r}")
        hostport = m.group("hostport")
        host, port = parse_hostport(hostport)
        rest = m.group("rest")
        params_text, _, headers = rest.partition("?")
        userinfo = m.group("userinfo")
        user = None if userinfo is None else userinfo.split(":", 1)[0]
        return cls(
            host=host,
            user=user,
            port=port,
            scheme=m.group("scheme").lower(),
            params=_split_params(params_text),
            headers=headers,
        )

    @property
    def transport(self) -> str | None:
        t = self.params.get("transport")
        return t.lower() if t else None

    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        user = "" if self.user is None else f"{self.user}@"
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{user}{self.hostport()}{_format_params(self.params)}{hdrs}"


def parse_hostport(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` → (host, port or None)."""
    text = text.strip()
    if not text:
        raise SipParseError("empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"bad IPv6 reference {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise SipParseError(f"bad host:port {text!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(f"bad port in {text!r}")
    return host, int(port_text)


# ----------------------------------------------------------------------- addresses
@dataclass
class Address:
    """name-addr / addr-spec with header parameters: From, To, Contact, Route, ..."""

    uri: SipURI
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        display: str | None = None
        lt = _find_unquoted(text, "<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError(f"unterminated <...> in {text!r}")
            name = text[:lt].strip()
            if name.startswith('"'):
                if not name.endswith('"') or len(name) < 2:
                    raise SipParseError(f"bad display name in {text!r}")
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            display = name or None
            uri = SipURI.parse(text[lt + 1 : gt])
            params = _split_params(text[gt + 1 :])
        else:
            # addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10)
            uri_text, _, params_text = text.partition(";")
            uri = SipURI.parse(uri_text)
            params = _split_params(params_text)
        return cls(uri=uri, display_name=display, params=params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        name = ""
        if self.display_name is not None:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}" '
        return f"{name}<{self.uri}>{_format_params(self.params)}"


def _find_unquoted(text: str, ch: str) -> int:
    quote = False
    for i, c in enumerate(text):
        if c == '"':
            quote = not quote
        elif c == ch and not quote:
            return i
    return -1


# ----------------------------------------------------------------------------- Via
@dataclass
class Via:
    """One Via entry: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        sent_protocol, _, rest = text.strip().partition(" ")
        parts = [p.strip() for p in sent_protocol.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP":
            raise SipParseError(f"bad Via protocol in {text!r}")
        by, _, params = rest.strip().partition(";")
        host, port = parse_hostport(by)
        return cls(transport=parts[2].upper(), host=host, port=port, params=_split_params(params))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        hp = host if self.port is None else f"{host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hp}{_format_params(self.params)}"


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SipParseError(f"bad CSeq {text!r}")
        return cls(int(parts[0]), parts[1].upper())

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


# ------------------------------------------------------------------------- headers
class Headers:
    """Ordered, case-insensitive header list; names are stored in canonical form."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name by one value (at the first one's place)."""
        cname = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n.lower() == cname.lower():
                self._items[i] = (cname, value)
                self._items = [
                    it
                    for j, it in enumerate(self._items)
                    if j <= i or it[0].lower() != cname.lower()
                ]
                return
        self._items.append((cname, value))

    def remove(self, name: str) -> None:
        low = canonical_name(name).lower()
        self._items = [it for it in self._items if it[0].lower() != low]

    def get(self, name: str) -> str | None:
        low = canonical_name(name).lower()
        for n, v in self._items:
            if n.lower() == low:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """All values, comma-lists split for Via/Route/Record-Route/Contact."""
        low = canonical_name(name).lower()
        out: list[str] = []
        for n, v in self._items:
            if n.lower() == low:
                out.extend(split_commas(v) if low in _MULTI_VALUE else [v])
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h


# ------------------------------------------------------------------------ messages
@dataclass
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # convenience accessors (raise SipParseError when missing or malformed)
    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self._required("Call-ID").strip()

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @property
    def from_(self) -> Address:
        return Address.parse(self._required("From"))

    @property
    def to(self) -> Address:
        return Address.parse(self._required("To"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        vias = self.headers.get_all("Via")
        if not vias:
            raise SipParseError("missing Via header")
        return Via.parse(vias[0])

    @property
    def contact(self) -> Address | None:
        values = self.headers.get_all("Contact")
        if not values or values[0].strip() == "*":
            return None
        return Address.parse(values[0])

    def _head_lines(self) -> list[str]:
        raise NotImplementedError

    def serialize(self) -> bytes:
        lines = self._head_lines()
        for name, value in self.headers:
            if name.lower() == "content-length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: SipURI = field(default_factory=lambda: SipURI(host="invalid"))

    def _head_lines(self) -> list[str]:
        return [f"{self.method} {self.uri} {SIP_VERSION}"]

    def summary(self) -> str:
        return f"{self.method} {self.uri}"


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def _head_lines(self) -> list[str]:
        return [f"{SIP_VERSION} {self.status} {self.reason}"]

    def summary(self) -> str:
        return f"{self.status} {self.reason}"


_REQUEST_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9.!%*_+`'~-]*) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?$")


def parse_message(data: bytes, *, require_length: bool = False) -> Request | Response:
    """Parse one complete message (a UDP datagram, or one framed TCP message).

    ``require_length``: Content-Length is mandatory (stream transports).
    """
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")  # tolerate bare LF from sloppy peers
        if not sep:
            raise SipParseError("no end of headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not UTF-8: {exc}") from None
    raw_lines = re.split(r"\r?\n", text.lstrip("\r\n"))
    if not raw_lines or not raw_lines[0]:
        raise SipParseError("empty message")
    start = raw_lines[0].strip()
    # unfold continuation lines (RFC 3261 §7.3.1)
    lines: list[str] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    headers = Headers()
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise SipParseError(f"bad header line {line!r}")
        headers.add(name, value.strip())
    length_text = headers.get("Content-Length")
    if length_text is not None:
        if not length_text.strip().isdigit():
            raise SipParseError(f"bad Content-Length {length_text!r}")
        length = int(length_text)
        if length > len(body):
            raise SipParseError(f"body shorter than Content-Length ({len(body)} < {length})")
        body = body[:length]
    elif require_length:
        raise SipParseError("missing Content-Length on a stream transport")
    m = _STATUS_LINE.match(start)
    msg: Request | Response
    if m is not None:
        msg = Response(headers=headers, body=body, status=int(m.group(1)), reason=m.group(2) or "")
    else:
        m = _REQUEST_LINE.match(start)
        if m is None:
            raise SipParseError(f"bad start line {start[:80]!r}")
        msg = Request(
            headers=headers, body=body, method=m.group(1).upper(), uri=SipURI.parse(m.group(2))
        )
    # the headers every transaction needs must at least parse
    msg.cseq  # noqa: B018 - validation
    msg.call_id  # noqa: B018
    msg.top_via  # noqa: B018
    return msg


class StreamParser:
    """Frames SIP messages on a byte stream by Content-Length (RFC 3261 §18.3)."""

    MAX_HEADER = 64 * 1024
    MAX_BODY = 1024 * 1024

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Request | Response | SipParseError]:
        """Messages (or parse errors, one per bad message) completed by ``data``."""
        self._buf.extend(data)
        out: list[Request | Response | SipParseError] = []
        while True:
            # keep-alive CRLFs between messages (RFC 5626 §3.5.1)
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self.MAX_HEADER:
                    self._buf.clear()
                    out.append(SipParseError("header section too large"))
                return out
            head = bytes(self._buf[:end])
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", head)
            if m is None:
                # without a length the stream cannot be framed any more: drop it
                self._buf.clear()
                out.append(SipParseError("missing Content-Length on a stream transport"))
                return out
            length = int(m.group(1))
            if length > self.MAX_BODY:
                self._buf.clear()
                out.append(SipParseError("body too large"))
                return out
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            raw = bytes(self._buf[:total])
            del self._buf[:total]
            try:
                out.append(parse_message(raw, require_length=True))
            except SipParseError as exc:
                out.append(exc)
