"""What LiveKit holds, as sipctl sees it: plain objects the adapter fills (from the SDK's
protobufs) and the plan, apply and renderers read (no SDK import here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sipctl.fields import KINDS, TITLE, Kind, describe
from sipctl.models import DispatchRule, InboundTrunk, Resource
from sipctl.ownership import Marker


@dataclass
class LiveResource:
    """One live resource read from LiveKit, mapped to the model the config would give."""

    kind: Kind
    id: str
    name: str
    model: Resource | None  # None when the answer did not fit (see ``error``)
    marker: Marker | None  # None: not managed by sipctl
    # the auth password exactly as the server returned it (never in repr)
    password: str = field(default="", repr=False)
    info: Any = field(default=None, repr=False)  # the protobuf, for replace and digests
    error: str | None = None
    # a dispatch rule whose metadata still carries the marker an older sipctl wrote there
    legacy_marker: bool = False

    @property
    def managed(self) -> bool:
        return self.marker is not None

    def label(self) -> str:
        return describe(self.kind, self.name, self.id)

    def hides_password(self) -> bool:
        """Whether the server holds a password it did not return (a masking server, such as
        LiveKit Cloud, answers an empty one). A username says so; so does an inbound trunk
        nothing else secures: LiveKit keeps none without numbers, allowed addresses, a
        username or a password (livekit/protocol livekit/sip.go
        SIPInboundTrunkInfo.ValidateResult)."""
        model = self.model
        if self.password or model is None or isinstance(model, DispatchRule):
            return False
        if model.auth is not None and model.auth.username:
            return True
        return isinstance(model, InboundTrunk) and not (model.numbers or model.allowed_addresses)


@dataclass
class Duplicate:
    kind: Kind
    name: str
    ids: list[str]

    def __str__(self) -> str:
        return (
            f"{len(self.ids)} live {TITLE[self.kind]}s are managed under the name "
            f"{self.name!r}: {', '.join(self.ids)}; delete or rename all but one (sipctl "
            "identifies a resource by its name)"
        )


@dataclass
class LiveState:
    """What LiveKit holds, mapped to models and sorted by ownership for one owner.

    ``managed``: marked with this owner (``settings.owner``; a config without one owns the
    marked resources without an owner). ``unowned``: marked without an owner while this
    config has one (it may claim them). ``others``: marked by another owner (never
    touched without --take-ownership). ``unmanaged``: no marker."""

    owner: str | None = None
    # kind -> name -> resource, for resources carrying this owner's marker
    managed: dict[Kind, dict[str, LiveResource]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    # kind -> name -> resources without the marker (a name may repeat)
    unmanaged: dict[Kind, dict[str, list[LiveResource]]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    unowned: dict[Kind, dict[str, list[LiveResource]]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    others: dict[Kind, dict[str, list[LiveResource]]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    duplicates: list[Duplicate] = field(default_factory=list)
    # inbound trunk ID -> name, for dispatch rules' trunk references
    inbound_names: dict[str, str] = field(default_factory=dict)
    # dispatch rule ID -> the marker of an inbound trunk whose ledger lists it
    rule_owners: dict[str, Marker] = field(default_factory=dict)
    # every resource in the order read, per kind
    all: dict[Kind, list[LiveResource]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, res: LiveResource) -> None:
        if res.kind == "inbound_trunk" and res.marker is not None:
            for rid in res.marker.rules:
                self.rule_owners.setdefault(rid, res.marker)
        elif res.kind == "dispatch_rule" and res.marker is None and res.id in self.rule_owners:
            # recorded on an inbound trunk of its owner (inbound trunks are added first)
            owner = self.rule_owners[res.id].owner
            res.marker = Marker(owner=owner)
        self.all[res.kind].append(res)
        marker = res.marker
        if marker is None:
            self.unmanaged[res.kind].setdefault(res.name, []).append(res)
        elif marker.owner == self.owner:
            self._add_managed(res)
        elif marker.owner is None:
            self.unowned[res.kind].setdefault(res.name, []).append(res)
        else:
            self.others[res.kind].setdefault(res.name, []).append(res)

    def _add_managed(self, res: LiveResource) -> None:
        first = self.managed[res.kind].get(res.name)
        if first is None:
            self.managed[res.kind][res.name] = res
            return
        dup = next(
            (d for d in self.duplicates if d.kind == res.kind and d.name == res.name),
            None,
        )
        if dup is None:
            self.duplicates.append(Duplicate(res.kind, res.name, [first.id, res.id]))
        else:
            dup.ids.append(res.id)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run reprs a finished task's result (Python 3.11, when
        # it restores the SIGINT handler), and a full repr of 10,000 models takes seconds.
        counts = ", ".join(f"{k}={len(self.all[k])}" for k in KINDS)
        return f"LiveState({counts})"

    def count_managed(self) -> int:
        return sum(len(v) for v in self.managed.values())
