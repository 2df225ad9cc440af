"""Request validation and update semantics of the SIP API, as livekit/protocol defines them.

Pure functions over protobuf messages (livekit/sip.go, livekit/sip_validation.go,
livekit/types.go, sip/sip.go). ``Invalid`` carries the exact error text; the service decides
which Twirp code it becomes (request checks are ``invalid_argument``; checks that only run
after an update was applied are plain Go errors, i.e. ``unknown``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, MutableSequence, Sequence

from livekit.protocol import models, sip

# ISO 3166-1 alpha-2 country codes (golang.org/x/text's IsCountry set, plus XK).
_COUNTRY_CODES = """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH
    BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV
    CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS XK YE YT ZA ZM ZW"""
_COUNTRIES = frozenset(_COUNTRY_CODES.split())

# RFC 3261 token characters (sip_validation.go tokenCharacters).
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
# Headers a user may not set, with their compact forms (FrobiddenSipHeaderNames).
_FORBIDDEN_HEADER_NAMES = """accept accept-encoding accept-language allow allow-events call-id
    contact content-encoding content-length content-type cseq event expires from max-forwards
    record-route refer-to reply-to k l m o r t u v"""
_FORBIDDEN_HEADERS = frozenset(_FORBIDDEN_HEADER_NAMES.split())
_NUMBER_RE = re.compile(r"\+?[0-9\- ()]+")  # Go regexp: ASCII digits, whole string
_MAX_MEDIA_TIMEOUT_S = 600


class Invalid(ValueError):
    """A validation failure; ``str()`` is the server's message."""


def go_quote(s: str) -> str:
    """Go's %q / strconv.Quote for the strings that appear in server messages."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _quote_list(items: Sequence[str]) -> str:
    return "[" + " ".join(go_quote(s) for s in items) + "]"


def normalize_number(num: str) -> str:
    """livekit.NormalizeNumber: strip spaces, '-', '(' and ')', and ensure a leading '+'."""
    if not num or not _NUMBER_RE.fullmatch(num):
        return num
    num = num.translate(str.maketrans("", "", " -()"))
    return num if num.startswith("+") else "+" + num


# --- headers ---------------------------------------------------------------------------


def _check_chars(target: str, allowed: frozenset[str] | None) -> None:
    """allowedCharacters.Validate; ``allowed`` None = printable ASCII, tab and any UTF-8."""
    for ch in target:
        code = ord(ch)
        if allowed is None:
            if code >= 128 or code == 0x09 or 0x20 <= code <= 0x7E:
                continue
            raise Invalid(f"char {code} not allowed")
        if code >= 128:
            raise Invalid(f"char {code} out of range, consider explicilty adding utf8 characters")
        if ch not in allowed:
            raise Invalid(f"char {code} not allowed")


def validate_header_name(name: str, restrict: bool) -> None:
    if name == "":
        raise Invalid("header name cannot be empty")
    if len(name.encode()) > 255:
        raise Invalid("header name too long (max 255 characters)")
    try:
        _check_chars(name, _TOKEN_CHARS)
    except Invalid as e:
        raise Invalid(f"header name {name} contains invalid characters: {e}") from None
    if restrict and name.lower() in _FORBIDDEN_HEADERS:
        raise Invalid(f"header name {name} not supported")


def validate_header_value(name: str, value: str) -> None:
    if value == "":
        return
    if len(value.encode()) > 1024:
        raise Invalid(f"header {name}: value too long (max 1024 characters)")
    try:
        _check_chars(value, None)
    except Invalid as e:
        raise Invalid(f"header {name}: value: {e}") from None


def validate_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        try:
            validate_header_name(name, True)
        except Invalid as e:
            raise Invalid(f"invalid header name: {e}") from None
        try:
            validate_header_value(name, value)
        except Invalid as e:
            raise Invalid(f"invalid header value for {name}: {e}") from None


def _validate_header_names(names: Iterable[str]) -> None:
    for name in names:
        try:
            validate_header_name(name, False)
        except Invalid as e:
            raise Invalid(f"invalid header name: {e}") from None


def _validate_header_maps(
    headers: dict[str, str] | None,
    attrs_to_headers: dict[str, str],
    headers_to_attrs: dict[str, str],
) -> None:
    if headers is not None:
        validate_headers(headers)
    _validate_header_names(attrs_to_headers.values())
    _validate_header_names(headers_to_attrs.keys())


# --- hosts, media ----------------------------------------------------------------------


def validate_host(value: str, field: str, *, required: str | None) -> None:
    """Rules shared by trunk address, from_host and the inline trunk hostname."""
    if value == "":
        if required is not None:
            raise Invalid(required)
        return
    if "transport=" in value:
        raise Invalid(f"trunk {field} should not contain transport parameter")
    if "@" in value or ";" in value or value.startswith(("sip:", "sips:")):
        raise Invalid(f"trunk {field} should be a hostname or IP, not SIP URI")


def validate_media(media: sip.SIPMediaConfig) -> None:
    for codec in media.codecs:
        if codec.name == "":
            raise Invalid("codec name cannot be empty")
        if "/" in codec.name or any(c.isspace() for c in codec.name):
            raise Invalid(f"invalid codec name {go_quote(codec.name)}")
    if media.HasField("media_timeout"):
        seconds = media.media_timeout.seconds + media.media_timeout.nanos / 1e9
        if seconds < 0 or seconds > _MAX_MEDIA_TIMEOUT_S:
            raise Invalid("media timeout must be between 0s and 10m0s")


# --- trunks and rules ------------------------------------------------------------------


def _validate_trunk_headers_and_media(
    t: sip.SIPOutboundTrunkInfo | sip.SIPInboundTrunkInfo,
) -> None:
    """The checks both trunk kinds end with."""
    _validate_header_maps(
        dict(t.headers), dict(t.attributes_to_headers), dict(t.headers_to_attributes)
    )
    if t.HasField("media"):
        validate_media(t.media)


def validate_outbound_trunk(t: sip.SIPOutboundTrunkInfo) -> None:
    """SIPOutboundTrunkInfo.Validate."""
    if len(t.numbers) == 0:
        raise Invalid("no trunk numbers specified")
    validate_host(t.address, "address", required="no outbound address specified")
    validate_host(t.from_host, "from_host", required=None)
    _validate_trunk_headers_and_media(t)


def validate_inbound_trunk(t: sip.SIPInboundTrunkInfo) -> None:
    """SIPInboundTrunkInfo.Validate."""
    has_auth = t.auth_username != "" or t.auth_password != ""
    if not has_auth and len(t.allowed_addresses) == 0 and len(t.numbers) == 0:
        raise Invalid(
            "for security, one of the fields must be set: "
            "AuthUsername+AuthPassword, AllowedAddresses or Numbers"
        )
    _validate_trunk_headers_and_media(t)


def validate_dispatch_rule(r: sip.SIPDispatchRuleInfo) -> None:
    """SIPDispatchRuleInfo.Validate."""
    if not r.HasField("rule"):
        raise Invalid("missing rule")
    if r.HasField("media"):
        validate_media(r.media)


def validate_outbound_config(c: sip.SIPOutboundConfig) -> None:
    """SIPOutboundConfig.Validate (inline trunk of CreateSIPParticipant)."""
    validate_host(c.hostname, "hostname", required="no outbound hostname specified")
    validate_host(c.from_host, "from_host", required=None)
    _validate_header_maps(None, dict(c.attributes_to_headers), dict(c.headers_to_attributes))


# --- ListUpdate ------------------------------------------------------------------------


def validate_list_update(u: models.ListUpdate) -> None:
    """ListUpdate.Validate (a present message; absent updates are never validated)."""
    change = len(u.set) + len(u.add) + len(u.remove) > 0
    if not u.clear and not change:
        raise Invalid("unsupported list update operation")
    if u.clear and change:
        raise Invalid("cannot clear and change the list at the same time")
    if len(u.set) > 0 and len(u.add) + len(u.remove) > 0:
        raise Invalid("cannot set and change the list at the same time")
    for v in (*u.set, *u.add, *u.remove):
        if v == "":
            raise Invalid("empty element in the list")


def apply_list_update(current: Sequence[str], u: models.ListUpdate) -> list[str]:
    """applyListUpdate: clear, or set, or remove (first occurrence) then add (if absent)."""
    if u.clear:
        return []
    if len(u.set) != 0:
        return list(u.set)
    out = list(current)
    for v in u.remove:
        if v in out:
            out.remove(v)
    for v in u.add:
        if v not in out:
            out.append(v)
    return out


def _apply_list(target: MutableSequence[str], msg: object, name: str) -> None:
    """Apply ``msg.<name>`` (a ListUpdate) to the repeated field ``target`` if present."""
    if msg.HasField(name):  # type: ignore[attr-defined]
        new = apply_list_update(list(target), getattr(msg, name))
        del target[:]
        target.extend(new)


def _apply_optional(info: object, upd: object, names: Iterable[str]) -> None:
    for name in names:
        if upd.HasField(name):  # type: ignore[attr-defined]
            setattr(info, name, getattr(upd, name))


def upgrade_media(
    info: sip.SIPOutboundTrunkInfo | sip.SIPInboundTrunkInfo | sip.SIPDispatchRuleInfo,
) -> None:
    """``Upgrade()``: ``media`` always present, ``media_encryption`` mirrors it."""
    media = info.media
    media.SetInParent()
    if not media.HasField("encryption") and info.media_encryption != 0:
        media.encryption = info.media_encryption
    info.media_encryption = media.encryption if media.HasField("encryption") else 0  # type: ignore[assignment]


def _apply_media(
    out: sip.SIPOutboundTrunkInfo | sip.SIPInboundTrunkInfo | sip.SIPDispatchRuleInfo,
    u: sip.SIPOutboundTrunkUpdate | sip.SIPInboundTrunkUpdate | sip.SIPDispatchRuleUpdate,
) -> None:
    """The step every ``*Update.Apply`` ends with: ``media`` if set, then ``Upgrade()``."""
    if u.HasField("media"):
        out.media.CopyFrom(u.media)
    upgrade_media(out)


def validate_outbound_update(u: sip.SIPOutboundTrunkUpdate) -> None:
    if u.HasField("numbers"):
        validate_list_update(u.numbers)


def apply_outbound_update(
    info: sip.SIPOutboundTrunkInfo, u: sip.SIPOutboundTrunkUpdate
) -> sip.SIPOutboundTrunkInfo:
    """SIPOutboundTrunkUpdate.Apply on a copy; raises Invalid for the post-apply checks."""
    out = sip.SIPOutboundTrunkInfo()
    out.CopyFrom(info)
    _apply_optional(out, u, ("address", "transport", "destination_country"))
    _apply_list(out.numbers, u, "numbers")
    _apply_optional(
        out,
        u,
        ("auth_username", "auth_password", "name", "metadata", "media_encryption", "from_host"),
    )
    _apply_media(out, u)
    validate_outbound_trunk(out)
    return out


def validate_inbound_update(u: sip.SIPInboundTrunkUpdate) -> None:
    for name in ("numbers", "allowed_addresses", "allowed_numbers"):
        if u.HasField(name):
            validate_list_update(getattr(u, name))


def apply_inbound_update(
    info: sip.SIPInboundTrunkInfo, u: sip.SIPInboundTrunkUpdate
) -> sip.SIPInboundTrunkInfo:
    out = sip.SIPInboundTrunkInfo()
    out.CopyFrom(info)
    _apply_list(out.numbers, u, "numbers")
    _apply_list(out.allowed_addresses, u, "allowed_addresses")
    _apply_list(out.allowed_numbers, u, "allowed_numbers")
    _apply_optional(
        out,
        u,
        ("auth_username", "auth_password", "auth_realm", "name", "metadata", "media_encryption"),
    )
    _apply_media(out, u)
    validate_inbound_trunk(out)
    return out


def validate_dispatch_update(u: sip.SIPDispatchRuleUpdate) -> None:
    if u.HasField("trunk_ids"):
        validate_list_update(u.trunk_ids)


def apply_dispatch_update(
    info: sip.SIPDispatchRuleInfo, u: sip.SIPDispatchRuleUpdate
) -> sip.SIPDispatchRuleInfo:
    out = sip.SIPDispatchRuleInfo()
    out.CopyFrom(info)
    _apply_list(out.trunk_ids, u, "trunk_ids")
    if u.HasField("rule"):
        out.rule.CopyFrom(u.rule)
    _apply_optional(out, u, ("name", "metadata", "media_encryption"))
    for key, value in u.attributes.items():  # applyMapDiff: empty value deletes
        if value:
            out.attributes[key] = value
        else:
            out.attributes.pop(key, None)
    _apply_media(out, u)
    validate_dispatch_rule(out)
    return out


# --- conflicts -------------------------------------------------------------------------


def _print_id(s: str) -> str:
    return s or "<new>"


def _print_numbers(numbers: Sequence[str]) -> str:
    return "<any>" if len(numbers) == 0 else _quote_list(numbers)


def _trunk_conflict(
    t: sip.SIPInboundTrunkInfo, other: sip.SIPInboundTrunkInfo, detail: str
) -> Invalid:
    return Invalid(
        f"Conflicting inbound SIP Trunks: {go_quote(_print_id(t.sip_trunk_id))} "
        f"and {go_quote(_print_id(other.sip_trunk_id))}, using the same "
        f"number(s) {_print_numbers(t.numbers)} {detail}"
    )


def check_inbound_conflicts(trunks: Iterable[sip.SIPInboundTrunkInfo]) -> None:
    """sip.ValidateTrunksIter: two trunks may not claim the same call (numbers normalised)."""
    by_number: dict[str, dict[str, sip.SIPInboundTrunkInfo]] = {}
    for t in trunks:
        numbers = [normalize_number(n) for n in t.numbers] or [""]
        for num in numbers:
            by_inbound = by_number.setdefault(num, {})
            if len(t.allowed_numbers) == 0:
                other = by_inbound.get("")
                if other is not None:
                    raise _trunk_conflict(t, other, "without AllowedNumbers set")
                by_inbound[""] = t
                continue
            for allowed in t.allowed_numbers:
                key = normalize_number(allowed)
                other = by_inbound.get(key)
                if other is not None:
                    raise _trunk_conflict(t, other, f"and AllowedNumber {go_quote(allowed)}")
                by_inbound[key] = t


class UnsupportedRule(ValueError):
    """A dispatch rule whose oneof is empty (a plain error in the real server)."""


def rule_pin(r: sip.SIPDispatchRuleInfo) -> str:
    kind = r.rule.WhichOneof("rule")
    if kind is None:
        raise UnsupportedRule("Unsupported SIP Dispatch Rule: <nil>")
    pin: str = getattr(r.rule, kind).pin
    return pin


def check_dispatch_conflicts(rules: Iterable[sip.SIPDispatchRuleInfo]) -> None:
    """DispatchRuleValidator: one rule per (pin, trunk, inbound number, number)."""
    seen: dict[tuple[str, str, str, str], sip.SIPDispatchRuleInfo] = {}
    for r in rules:
        pin = rule_pin(r)
        for trunk in list(r.trunk_ids) or [""]:
            for inbound in list(r.inbound_numbers) or [""]:
                for number in list(r.numbers) or [""]:
                    key = (pin, trunk, normalize_number(inbound), normalize_number(number))
                    other = seen.get(key)
                    if other is not None:
                        raise Invalid(
                            "Dispatch rule for the same trunk, inbound number, number, and PIN "
                            "combination already exists in dispatch rule "
                            f"{go_quote(_print_id(other.sip_dispatch_rule_id))} "
                            f"{go_quote(other.name or '<blank name>')}"
                        )
                    seen[key] = r


# --- CreateSIPParticipant --------------------------------------------------------------


def _go_unquote_ok(s: str) -> bool:
    """Whether strconv.Unquote accepts '"' + s + '"'."""
    if "\n" in s:
        return False
    i = 0
    simple = set('abfnrtv\\"')
    while i < len(s):
        ch = s[i]
        if ch == '"':
            return False
        if ch != "\\":
            i += 1
            continue
        if i + 1 >= len(s):
            return False
        esc = s[i + 1]
        if esc in simple:
            i += 2
        elif esc in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[esc]
            digits = s[i + 2 : i + 2 + n]
            if len(digits) != n or any(c not in "0123456789abcdefABCDEF" for c in digits):
                return False
            if esc != "x" and (int(digits, 16) > 0x10FFFF or 0xD800 <= int(digits, 16) < 0xE000):
                return False
            i += 2 + n
        elif esc in "01234567":
            digits = s[i + 1 : i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits) or int(digits, 8) > 255:
                return False
            i += 4
        else:
            return False
    return True


def validate_destination(d: sip.Destination) -> None:
    if d.city and not d.country and not d.region:
        raise Invalid("if city is specified, country or region must also be specified")
    if d.country and d.country not in _COUNTRIES:
        raise Invalid(
            "country must be a valid ISO 3166-1 alpha-2 code (2-letter like 'US', 'IN', 'UK')"
        )


def validate_create_sip_participant(req: sip.CreateSIPParticipantRequest) -> None:
    """CreateSIPParticipantRequest.Validate (after Upgrade)."""
    if not req.sip_trunk_id and not req.HasField("trunk") and not req.sip_number:
        raise Invalid("missing sip trunk id and sip number")
    if req.HasField("trunk"):
        validate_outbound_config(req.trunk)
    # the callee is required even with sip_to_header (the bridge then refuses the pair)
    if not req.sip_call_to:
        raise Invalid("missing sip callee number")
    if "@" in req.sip_call_to:
        raise Invalid("SipCallTo should be a phone number or SIP user, not a full SIP URI")
    if req.to_user_override:
        if "@" in req.to_user_override:
            raise Invalid("ToUserOverride should be a phone number or SIP user, not a full SIP URI")
        try:
            _check_chars(req.to_user_override, _TOKEN_CHARS)
        except Invalid as e:
            raise Invalid(f"ToUserOverride contains invalid characters: {e}") from None
    if not req.room_name:
        raise Invalid("missing room name")
    if req.HasField("display_name"):
        if len(req.display_name.encode()) > 128:
            raise Invalid("DisplayName too long (max 128 characters)")
        if not _go_unquote_ok(req.display_name):
            raise Invalid("DisplayName must be a valid quoted string: invalid syntax")
    if req.HasField("destination"):
        validate_destination(req.destination)
    validate_headers(dict(req.headers))
    if req.HasField("media"):
        validate_media(req.media)


def upgrade_participant_request(req: sip.CreateSIPParticipantRequest) -> None:
    """CreateSIPParticipantRequest.Upgrade: the deprecated ringtone flag means dial tone."""
    if req.play_ringtone:
        req.play_dialtone = True
