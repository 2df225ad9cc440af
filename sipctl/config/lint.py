"""Values LiveKit accepts but that are probably a mistake: warnings, each with its reason.

The models refuse only what LiveKit refuses (its API, or its SIP service when it places or
takes a call), so that whatever LiveKit holds can be imported, validated and planned as it
is. What LiveKit stores but then sends as written, matches in another form, or ignores is
pointed out here, on the resource and field it concerns (file:line from the caller).

Written from livekit/protocol ``livekit/sip.go`` (the ``Validate`` methods,
``validateAttributesToHeaders``, ``NormalizeNumber``), ``livekit/sip_validation.go``
(``ValidateHeaderValueResult``, ``deprecatedSipHeaderNames``), ``rpc/sip.go``
(``NewCreateSIPParticipantRequest``), ``sip/sip.go`` (``MatchTrunkDetailed``,
``matchNumbers``, ``isValidMask``, ``MatchDispatchRuleIter``) and livekit/sip
``pkg/sip/inbound.go`` (``handleInviteAuth``), ``pkg/sip/outbound.go`` (``Invite``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sipctl.config.model import Config
from sipctl.config.yamlsource import Path_
from sipctl.countries import ISO_3166_ALPHA2
from sipctl.models import DIGITS, E164, DispatchRule, InboundTrunk, OutboundTrunk
from sipctl.models.base import DEPRECATED_HEADERS, FORBIDDEN_HEADERS
from sipctl.numbers import normalize_number, valid_mask

# (section, name, path inside the resource, message)
Warn = Callable[[str, str, Path_, str], None]

# LiveKit's token characters (livekit/sip_validation.go tokenCharacters): a SIP user.
_SIP_USER = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def _formatted(number: str) -> str | None:
    """The E.164 form LiveKit's ``NormalizeNumber`` makes of a formatted number (spaces,
    dashes, parentheses), or None when it is not one."""
    norm = normalize_number(number)
    return norm if norm != number and E164.match(norm) else None


def _write(number: str, norm: str) -> str:
    """The fix for a formatted number: its E.164 form when it has its country code."""
    if number.startswith("+"):
        return f"write {norm!r}"
    return f"write it in E.164, with its country code (LiveKit reads it as {norm!r})"


def _caller_id(number: str) -> str | None:
    """Why an outbound trunk's number is probably a mistake (None when it is fine)."""
    if DIGITS.match(number):
        return (
            f"{number!r} has no leading '+': fine if your provider wants digits only "
            "(Telnyx does), otherwise write E.164"
        )
    # rpc/sip.go NewCreateSIPParticipantRequest: the trunk's number is the caller ID, as
    # written (LiveKit normalises numbers only to match inbound calls)
    norm = _formatted(number)
    if norm is not None:
        space = " (where a space is not valid)" if " " in number else ""
        return (
            f"LiveKit accepts {number!r} but does not normalise a caller ID: it sends it as "
            f"written as the From user of the calls it places with it{space}, and providers "
            f"expect E.164; {_write(number, norm)}"
        )
    if _SIP_USER.fullmatch(number):
        return (
            f"{number!r} is a SIP user, not a phone number: LiveKit sends it as the caller "
            f"ID as written (From: sip:{number}@...), which a SIP peer such as a PBX takes, "
            "but a phone network provider rejects the call or replaces the caller ID"
        )
    return (
        f"{number!r} is neither an E.164 number nor a SIP user: LiveKit sends it as written "
        "as the From user of the calls it places with it, where these characters are not "
        "valid; write E.164 such as +15105550123"
    )


def _matched(number: str, field: str) -> str | None:
    """Why an inbound trunk's number or allowed number is probably a mistake."""
    if E164.match(number) or DIGITS.match(number):
        return None  # LiveKit matches digits with a '+' added (NormalizeNumber)
    which, outcome, where = _MATCHED[field]
    if not number.strip() or "@" in number:
        return (
            f"{number!r} can never match: LiveKit compares it with the user part of the "
            f"{which} of each call (sip/sip.go {where})"
        )
    norm = _formatted(number)
    if norm is not None:
        return (
            f"LiveKit accepts {number!r} and matches it as {norm!r} (NormalizeNumber), so "
            f"calls whose {which} is {norm} {outcome}; {_write(number, norm)}: the form "
            "numbers arrive in, and dispatch rules compare numbers exactly"
        )
    return (
        f"{number!r} is not a phone number: LiveKit matches it exactly against the "
        f"{which} of a call, as a SIP peer such as a PBX may send it; calls from the phone "
        "network carry E.164 numbers and never match it"
    )


_MATCHED = {
    "numbers": ("called number (To header)", "reach this trunk", "MatchTrunkDetailed"),
    "allowed_numbers": ("calling number (From header)", "are allowed", "matchNumbers"),
}


def _caller_ids(name: str, numbers: list[str], warn: Warn) -> None:
    for i, number in enumerate(numbers):
        if not E164.match(number):
            reason = _caller_id(number)
            if reason is not None:
                warn("outbound_trunks", name, ("numbers", i), reason)


def _country(code: str) -> str:
    upper = code.upper()
    fix = f"write {upper!r}" if upper in ISO_3166_ALPHA2 else "write one such as 'US'"
    return (
        f"{code!r} is not an ISO 3166-1 alpha-2 country code: LiveKit stores it as written "
        "and passes it on to choose where calls are placed (rpc/sip.go "
        "NewCreateSIPParticipantRequest), while its own check of a call's destination "
        f"country accepts only upper-case codes (Destination.Validate); {fix}"
    )


def _header_value(name: str, value: str) -> str | None:
    if value.isascii() and "\t" not in value:
        return None
    # livekit/sip_validation.go ValidateHeaderValueResult accepts TAB and UTF-8 and the
    # SIP service sends the value as it is
    if "\t" in value:
        return (
            f"the value of header {name!r} has a TAB: LiveKit accepts it and sends it as "
            "written, but SIP proxies may fold it into a space (RFC 3261 linear white "
            "space); write a space"
        )
    return (
        f"the value of header {name!r} has non-ASCII characters: LiveKit accepts UTF-8 and "
        "sends it as written, but many SIP providers and PBXs refuse or garble header "
        "values outside printable ASCII"
    )


def _headers(section: str, name: str, model: OutboundTrunk | InboundTrunk, warn: Warn) -> None:
    for header, value in model.headers.items():
        if header.lower() in DEPRECATED_HEADERS:
            # LiveKit only soft-fails these (sip_validation.go deprecatedSipHeaderNames)
            warn(
                section,
                name,
                ("headers", header),
                f"LiveKit deprecates setting the SIP header {header!r}: it may be refused in "
                "a later LiveKit",
            )
        reason = _header_value(header, value)
        if reason is not None:
            warn(section, name, ("headers", header), reason)


def _attributes_to_headers(
    section: str, name: str, model: OutboundTrunk | InboundTrunk, warn: Warn
) -> None:
    for attribute, header in model.attributes_to_headers.items():
        if header.lower() in FORBIDDEN_HEADERS:
            # validateAttributesToHeaders checks the name only; livekit/sip pkg/sip/types.go
            # AttrsToHeaders then sets the header like any other
            warn(
                section,
                name,
                ("attributes_to_headers", attribute),
                f"LiveKit accepts {header!r} here, but refuses to let a trunk's headers set "
                "it (ForbiddenSipHeaderNames): its SIP service manages that header itself, and "
                "copying an attribute into it can break the call",
            )


def _outbound_auth(name: str, trunk: OutboundTrunk, warn: Warn) -> None:
    auth = trunk.auth
    assert auth is not None
    missing = "username" if auth.password is not None else "password"
    # livekit/sip pkg/sip/outbound.go (sipOutbound) Invite: a 401/407 without both ends
    # the call (ErrAuthMissingCreds)
    warn(
        "outbound_trunks",
        name,
        ("auth",),
        f"auth has no {missing}: LiveKit accepts it, but answers a provider's 401/407 "
        "challenge only with both username and password, so calls fail where the provider "
        f"asks for credentials; set auth.{missing}",
    )


def _auth(name: str, trunk: InboundTrunk, warn: Warn) -> None:
    auth = trunk.auth
    if auth is None:
        return
    has_user, has_password = bool(auth.username), auth.password is not None
    if has_user == has_password:
        return
    missing = "username" if has_password else "password"
    alone = not (trunk.numbers or trunk.allowed_addresses)
    # LiveKit counts either as securing the trunk (livekit/sip.go SIPInboundTrunkInfo.
    # ValidateResult); livekit/sip pkg/sip/inbound.go handleInviteAuth challenges a
    # caller only when both are set
    warn(
        "inbound_trunks",
        name,
        ("auth",),
        f"auth has no {missing}: LiveKit accepts the trunk as secured, but asks callers "
        "for credentials only when both username and password are set, so inbound calls "
        "are not authenticated"
        + (": anyone who can reach LiveKit's SIP port can call into it" if alone else "")
        + f"; set auth.{missing}",
    )


def _addresses(name: str, trunk: InboundTrunk, warn: Warn) -> None:
    masks = trunk.allowed_addresses
    ignored = [i for i, m in enumerate(masks) if not valid_mask(m)]
    for i in ignored:
        # sip/sip.go isValidMask, filterInvalidAddrMasks, matchAddrMasks
        left = (
            "; with no entry left, LiveKit lets calls in from any address"
            if len(ignored) == len(masks)
            else ""
        )
        warn(
            "inbound_trunks",
            name,
            ("allowed_addresses", i),
            f"LiveKit accepts {masks[i]!r} but ignores it when a call comes in (no spaces, "
            "commas, parentheses, '+', '*', ';' or scheme in an entry): write one address, "
            f"CIDR or host per entry{left}",
        )


def _rule_numbers(name: str, rule: DispatchRule, warn: Warn) -> None:
    for field, which in (("numbers", "called"), ("inbound_numbers", "calling")):
        for i, number in enumerate(getattr(rule, field)):
            norm = None if E164.match(number) else _formatted(number)
            if norm is None or number.lstrip("+").isdigit():
                continue
            # sip/sip.go MatchDispatchRuleIter: slices.Contains, not NormalizeNumber
            warn(
                "dispatch_rules",
                name,
                (field, i),
                f"LiveKit accepts {number!r} but compares a dispatch rule's numbers with the "
                f"{which} number exactly (trunks normalise, rules do not): a call with "
                f"{norm} never matches it; {_write(number, norm)}",
            )


def warnings(config: Config, warn: Warn) -> None:
    """Report, through ``warn``, each value LiveKit accepts but that is probably a mistake.

    Called once per load on every declared trunk: the common case (E.164 numbers, no
    headers, an upper-case country) costs a regex match per number and nothing else."""
    e164 = E164.match  # the loop below runs for each of up to 10,000 trunks: no calls
    for name, out in config.outbound_trunks.items():
        numbers = out.numbers
        for number in numbers:
            if not e164(number):
                _caller_ids(name, numbers, warn)
                break
        if len(numbers) > 1 and len(set(numbers)) != len(numbers):
            # rpc/sip.go NewCreateSIPParticipantRequest picks one at random
            warn(
                "outbound_trunks",
                name,
                ("numbers",),
                "lists a number twice: LiveKit accepts it, and picks a caller ID at random "
                "among the numbers, so that one is chosen more often",
            )
        code = out.destination_country
        if code and code not in ISO_3166_ALPHA2:
            warn("outbound_trunks", name, ("destination_country",), _country(code))
        if out.headers:
            _headers("outbound_trunks", name, out, warn)
        if out.attributes_to_headers:
            _attributes_to_headers("outbound_trunks", name, out, warn)
        auth = out.auth
        if auth is not None and bool(auth.username) != (auth.password is not None):
            _outbound_auth(name, out, warn)
    for name, inb in config.inbound_trunks.items():
        for field in _MATCHED:
            for i, number in enumerate(getattr(inb, field)):
                reason = None if e164(number) else _matched(number, field)
                if reason is not None:
                    warn("inbound_trunks", name, (field, i), reason)
        if inb.headers:
            _headers("inbound_trunks", name, inb, warn)
        if inb.attributes_to_headers:
            _attributes_to_headers("inbound_trunks", name, inb, warn)
        if inb.allowed_addresses:
            _addresses(name, inb, warn)
        if inb.auth is not None:
            _auth(name, inb, warn)
    for name, rule in config.dispatch_rules.items():
        if rule.numbers or rule.inbound_numbers:
            _rule_numbers(name, rule, warn)
