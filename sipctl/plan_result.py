"""What a plan is: plain result objects that the planner fills and renderers read.

(No engine code here: renderers import this module, never the planner.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sipctl.fields import Kind, describe, top
from sipctl.live import LiveResource
from sipctl.models import Resource
from sipctl.secrets import MASK

Action = Literal["create", "update", "delete", "adopt", "rename"]
Method = Literal["create", "update", "replace", "delete"]
PASSWORD = "auth.password"


@dataclass(frozen=True)
class FieldChange:
    """One changed field; a sensitive one carries fingerprints, never values."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False
    old_fingerprint: str | None = None
    new_fingerprint: str | None = None

    def show(self, value: Any) -> Any:
        return MASK if self.sensitive and value is not None else value


@dataclass
class Change:
    action: Action
    kind: Kind
    name: str
    id: str | None
    method: Method
    fields: list[FieldChange] = field(default_factory=list)
    desired: Resource | None = None
    live: LiveResource | None = None
    # write the password although it could not be compared (adopt on a masking server)
    push_password: bool = False
    note: str = ""
    owner: str | None = None  # the owner its marker records (settings.owner)
    renamed_from: str | None = None  # a rename: the live name it had

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    def label(self) -> str:
        if self.renamed_from is not None:
            return f"{describe(self.kind, self.renamed_from)} -> {self.name!r}" + (
                f" ({self.id})" if self.id else ""
            )
        return describe(self.kind, self.name, self.id)

    def changed(self) -> set[str]:
        """The rows (``sipctl.fields``) this change touches: ``media``, ``auth.username``…"""
        return {top(self.kind, f.path) for f in self.fields}


@dataclass
class Safety:
    """octoDNS-style thresholds on the share of managed resources one apply may change."""

    managed: int
    updates: int
    deletes: int
    min_resources: int
    max_update_percent: float
    max_delete_percent: float

    def problems(self) -> list[str]:
        if self.managed < self.min_resources or self.managed == 0:
            return []
        out = []
        for what, n, limit, setting in (
            ("update", self.updates, self.max_update_percent, "max_update_percent"),
            ("delete", self.deletes, self.max_delete_percent, "max_delete_percent"),
        ):
            share = 100.0 * n / self.managed
            if share > limit:
                out.append(
                    f"refusing to {what} {n} of {self.managed} managed resources "
                    f"({share:.0f}% > settings.{setting} {limit:g}%); rerun with --force "
                    "if this is intended"
                )
        return out


@dataclass
class Plan:
    changes: list[Change]
    unmanaged: list[LiveResource]
    orphaned: list[LiveResource]
    safety: Safety
    allow_delete: bool
    targets: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # the config's warnings (validate's): in the JSON plan and apply report; the text
    # output has them on stderr already
    config_warnings: list[str] = field(default_factory=list)
    owner: str | None = None
    take_ownership: tuple[str, ...] = ()
    # marked by another owner (never touched), or without owner while this config has one
    other_owners: list[LiveResource] = field(default_factory=list)
    # kind -> old name -> new name (renamed_from)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    unowned: list[LiveResource] = field(default_factory=list)
    # scope -> key -> digest, and their checksum: filled by sipctl.saved_plan
    digests: dict[str, dict[str, str]] | None = None
    checksum: str | None = None

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def __repr__(self) -> str:
        # Short on purpose (see LiveState.__repr__).
        return f"Plan({self.summary()!r})"

    @property
    def has_changes(self) -> bool:
        """Something to write (orphans are kept: nothing to write for them)."""
        return bool(self.changes)

    @property
    def drifted(self) -> bool:
        """LiveKit differs from the config: changes, or orphans kept (deletes are off)."""
        return bool(self.changes or self.orphaned)

    def summary(self) -> str:
        if not self.drifted:
            return "No changes. LiveKit matches the configuration."
        # An adopt updates the live resource in place (it writes the marker): it counts as
        # an update in the summary line, whose shape pipelines parse; the blocks above and
        # the JSON say "adopt".
        updates = self.count("update") + self.count("adopt") + self.count("rename")
        # ", N orphaned" only when there are orphans: the line keeps its shape otherwise
        orphans = f", {len(self.orphaned)} orphaned" if self.orphaned else ""
        return (
            f"Plan: {self.count('create')} to create, {updates} to update, "
            f"{self.count('delete')} to delete{orphans}."
        )
