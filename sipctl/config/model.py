"""The loaded config: what the rest of sipctl reads (the loader builds it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sipctl.config.translate import display
from sipctl.config.yamlsource import Located
from sipctl.errors import Problem
from sipctl.models import DispatchRule, InboundTrunk, OutboundTrunk, Settings, TestCall


class DeclaredAt(Mapping[tuple[str, str], str]):
    """(section, name) -> "file:line", worked out when asked: positions are computed only
    when something needs one (sipctl.config.fastyaml)."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], Located] = {}

    def add(self, key: tuple[str, str], doc: Located) -> None:
        self._docs[key] = doc

    def __getitem__(self, key: tuple[str, str]) -> str:
        doc = self._docs[key]
        return f"{display(doc.file)}:{doc.pos(key).line}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._docs)

    def __len__(self) -> int:
        return len(self._docs)


@dataclass
class Config:
    """The desired state and test calls, merged from every file of the config directory."""

    directory: Path
    files: list[Path]
    outbound_trunks: dict[str, OutboundTrunk] = field(default_factory=dict)
    inbound_trunks: dict[str, InboundTrunk] = field(default_factory=dict)
    dispatch_rules: dict[str, DispatchRule] = field(default_factory=dict)
    test_calls: dict[str, TestCall] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    warnings: list[Problem] = field(default_factory=list)
    # Where each resource is declared: (section, name) -> "file:line".
    declared_at: DeclaredAt = field(default_factory=lambda: DeclaredAt())

    def summary(self) -> str:
        parts = [
            (len(self.outbound_trunks), "outbound trunk"),
            (len(self.inbound_trunks), "inbound trunk"),
            (len(self.dispatch_rules), "dispatch rule"),
            (len(self.test_calls), "test call"),
        ]
        text = ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in parts)
        nfiles = len(self.files)
        return f"{text} in {nfiles} file{'s' if nfiles != 1 else ''}"
