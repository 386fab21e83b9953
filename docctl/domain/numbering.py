"""Document numbers from a type's pattern, e.g. `SOP-{dept}-{seq:03}` -> `SOP-QA-007`."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from docctl.errors import InvalidInput

_FIELDS = {"type", "dept", "seq", "year"}
_DEPT = re.compile(r"^[A-Z0-9]{1,12}$")
_formatter = string.Formatter()


@dataclass(frozen=True)
class Pattern:
    text: str

    def __post_init__(self) -> None:
        check_pattern(self.text)

    def counter_key(self, *, type_code: str, dept: str, year: int) -> str:
        """Numbers share a counter when everything but `seq` renders the same (e.g. one per type and department)."""
        return self.text.format(type=type_code, dept=dept, year=year, seq=_Placeholder())

    def render(self, *, type_code: str, dept: str, year: int, seq: int) -> str:
        return self.text.format(type=type_code, dept=dept, year=year, seq=seq)


class _Placeholder:
    def __format__(self, spec: str) -> str:
        return "{seq}"


def check_pattern(text: str) -> None:
    if not text or len(text) > 64:
        raise InvalidInput("A numbering pattern is 1 to 64 characters.")
    try:
        parts = list(_formatter.parse(text))
    except ValueError:
        raise InvalidInput(f"The numbering pattern {text!r} is malformed.") from None
    names = [name for _, name, _, _ in parts if name is not None]
    unknown = [n for n in names if n not in _FIELDS]
    if unknown:
        raise InvalidInput(
            f"Unknown field(s) in the numbering pattern: {', '.join(unknown)}; use type, dept, seq, year."
        )
    if names.count("seq") != 1:
        raise InvalidInput("A numbering pattern must contain {seq} exactly once (for example {seq:03}).")
    for _, name, spec, _ in parts:
        if name == "seq" and spec and not re.fullmatch(r"0?\d", spec):
            raise InvalidInput("Format {seq} with a width such as {seq:03}.")
        if name != "seq" and spec:
            raise InvalidInput(f"Only {{seq}} takes a format; {{{name}:{spec}}} is not allowed.")
    literal = "".join(lit for lit, _, _, _ in parts)
    if not re.fullmatch(r"[A-Za-z0-9._/-]*", literal):
        raise InvalidInput("A numbering pattern may contain letters, digits, '.', '_', '/' and '-' besides its fields.")


def check_department(dept: str) -> str:
    dept = dept.strip().upper()
    if not _DEPT.match(dept):
        raise InvalidInput("A department code is 1 to 12 capital letters or digits, e.g. QA or CLIN.")
    return dept
