"""A route decision as text: the call, what LiveKit picks, then why not the others.

Call to +15550700001 from +15551230000
  inbound trunk  main-in
  dispatch rule  sales (direct)
  room           sales-room
  agents         sales-agent
LiveKit joins the caller to room sales-room.

Not taken:
  dispatch rule support: numbers (+15550700002) do not contain the dialled +15550700001
"""

from __future__ import annotations

from typing import Any

import click


def render(data: dict[str, Any], *, color: bool = False) -> str:
    call = data["call"]
    head = f"Call to {call['to']}"
    if call["from"]:
        head += f" from {call['from']}"
    if call["source_ip"]:
        head += f" (source {call['source_ip']})"
    if call["pin"] is not None:
        head += f", PIN {call['pin'] or '(none)'}"
    lines = [head]
    rule = data["dispatch_rule"]
    rows = [
        ("inbound trunk", data["inbound_trunk"] or "(none)"),
        ("dispatch rule", f"{rule} ({data['rule_kind']})" if rule else "(none)"),
    ]
    if data["room_name"] is not None:
        rows.append(("room", data["room_name"]))
        rows.append(("agents", ", ".join(data["agents"]) or "(none)"))
    if data["identity"]:
        rows.append(("participant", data["identity"]))
    if data["auth_username"]:
        rows.append(("auth", f"digest challenge, username {data['auth_username']}"))
    lines += [f"  {k:<14} {v}" for k, v in rows]
    verdict = data["detail"][:1].upper() + data["detail"][1:] + "."
    if data["inbound_trunk"] is None and data["landed"]:
        verdict += " (No inbound trunk matched: LiveKit lets a rule for any trunk take it.)"
    lines.append(
        click.style(verdict, fg="green" if data["landed"] else "red") if color else verdict
    )
    if data["rejected"]:
        lines += ["", "Not taken:"]
        title = {"inbound_trunk": "inbound trunk", "dispatch_rule": "dispatch rule"}
        lines += [f"  {title[r['kind']]} {r['name']}: {r['reason']}" for r in data["rejected"]]
    if not call["from"] or not call["source_ip"]:
        missing = [
            text
            for text, given in (
                ("--from (allowed_numbers, inbound_numbers)", call["from"]),
                ("--source-ip (allowed_addresses, not checked)", call["source_ip"]),
            )
            if not given
        ]
        lines += ["", f"Not given: {'; '.join(missing)}."]
    return "\n".join(lines) + "\n"
