"""Revision versions: major.minor. The first revision is 1.0; a major change goes to the next whole number, a minor
change to the next minor number of the highest version so far."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from docctl.errors import InvalidInput

_VERSION = re.compile(r"^(\d{1,4})\.(\d{1,4})$")


class Change(StrEnum):
    MAJOR = "major"
    MINOR = "minor"


def parse(version: str) -> tuple[int, int]:
    match = _VERSION.match(version)
    if not match:
        raise InvalidInput(f"{version!r} is not a version (major.minor, e.g. 2.1).")
    return int(match.group(1)), int(match.group(2))


def next_version(existing: Iterable[tuple[int, int]], change: Change) -> tuple[int, int]:
    highest = max(existing, default=None)
    if highest is None:
        return (1, 0)
    major, minor = highest
    return (major + 1, 0) if change is Change.MAJOR else (major, minor + 1)


def label(major: int, minor: int) -> str:
    return f"{major}.{minor}"
