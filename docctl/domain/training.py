"""Training-matrix rules (plain Python): due dates, the status of a person against a document, compliance, and
the HR file of people and job functions checked row by row before anything is applied."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

READ_AND_UNDERSTOOD = "Read and understood"
TRAINER_SIGN_OFF = "Trainer sign-off: training delivered and assessed"

FUNCTION_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,31}")


class Status(StrEnum):
    """A cell of the matrix: one person against one document."""

    COMPLETE = "complete"  # trained on the version in force
    DUE = "due"  # assigned, due date not reached
    OVERDUE = "overdue"  # assigned, due date passed
    NOT_REQUIRED = "not_required"  # none of the person's functions requires the document
    NO_VERSION = "no_version"  # required, but the document has no effective version yet
    NOT_ASSIGNED = "not_assigned"  # required and in force, but no training assigned (e.g. the person is inactive)


STATUS_LABELS: dict[Status, str] = {
    Status.COMPLETE: "Complete",
    Status.DUE: "Due",
    Status.OVERDUE: "Overdue",
    Status.NOT_REQUIRED: "Not required",
    Status.NO_VERSION: "No effective version",
    Status.NOT_ASSIGNED: "Not assigned",
}


def due_date(*, assigned_at: datetime, window_days: int, effective_at: datetime | None = None,
             planned_effective_at: datetime | None = None, train_before_effective: bool = False) -> datetime:
    """When an assignment falls due: before the effective date when the author chose "train before effective"
    and that date is still ahead; otherwise the training window after the revision took effect (or after the
    person was assigned, if that is later: someone who gains a function gets the whole window)."""
    if train_before_effective and planned_effective_at is not None and planned_effective_at > assigned_at:
        return planned_effective_at
    start = max(effective_at or assigned_at, assigned_at)
    return start + timedelta(days=window_days)


def status_of(state: str | None, due_at: datetime | None, now: datetime) -> Status:
    """The status of an assignment on the version in force (None: no assignment)."""
    if state == "completed":
        return Status.COMPLETE
    if state == "open" and due_at is not None:
        return Status.OVERDUE if due_at <= now else Status.DUE
    return Status.NOT_ASSIGNED


def percent(complete: int, total: int) -> int | None:
    """Compliance as a whole percentage, rounded down (so 99.6 % never shows as 100 %); None when nothing is
    required."""
    if total <= 0:
        return None
    return complete * 100 // total


# --- the HR file ------------------------------------------------------------------------------------------------

MAX_IMPORT_ROWS = 50_000
REQUIRED_COLUMNS = ("username", "function")
OPTIONAL_COLUMNS = ("action", "reason")
ACTIONS = ("grant", "revoke")


@dataclass
class ImportRow:
    line: int
    username: str
    function: str
    action: str = "grant"
    reason: str = ""
    problem: str = ""  # empty: valid so far
    outcome: str = ""  # "grant", "revoke" or "unchanged" once checked against the database

    @property
    def valid(self) -> bool:
        return not self.problem


@dataclass
class ParsedFile:
    rows: list[ImportRow] = field(default_factory=list)
    problem: str = ""  # a problem with the whole file (encoding, columns, size): no row is usable

    @property
    def rejected(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.valid]

    @property
    def accepted(self) -> list[ImportRow]:
        return [r for r in self.rows if r.valid]


def parse_function_file(data: bytes) -> ParsedFile:
    """Read a CSV file of `username,function[,action][,reason]` rows (UTF-8, with or without a byte-order mark;
    header required). Shape problems are found here; who and what exist is checked by the service."""
    try:
        text_ = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return ParsedFile(problem=f"The file is not UTF-8 text (line {line}, byte {exc.start}): save it as "
                                  "CSV UTF-8 and try again.")
    if "\x00" in text_:
        return ParsedFile(problem="The file holds NUL characters: it is not a CSV text file (UTF-16 files must "
                                  "be saved as UTF-8).")
    reader = csv.reader(io.StringIO(text_, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return ParsedFile(problem=f"The header line cannot be read as CSV: {exc}.")
    if header is None:
        return ParsedFile(problem="The file is empty: it needs a header line (username,function) and rows.")
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(repr(c) for c in unknown))
        if len(set(columns)) != len(columns):
            parts.append("a column is named twice")
        return ParsedFile(problem="The columns are wrong (" + "; ".join(parts) + "): the header must be "
                                  "username,function and may add action (grant or revoke) and reason.")
    out = ParsedFile()
    seen: dict[tuple[str, str], int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(out.rows) >= MAX_IMPORT_ROWS:
                return ParsedFile(problem=f"The file has more than {MAX_IMPORT_ROWS:,} rows: split it.")
            cells = dict(zip(columns, (v.strip() for v in values), strict=False))
            row = ImportRow(line=line, username=cells.get("username", ""), function=cells.get("function", "").upper(),
                            action=(cells.get("action") or "grant").lower(), reason=cells.get("reason", ""))
            if len(values) != len(columns):
                row.problem = f"{len(values)} values where the header has {len(columns)} columns"
            elif not row.username:
                row.problem = "no user ID"
            elif not row.function:
                row.problem = "no job function"
            elif row.action not in ACTIONS:
                row.problem = f"action must be grant or revoke, not {row.action!r}"
            elif len(row.reason) > 2000 or len(row.username) > 64 or len(row.function) > 32:
                row.problem = "a value is too long"
            else:
                key = (row.username.casefold(), row.function)
                if key in seen:
                    row.problem = f"duplicate of line {seen[key]}"
                else:
                    seen[key] = line
            out.rows.append(row)
    except csv.Error as exc:
        return ParsedFile(problem=f"Line {reader.line_num} cannot be read as CSV: {exc}.")
    if not out.rows:
        out.problem = "The file has a header but no rows."
    return out
