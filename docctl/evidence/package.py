"""The package being verified: its members with their actual hashes, and the problems found so far. Pure."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from docctl.audit.canonical import canonical_json
from docctl.evidence import zipread
from docctl.evidence.zipread import MemberUnreadable


class NotAPackage(Exception):
    """The file is not a zip or cannot be read at all."""


@dataclass(frozen=True)
class Problem:
    member: str
    message: str

    def __str__(self) -> str:
        return f"{self.member}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    ca_fingerprint: str = ""
    scope: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class Package:
    """The zip's members with their actual hashes, and the problems found so far."""

    def __init__(self, zf: zipfile.ZipFile, report: Report) -> None:
        self.zf = zf
        self.report = report
        found = zipread.members(zf)
        self.infos = found.infos
        for name, why in found.refused:
            self.problem(name, why)
        self._digests: dict[str, tuple[str, int] | None] = {}
        self.ca_pem = b""  # set once ca.pem is read and manifest.json verified under it
        self.listed: dict[str, dict] = {}  # manifest.json's files by path

    def problem(self, member: str, message: str) -> None:
        self.report.problems.append(Problem(member, message))

    def has(self, name: str) -> bool:
        return name in self.infos

    def digest(self, name: str) -> tuple[str, int] | None:
        """(sha256, size) of a member, or None (and a problem) when it cannot be read."""
        if name not in self._digests:
            try:
                self._digests[name] = zipread.digest(self.zf, self.infos[name])
            except MemberUnreadable as exc:
                self.problem(name, str(exc))
                self._digests[name] = None
        return self._digests[name]

    def read(self, name: str) -> bytes | None:
        """A member's bytes for parsing; None (and a problem) when absent or unreadable."""
        if name not in self.infos:
            self.problem(name, "missing from the zip")
            return None
        try:
            return zipread.read(self.zf, self.infos[name])
        except MemberUnreadable as exc:
            self.problem(name, str(exc))
            return None

    def canonical(self, name: str) -> Any:
        """A member that must be canonical JSON, parsed; None (and a problem) otherwise."""
        data = self.read(name)
        if data is None:
            return None
        try:
            value = json.loads(data.decode("utf-8"))
            same = canonical_json(value) == data
        except (UnicodeDecodeError, ValueError, TypeError):
            self.problem(name, "is not JSON")
            return None
        if not same:
            self.problem(name, "is not canonical JSON (keys sorted, no spaces, no floats)")
            return None
        return value
