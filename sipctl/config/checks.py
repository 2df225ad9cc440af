"""Validate the merged entries into models, then check them against each other (references,
caller IDs, schedules); every problem located at its file and line."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from sipctl.config import lint
from sipctl.config.merge import Builder
from sipctl.config.model import Config
from sipctl.config.translate import did_you_mean, display, translate, translate_one
from sipctl.config.yamlsource import Located, Path_
from sipctl.errors import Problem
from sipctl.models import (
    NOT_WITH_ARRIVE,
    DispatchRule,
    InboundTrunk,
    OutboundTrunk,
    Settings,
    TestCall,
)
from sipctl.schedule import Schedule, busiest_hour


def validate(self: Builder, config: Config) -> list[Problem]:
    out: list[Problem] = []
    settings = _validate_settings(self, out)
    config.settings = settings
    if not settings.allow_literal_secrets:
        for doc, path, what in self.literal_secrets:
            pos = doc.pos(path)
            out.append(
                Problem(
                    display(doc.file),
                    pos.line,
                    pos.col,
                    path,
                    f"{what}: write a ${{VARIABLE}} reference and set it in the "
                    "environment (or set settings.allow_literal_secrets: true)",
                )
            )
    defaults = settings.test_call_defaults.model_dump(exclude_none=True, by_alias=True)
    models: dict[str, type[BaseModel]] = {
        "outbound_trunks": OutboundTrunk,
        "inbound_trunks": InboundTrunk,
        "dispatch_rules": DispatchRule,
        "test_calls": TestCall,
    }
    for section, model in models.items():
        built: dict[str, Any] = getattr(config, section)
        for name, entry in self.entries[section].items():
            data = entry.data
            if section == "test_calls" and isinstance(data, dict):
                # an arrive call is never answered: answer defaults do not apply to it
                skip = NOT_WITH_ARRIVE if "arrive" in data else ()
                data = {**{k: v for k, v in defaults.items() if k not in skip}, **data}
                if "answer_within" not in entry.data and "ringing_timeout" in entry.data:
                    # a call's own ringing timeout bounds the default answer_within
                    data.pop("answer_within", None)
            try:
                built[name] = model.model_validate(data)
            except ValidationError as exc:
                out.extend(translate(exc, entry.doc, (section, name), model))
                continue
            config.declared_at.add((section, name), entry.doc)
    out.extend(_cross_check(self, config))
    return out


def _validate_settings(self: Builder, out: list[Problem]) -> Settings:
    """The settings; on errors, reported, the valid ones (so the rest is still checked)."""
    data = {k: e.data for k, e in self.settings.items()}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        bad: set[str] = set()
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            bad.add(key)
            entry = self.settings.get(key)
            if entry is None:
                entry = next(iter(self.settings.values()))
            out.extend(translate_one(err, entry.doc, ("settings",), Settings))
    try:
        return Settings.model_validate({k: v for k, v in data.items() if k not in bad})
    except ValidationError:
        return Settings()


def _trunk_numbers(self: Builder, config: Config, ref: object) -> list[str] | None:
    """An outbound trunk's numbers: from its model, or its raw data when it is invalid."""
    if not isinstance(ref, str):
        return None
    known = config.outbound_trunks.get(ref)
    if known is not None:
        return list(known.numbers)
    entry = self.entries["outbound_trunks"].get(ref)
    raw = entry.data.get("numbers") if entry and isinstance(entry.data, dict) else None
    if isinstance(raw, list) and raw and all(isinstance(n, str) for n in raw):
        return raw
    return None


def _cross_check(self: Builder, config: Config) -> list[Problem]:
    out: list[Problem] = []

    def at(section: str, name: str, *rest: str | int) -> Located:
        return self.entries[section][name].doc

    def add(section: str, name: str, rest: Path_, msg: str, severity: str = "error") -> None:
        doc = at(section, name)
        path = (section, name, *rest)
        pos = doc.pos(path)
        out.append(Problem(display(doc.file), pos.line, pos.col, path, msg, severity))

    # what LiveKit accepts but is probably a mistake (sipctl.config.lint)
    lint.warnings(config, lambda s, n, rest, msg: add(s, n, rest, msg, "warning"))
    # References are checked on the raw data, so that they are reported even when the
    # resource has other errors (validate reports everything at once).
    for name, entry in self.entries["dispatch_rules"].items():
        trunks = entry.data.get("trunks") if isinstance(entry.data, dict) else None
        for i, t in enumerate(trunks if isinstance(trunks, list) else []):
            if isinstance(t, str) and t not in self.entries["inbound_trunks"]:
                add(
                    "dispatch_rules",
                    name,
                    ("trunks", i),
                    f"names inbound trunk {t!r}, which is not declared"
                    f"{did_you_mean(t, self.entries['inbound_trunks'])}",
                )
    for name, entry in self.entries["test_calls"].items():
        raw = entry.data if isinstance(entry.data, dict) else {}
        ref, from_ = raw.get("trunk"), raw.get("from")
        numbers = _trunk_numbers(self, config, ref)
        if isinstance(ref, str) and ref not in self.entries["outbound_trunks"]:
            add(
                "test_calls",
                name,
                ("trunk",),
                f"names outbound trunk {ref!r}, which is not declared"
                f"{did_you_mean(ref, self.entries['outbound_trunks'])}",
            )
        elif numbers is not None and isinstance(from_, str) and from_ not in numbers:
            add(
                "test_calls",
                name,
                ("from",),
                f"{from_!r} is not one of trunk {ref}'s numbers ({', '.join(numbers)})",
            )
        arrive = raw.get("arrive")
        for field, section in (
            ("inbound_trunk", "inbound_trunks"),
            ("dispatch_rule", "dispatch_rules"),
        ):
            ref = arrive.get(field) if isinstance(arrive, dict) else None
            if isinstance(ref, str) and ref not in self.entries[section]:
                add(
                    "test_calls",
                    name,
                    ("arrive", field),
                    f"names {section[:-1].replace('_', ' ')} {ref!r}, which is not declared"
                    f"{did_you_mean(ref, self.entries[section])}",
                )
    scheduled: dict[str, tuple[Schedule, int]] = {}
    for call_name, call in config.test_calls.items():
        known = config.outbound_trunks.get(call.trunk)
        if known is not None and call.from_ is None:
            call.from_ = known.numbers[0]  # the documented default: the trunk's first
        if call.schedule:
            scheduled[call_name] = (Schedule(call.schedule), 1 + call.retries)
    limit = config.settings.max_calls_per_hour
    calls_per_hour, busiest = busiest_hour(scheduled) if scheduled else (0.0, "")
    if calls_per_hour > limit:
        # on the call that dials the most in the busiest hour: the one to slow down
        add(
            "test_calls",
            busiest,
            (),
            f"the schedules dial up to {calls_per_hour:.0f} calls an hour, more than "
            f"settings.max_calls_per_hour ({limit}); --watch will skip runs over the cap",
            "warning",
        )
    return out
