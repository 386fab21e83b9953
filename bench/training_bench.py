"""Training benchmark (issue 5): assignments when a revision becomes effective, the matrix page, the compliance
summary and the CSV export of the whole matrix, with 10,000 people, 2,000 documents and 50 job functions.

    .venv/bin/python bench/training_bench.py                  # everything, SQLite then PostgreSQL (~17 min)
    .venv/bin/python bench/training_bench.py --no-pg          # SQLite only
    .venv/bin/python bench/training_bench.py --skip-http      # in-process only (no `docctl serve`)
    .venv/bin/python bench/training_bench.py --profile        # also cProfile one MAKE_EFFECTIVE transaction
    .venv/bin/python bench/training_bench.py --users 2000 --docs 500 --allstaff 1000   # a smaller population

The population (a temporary DOCCTL_DATA_DIR: embedded SQLite, local blob store; and, with --pg, a throwaway
database `docctl_bench_training` on 127.0.0.1:5432, user postgres, dropped at the end):

- Through the services: the migration (`docctl.db.migrate.upgrade`, which also creates the four document types),
  `system.initialise` (configuration record, instance CA), two people who log in, created by `accounts.create_user`
  with their own password set through `accounts.prepare_password_change`/`change_password` (`qa`, role QA, for the
  pages and the API; `doccontrol`, role document control, who owns the documents and makes the changes measured in
  (1)); one small PDF put in the blob store once and recorded with `storage.record_blob`.
- Inserted directly with bulk Core inserts (SQLite: executemany of dicts in batches of 10,000; PostgreSQL: COPY),
  no audit events, no search-index rows, nothing through the services: --users people (status active, a dummy
  argon2id hash, nobody logs in as them; departments D00, D01, ... of --dept-size people each), one more person
  `newhire` (department NEW, no function) for the grant measured in (1); --docs SOP documents (department BENCH),
  each with one revision 1.0 in state effective (effective_at set, the shared PDF as source and rendition);
  --functions job functions FN00... (department k's people hold FN(k mod functions)), each requiring
  --docs-per-function documents directly (windows of the documents after the first five, neighbouring functions
  overlapping), so a department of 200 sees 100 documents plus the all-staff ones; ALLSTAFF requiring the first
  five documents, held by --allstaff people spread evenly (every second person by default); NEWHIRE40 requiring 40
  documents, held by nobody; and one training assignment for every required person-document pair on the effective
  revisions (10,000 x 100 + 5,000 x 5 = 1,025,000 by default, so the compliance and matrix queries read a realistic
  table): 70 % completed, each with its training_records row (read and understood, no signature row), 20 % open and
  due within two weeks, 10 % open and overdue (overdue_at set as the scheduler would); the assignments on document
  0 (an all-staff document) are all open, so making its version 2.0 effective supersedes 5,000 open assignments.

Measured (the scheduler is off; the measured transactions go through the real services):

(1) Assignments: version 2.0 of document 0 (created with `revisions.create_revision`, put in state approved
    directly: the approval signatures are not what is measured) made effective with `revisions.apply_step(...,
    step=Step.MAKE_EFFECTIVE)` inside `database.unit_of_work()`, which runs `training.on_effective` in the same
    transaction (5,000 assignments bulk-inserted, one audit event each, 5,000 superseded with one audit event each,
    notifications); the whole transaction timed, commit included. Then the same for version 1.0 of a new document
    (`documents.create_document`) that ALLSTAFF was made to require (requirement row inserted directly while it had
    no effective version): 5,000 assignments, no supersession. Then `training.grant_function` of NEWHIRE40 to
    `newhire` (40 documents) in its own unit of work.
    With --profile, version 2.0 of document 1 (also all staff) is then made effective under cProfile (not timed).
(2) The matrix of department --dept (200 people x 105 documents): GET /training/matrix?department=... with qa's
    session cookie (`docctl serve --workers 2`, one per core), one client (30 requests after one warm-up, p50/p95)
    and --clients concurrent clients for --duration seconds (Python httpx on asyncio in this process, competing
    with the server for the 2 cores); GET /api/v1/training/matrix?department=... with a bearer token; and
    `training_reports.matrix(...)` in this process (p50/p95 of 30), each of its SQL statements run again alone
    and timed, and the plan of the slowest.
(3) `training_reports.compliance(session, principal=Principal.operator(), now=...)` in this process on SQLite
    and on PostgreSQL (p50/p95 of 20 after a first call), with the plans of its two aggregate statements
    (EXPLAIN QUERY PLAN, and each run alone; EXPLAIN ANALYZE on PostgreSQL); GET /training/compliance (10
    requests) and /api/v1/training/compliance (5) over HTTP, without warm-up.
(4) GET /training/matrix.csv (the whole matrix, long form): rows/s, bytes, and the server's peak RSS growth
    (VmHWM reset through /proc/PID/clear_refs, and VmRSS polled every 5 ms); the same for one department's export
    to show that the growth does not follow the number of people.
Then (2) and (3) once more on SQLite after ANALYZE (docctl never runs it): do statistics change the plans? With
--pg (the default), the same population in PostgreSQL (after VACUUM ANALYZE), then in this process: (3), the
matrix service of (2), and (1).

A series of timed calls stops early once it has taken --budget seconds (60; at least 3 calls, 2 for compliance, 1
over HTTP for compliance), so a slow query cannot make the run last hours; the output gives n. If a page or route
is missing (404) or fails (5xx), the service it calls is measured in this process instead and the output says
so. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import math
import os
import platform
import pstats
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import Table, create_engine, event, func, insert, make_url, select, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docctl.blobstore.factory import blobstore_from_url  # noqa: E402
from docctl.config import Settings  # noqa: E402
from docctl.db import migrate as migrations  # noqa: E402
from docctl.db.models import (  # noqa: E402
    AuditEvent,
    Document,
    DocumentType,
    JobFunction,
    Notification,
    Revision,
    TrainingAssignment,
    TrainingRecord,
    TrainingRequirement,
    User,
    UserJobFunction,
)
from docctl.db.session import Database  # noqa: E402
from docctl.domain.lifecycle import State, Step  # noqa: E402
from docctl.domain.policy import Role  # noqa: E402
from docctl.services import (  # noqa: E402
    accounts,
    documents,
    revisions,
    storage,
    system,
    training,
    training_reports,
)
from docctl.services.credentials import AccountConfig  # noqa: E402
from docctl.services.principal import Principal  # noqa: E402

SESSION_COOKIE = "docctl_session"
PG_ADMIN_URL = os.environ.get("DOCCTL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "docctl_bench_training"
BATCH = 10_000
ALLSTAFF_DOCS = 5
NEWHIRE_DOCS = 40


# --- small helpers ------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_kib(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int | str) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssPoller:
    """Polls a process's VmRSS in a thread; `.peak` is the largest value seen (KiB)."""

    def __init__(self, pid: int | str, interval: float = 0.005) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, proc_kib(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            time.sleep(self.interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def small_pdf() -> bytes:
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=A4)
    drawing.drawString(72, 760, "Bench procedure: read and understood")
    drawing.showPage()
    drawing.save()
    return out.getvalue()


@dataclasses.dataclass
class Result:
    target: str
    measured: str
    verdict: str  # "met", "MISSED", or "-" (no target)


RESULTS: list[Result] = []


def verdict(value: float, limit: float) -> str:
    return "met" if value < limit else "MISSED"


BUDGET = 60.0  # seconds per measured series; set from --budget


def timed_runs(fn: Callable[[], object], n: int, warm: int = 1, min_runs: int = 3) -> list[float]:
    """n timed calls (after `warm` untimed ones); fewer (at least `min_runs`) once they took BUDGET seconds."""
    for _ in range(warm):
        fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < n and (len(times) < min_runs or time.perf_counter() - started < BUDGET):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


# --- the population -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Population:
    """Ids and layout, built once in Python and inserted into each database (the same data on both)."""

    now: datetime
    users: list[uuid.UUID]
    usernames: list[str]
    departments: list[str]
    dept_of: list[int]
    allstaff_holder: list[bool]
    functions: list[uuid.UUID]
    function_codes: list[str]
    allstaff_id: uuid.UUID
    newhire_function_id: uuid.UUID
    newhire_id: uuid.UUID
    docs: list[uuid.UUID]
    numbers: list[str]
    revs: list[uuid.UUID]
    effective_at: list[datetime]
    function_docs: list[list[int]]

    def function_of(self, user_index: int) -> int:
        return self.dept_of[user_index] % len(self.functions)

    @property
    def pairs(self) -> int:
        per_function = len(self.function_docs[0]) if self.function_docs else 0
        return len(self.users) * per_function + sum(self.allstaff_holder) * ALLSTAFF_DOCS


def build_population(args: argparse.Namespace, now: datetime) -> Population:
    n_users, n_docs, n_functions = args.users, args.docs, args.functions
    n_depts = math.ceil(n_users / args.dept_size)
    width = max(2, len(str(n_depts - 1)))
    departments = [f"D{k:0{width}d}" for k in range(n_depts)]
    others = n_docs - ALLSTAFF_DOCS
    per = min(args.docs_per_function, others)
    stride = max(1, others // max(n_functions, 1))
    function_docs = [[ALLSTAFF_DOCS + (f * stride + j) % others for j in range(per)] for f in range(n_functions)]
    start = now - timedelta(days=400)
    return Population(
        now=now,
        users=[uuid.uuid4() for _ in range(n_users)],
        usernames=[f"p{i:05d}" for i in range(n_users)],
        departments=departments,
        dept_of=[i // args.dept_size for i in range(n_users)],
        allstaff_holder=[(i * args.allstaff) % n_users < args.allstaff for i in range(n_users)],
        functions=[uuid.uuid4() for _ in range(n_functions)],
        function_codes=[f"FN{f:02d}" for f in range(n_functions)],
        allstaff_id=uuid.uuid4(),
        newhire_function_id=uuid.uuid4(),
        newhire_id=uuid.uuid4(),
        docs=[uuid.uuid4() for _ in range(n_docs)],
        numbers=[f"SOP-BENCH-{i:05d}" for i in range(n_docs)],
        revs=[uuid.uuid4() for _ in range(n_docs)],
        effective_at=[start + timedelta(minutes=3 * i) for i in range(n_docs)],
        function_docs=function_docs,
    )


def bulk(session: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert complete rows (every column named): executemany on SQLite, COPY on PostgreSQL."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    assert set(rows[0]) == set(columns), (table.name, set(columns) ^ set(rows[0]))
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    else:
        session.execute(insert(table), rows)


def user_row(uid: uuid.UUID, username: str, department: str, password_hash: str, at: datetime) -> dict[str, Any]:
    return {
        "id": uid, "username": username, "username_key": username, "full_name": f"Person {username[1:]}",
        "title": "", "email": "", "time_zone": "UTC", "department": department, "status": "active",
        "password_hash": password_hash, "password_set_at": at, "password_set_by_admin": True, "failed_attempts": 0,
        "last_login_at": None, "created_at": at, "created_by_id": None, "deactivated_at": None,
        "identity_verified_by_id": None, "identity_verified_at": None, "esig_accepted_at": None,
    }


def function_row(fid: uuid.UUID, code: str, name: str, at: datetime) -> dict[str, Any]:
    return {"id": fid, "code": code, "name": name, "description": "", "active": True, "created_at": at,
            "created_by_id": None, "updated_at": at}


def requirement_row(function_id: uuid.UUID, document_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "function_id": function_id, "document_id": document_id, "type_id": None,
            "department": "", "created_at": at, "created_by_id": None, "reason": "bench", "removed_at": None,
            "removed_by_id": None, "remove_reason": None}


def grant_row(user_id: uuid.UUID, function_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "user_id": user_id, "function_id": function_id, "granted_at": at,
            "granted_by_id": None, "grant_reason": "bench", "revoked_at": None, "revoked_by_id": None,
            "revoke_reason": None}


def assignment_batches(pop: Population, seed: int = 5) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Assignments (and the records of completed ones) for every required pair, in batches of about BATCH."""
    rng = random.Random(seed)
    now, day = pop.now, timedelta(days=1)
    assignments: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    allstaff = [(d, pop.allstaff_id) for d in range(ALLSTAFF_DOCS)]
    for ui, uid in enumerate(pop.users):
        f = pop.function_of(ui)
        pairs = [(d, pop.functions[f]) for d in pop.function_docs[f]]
        if pop.allstaff_holder[ui]:
            pairs += allstaff
        for di, fid in pairs:
            x = 0.8 if di == 0 else rng.random()  # document 0: open for everyone (superseded in (1))
            aid = uuid.uuid4()
            row = {"id": aid, "user_id": uid, "revision_id": pop.revs[di], "document_id": pop.docs[di],
                   "function_id": fid, "state": "open", "assigned_at": None, "due_at": None, "opened_at": None,
                   "reminded_at": None, "overdue_at": None, "completed_at": None, "record_id": None,
                   "closed_at": None, "close_reason": None, "superseded_by_id": None}
            if x < 0.7:
                assigned = pop.effective_at[di]
                done = assigned + rng.uniform(0.1, 13.0) * day
                rid = uuid.uuid4()
                row.update(state="completed", assigned_at=assigned, due_at=assigned + 14 * day, opened_at=done,
                           completed_at=done, record_id=rid)
                records.append({
                    "id": rid, "assignment_id": aid, "user_id": uid, "revision_id": pop.revs[di],
                    "method": "read_and_understood", "result": "completed", "signature_id": None,
                    "trainer_id": None, "performed_on": None, "performed_at": done, "recorded_at": done,
                    "carried_from_id": None, "note": "", "recorded_by_id": None, "version": "1.0"})
            elif x < 0.9:
                due = now + rng.uniform(0.5, 13.5) * day
                row.update(assigned_at=due - 14 * day, due_at=due)
            else:
                due = now - rng.uniform(1.0, 120.0) * day
                row.update(assigned_at=due - 14 * day, due_at=due, reminded_at=due - 3 * day,
                           overdue_at=due + timedelta(seconds=30))
            assignments.append(row)
        if len(assignments) >= BATCH:
            yield assignments, records
            assignments, records = [], []
    if assignments:
        yield assignments, records


@dataclasses.dataclass
class Seeded:
    doccontrol: str  # username
    counts: dict[str, int]
    seconds: dict[str, float]


def make_login_user(database: Database, config: AccountConfig, username: str, name: str, role: Role,
                    change_password: bool) -> str:
    """A person created through the services; with their own password set (as at a first login) if asked."""
    at = datetime.now(UTC)
    with database.unit_of_work() as s:
        created = accounts.create_user(s, config, principal=Principal.operator(), username=username,
                                       full_name=name, roles=[role], at=at)
    assert created.temporary_password is not None
    if not change_password:
        return created.temporary_password
    password = f"Bench-{secrets.token_hex(8)}-Pw"
    with database.read() as s:
        change = accounts.prepare_password_change(s, config, user_id=created.user.id,
                                                  current_password=created.temporary_password,
                                                  new_password=password, at=at)
    with database.unit_of_work() as s:
        accounts.change_password(s, config, change=change, at=at)
    return password


def seed(database: Database, settings: Settings, pop: Population, pdf: bytes, *,
         login: bool) -> tuple[Seeded, dict[str, str]]:
    """Migrate, initialise, the two service-made people, the blob, then the bulk population."""
    config = AccountConfig.from_settings(settings)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    migrations.upgrade(database.engine)
    with database.unit_of_work() as s:
        system.initialise(s, settings, at=datetime.now(UTC))
    passwords = {
        "qa": make_login_user(database, config, "qa", "Quinn Adams", Role.QA, login),
        "doccontrol": make_login_user(database, config, "doccontrol", "Dana Control", Role.DOCUMENT_CONTROL, login),
    }
    store = blobstore_from_url(settings.resolved_blobstore_url)
    ref = store.put(io.BytesIO(pdf))
    with database.unit_of_work() as s:
        storage.record_blob(s, ref, media_type="application/pdf", backend=store.name, at=datetime.now(UTC))
        owner = accounts.find_user(s, "doccontrol")
        assert owner is not None
        owner_id = owner.id
        sop = s.scalars(select(DocumentType.id).where(DocumentType.code == "SOP")).one()
    dummy_hash = config.hasher.hash(secrets.token_urlsafe(12))
    seconds["migrate + services"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    at0 = pop.now - timedelta(days=500)
    with database.unit_of_work() as s:
        for start in range(0, len(pop.users), BATCH):
            bulk(s, User.__table__, [user_row(pop.users[i], pop.usernames[i], pop.departments[pop.dept_of[i]],
                                              dummy_hash, at0) for i in range(start, min(len(pop.users),
                                                                                         start + BATCH))])
        bulk(s, User.__table__, [user_row(pop.newhire_id, "newhire", "NEW", dummy_hash, at0)])
        bulk(s, Document.__table__, [{
            "id": d, "number": pop.numbers[i], "title": f"Bench procedure {i}", "type_id": sop, "department": "BENCH",
            "owner_id": owner_id, "external": False, "external_source": "", "external_version": "",
            "external_issued_on": None, "next_review_on": None, "created_at": at0, "created_by_id": owner_id,
            "updated_at": at0} for i, d in enumerate(pop.docs)])
        bulk(s, Revision.__table__, [{
            "id": r, "document_id": pop.docs[i], "major": 1, "minor": 0, "state": State.EFFECTIVE.value,
            "change_kind": "major", "change_summary": "First issue", "reason": "", "source_sha256": ref.sha256,
            "source_filename": "bench.pdf", "source_media_type": "application/pdf", "source_size": ref.size,
            "rendition_sha256": ref.sha256, "rendition_kind": "pdf", "rendition_note": "", "page_count": 1,
            "text": "", "training_required": True, "train_before_effective": False, "created_at": at0,
            "created_by_id": owner_id, "route_id": None, "round": 1, "planned_effective_at": None,
            "submitted_at": pop.effective_at[i] - timedelta(days=2), "approved_at": pop.effective_at[i],
            "effective_at": pop.effective_at[i], "superseded_at": None, "obsolete_at": None, "withdrawn_at": None}
            for i, r in enumerate(pop.revs)])
        bulk(s, JobFunction.__table__, [
            *(function_row(fid, pop.function_codes[f], f"Job function {f}", at0)
              for f, fid in enumerate(pop.functions)),
            function_row(pop.allstaff_id, "ALLSTAFF", "All staff", at0),
            function_row(pop.newhire_function_id, "NEWHIRE40", "New hire induction", at0)])
        bulk(s, TrainingRequirement.__table__, [
            *(requirement_row(fid, pop.docs[d], at0) for f, fid in enumerate(pop.functions)
              for d in pop.function_docs[f]),
            *(requirement_row(pop.allstaff_id, pop.docs[d], at0) for d in range(ALLSTAFF_DOCS)),
            *(requirement_row(pop.newhire_function_id, pop.docs[d], at0)
              for d in range(ALLSTAFF_DOCS, ALLSTAFF_DOCS + NEWHIRE_DOCS))])
        grants = [grant_row(uid, pop.functions[pop.function_of(i)], at0) for i, uid in enumerate(pop.users)]
        grants += [grant_row(uid, pop.allstaff_id, at0) for i, uid in enumerate(pop.users) if pop.allstaff_holder[i]]
        for start in range(0, len(grants), BATCH):
            bulk(s, UserJobFunction.__table__, grants[start:start + BATCH])
    seconds["people, documents, functions, grants"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_assignments = n_records = 0
    batches = assignment_batches(pop)
    done = False
    while not done:
        with database.unit_of_work() as s:  # about 100,000 assignments per transaction
            for _ in range(10):
                got = next(batches, None)
                if got is None:
                    done = True
                    break
                assignments, records = got
                bulk(s, TrainingAssignment.__table__, assignments)
                bulk(s, TrainingRecord.__table__, records)
                n_assignments += len(assignments)
                n_records += len(records)
        print(f"    {n_assignments:,} assignments, {n_records:,} records ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    seconds["assignments + records"] = time.perf_counter() - t0
    if database.dialect == "postgresql":
        t0 = time.perf_counter()
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        seconds["VACUUM ANALYZE"] = time.perf_counter() - t0
    counts = {"users": len(pop.users) + 3, "documents": len(pop.docs), "functions": len(pop.functions) + 2,
              "grants": len(grants), "assignments": n_assignments, "records": n_records}
    return Seeded("doccontrol", counts, seconds), passwords


def print_seeded(label: str, seeded: Seeded) -> None:
    c = seeded.counts
    print(f"seeded {label}: {c['users']:,} users, {c['documents']:,} effective documents, {c['functions']} functions, "
          f"{c['grants']:,} grants, {c['assignments']:,} assignments, {c['records']:,} training records")
    print("    " + "; ".join(f"{k} {v:.1f} s" for k, v in seeded.seconds.items())
          + f"; total {sum(seeded.seconds.values()):.0f} s")


# --- the server ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def start_server(env: dict[str, str], port: int, url: str, log_path: Path, workers: int) -> Server:
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "docctl", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"docctl serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return Server(process, url, log_path)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"docctl serve did not come up:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=20)


def serving_pids(server: Server) -> list[int]:
    """The process answering requests: the server itself, or its worker processes with --workers > 1."""
    try:
        children = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    except OSError:
        children = []
    return children or [server.pid]


def login_session(url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=url, timeout=120) as client:
        page = client.get("/login")
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        csrf = page.text[start:page.text.index('"', start)]
        response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf,
                                               "next": "/"})
        token = response.cookies.get(SESSION_COOKIE)
        if response.status_code != 303 or not token:
            raise SystemExit(f"login of {username} failed: {response.status_code} {response.text[:300]}")
        return token


def api_token(url: str, username: str, password: str) -> str:
    response = httpx.post(f"{url}/api/v1/auth/token", json={"username": username, "password": password},
                          timeout=120)
    if response.status_code != 201:
        raise SystemExit(f"token for {username} failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["token"])


def sequential(client: httpx.Client, path: str, n: int, *, warm: bool = True, min_runs: int = 3
               ) -> tuple[list[float], int, int]:
    """n requests one after another (after one warm-up; fewer, at least `min_runs`, once they took BUDGET
    seconds): latencies, last status, last size. Stops at a non-200."""
    times: list[float] = []
    if warm:
        response = client.get(path)
        if response.status_code != 200:
            return [], response.status_code, len(response.content)
    started = time.perf_counter()
    while len(times) < n and (len(times) < min_runs or time.perf_counter() - started < BUDGET):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            return times, response.status_code, len(response.content)
    return times, 200, len(response.content)


def concurrent(url: str, headers: dict[str, str], clients: int, duration: float) -> dict[str, float]:
    async def run() -> dict[str, float]:
        latencies: list[float] = []
        bad = errors = 0
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as client:
            stop_at = time.perf_counter() + duration

            async def worker() -> None:
                nonlocal bad, errors
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        response = await client.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    bad += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            seconds = time.perf_counter() - started
        return {"requests": len(latencies), "seconds": seconds, "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95), "max": max(latencies, default=math.nan), "non200": bad,
                "errors": errors}

    return asyncio.run(run())


# --- (2) matrix, (3) compliance, (4) CSV: over HTTP -----------------------------------------------------------------


@dataclasses.dataclass
class HttpOutcome:
    matrix_page: bool = False
    matrix_api: bool = False
    compliance_page: bool = False
    csv: bool = False


def bench_http(server: Server, passwords: dict[str, str], dept: str, args: argparse.Namespace,
               people: int, shape: str) -> HttpOutcome:
    out = HttpOutcome()
    session = login_session(server.url, "qa", passwords["qa"])
    token = api_token(server.url, "qa", passwords["qa"])
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    bearer = {"Authorization": f"Bearer {token}"}
    print(f"(2) matrix of department {dept} over HTTP as qa (role QA), server pid {server.pid}; {load()}")
    with httpx.Client(base_url=server.url, headers=cookie, timeout=300) as client:
        path = f"/training/matrix?department={dept}"
        times, status, size = sequential(client, path, args.requests)
        if status != 200:
            print(f"    GET {path}: {status} -> the page is not usable now; measured in-process below instead")
        else:
            out.matrix_page = True
            p50, p95 = percentile(times, 50), percentile(times, 95)
            print(f"    GET {path}  ({size / 1024:.0f} KiB)")
            print(f"      1 client, {len(times)} requests:  p50 {ms(p50)}  p95 {ms(p95)}  max {ms(max(times))}")
            RESULTS.append(Result(f"(2) matrix page {shape}, 1 client, p95 < 300 ms", f"p50 {ms(p50)}, p95 {ms(p95)}",
                                  verdict(p95, 0.3)))
            pids = serving_pids(server)
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            result = concurrent(server.url + path, cookie, args.clients, args.duration)
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
            rate = result["requests"] / result["seconds"]
            print(f"      {args.clients} clients, {result['seconds']:.0f} s: p50 {ms(result['p50'])}  "
                  f"p95 {ms(result['p95'])}  max {ms(result['max'])}  {rate:5.1f} req/s; non-200 {result['non200']}, "
                  f"errors {result['errors']}; server CPU {cpu / result['seconds']:.2f} cores (load from Python "
                  f"httpx in this process)")
            RESULTS.append(Result(f"(2) matrix page, {args.clients} concurrent clients, p95 < 300 ms",
                                  f"p50 {ms(result['p50'])}, p95 {ms(result['p95'])}, {rate:.1f} req/s",
                                  verdict(result["p95"], 0.3)))
    with httpx.Client(base_url=server.url, headers=bearer, timeout=300) as client:
        path = f"/api/v1/training/matrix?department={dept}"
        times, status, size = sequential(client, path, args.requests)
        if status != 200:
            print(f"    GET {path}: {status} (not measured)")
        else:
            out.matrix_api = True
            p50, p95 = percentile(times, 50), percentile(times, 95)
            print(f"    GET {path}  (bearer token, {size / 1024:.0f} KiB JSON)")
            print(f"      1 client, {len(times)} requests:  p50 {ms(p50)}  p95 {ms(p95)}  max {ms(max(times))}")
            RESULTS.append(Result("(2) matrix API (JSON), 1 client, p95 < 300 ms", f"p50 {ms(p50)}, p95 {ms(p95)}",
                                  verdict(p95, 0.3)))

    print(f"(3) compliance over HTTP (no warm-up; at least one request, more while under {BUDGET:.0f} s); {load()}")
    for label, path, headers in (("page", "/training/compliance", cookie),
                                 ("API", "/api/v1/training/compliance", bearer)):
        with httpx.Client(base_url=server.url, headers=headers, timeout=900) as client:
            runs = args.http_compliance_runs if label == "page" else max(1, args.http_compliance_runs // 2)
            times, status, size = sequential(client, path, runs, warm=False, min_runs=1)
            if status != 200:
                print(f"    GET {path}: {status} (not measured)")
                continue
            out.compliance_page = True
            p50, p95 = percentile(times, 50), percentile(times, 95)
            print(f"    {label} GET {path}  ({size / 1024:.0f} KiB), {len(times)} requests: p50 {ms(p50)}  "
                  f"p95 {ms(p95)}")
            RESULTS.append(Result(f"(3) compliance {label} over HTTP (SQLite), p95 < 200 ms",
                                  f"p50 {ms(p50)}, p95 {ms(p95)} (n={len(times)})", verdict(p95, 0.2)))

    print(f"(4) CSV export over HTTP; {load()}")
    for label, path in ((f"department {dept}", f"/training/matrix.csv?department={dept}"),
                        (f"whole matrix ({people:,} people)", "/training/matrix.csv")):
        measured = csv_over_http(server, cookie, path)
        if measured is None:
            print(f"    GET {path}: not available; measured in-process below instead")
            break
        seconds, size, rows, first, growth, before, status = measured
        print(f"    GET {path}  ({label}): {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.1f} s = "
              f"{rows / seconds:,.0f} rows/s ({size / 1e6 / seconds:.1f} MB/s), first byte after {ms(first)}; "
              f"server RSS before {before / 1024:.0f} MiB, peak growth {growth / 1024:.1f} MiB ({status})")
        if path == "/training/matrix.csv":
            out.csv = True
            RESULTS.append(Result("(4) CSV of the whole matrix: flat server RSS (<= 100 MiB growth)",
                                  f"{rows:,} rows at {rows / seconds:,.0f} rows/s, {size / 1e6:.0f} MB; RSS growth "
                                  f"{growth / 1024:.1f} MiB", "met" if growth < 100 * 1024 else "MISSED"))
    return out


def csv_over_http(server: Server, headers: dict[str, str], path: str
                  ) -> tuple[float, int, int, float, int, int, str] | None:
    pids = serving_pids(server)
    before = {pid: proc_kib(pid, "VmRSS") for pid in pids}
    hwm_reset = all(reset_peak(pid) for pid in pids)
    size = lines = 0
    first = math.nan
    pollers = [RssPoller(pid) for pid in pids]
    for p in pollers:
        p.__enter__()
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            t0 = time.perf_counter()
            with client.stream("GET", path) as response:
                if response.status_code != 200:
                    response.read()
                    print(f"    GET {path}: {response.status_code} {response.text[:200]}")
                    return None
                for chunk in response.iter_bytes():
                    if math.isnan(first):
                        first = time.perf_counter() - t0
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            seconds = time.perf_counter() - t0
    finally:
        for p in pollers:
            p.__exit__()
    growth = 0
    for pid, poller in zip(pids, pollers, strict=True):
        peak = max(poller.peak, proc_kib(pid, "VmHWM") if hwm_reset else 0)
        growth = max(growth, peak - before[pid])
    status = ("VmHWM reset" if hwm_reset else "VmHWM NOT reset") + f", polled every 5 ms, {len(pids)} process(es)"
    return seconds, size, lines - 1, first, growth, sum(before.values()), status


# --- in process -----------------------------------------------------------------------------------------------------


class StatementTimer:
    """Times each SQL statement run on an engine while enabled (statement, parameters, seconds)."""

    def __init__(self, database: Database) -> None:
        self.engine = database.engine
        self.on = False
        self.statements: list[tuple[float, str, Any]] = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn, _cursor, _statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, _cursor, statement, params, _context, _many):  # type: ignore[no-untyped-def]
        if self.on:
            self.statements.append((time.perf_counter() - conn.info["bench_t0"], statement, params))

    def __enter__(self) -> StatementTimer:
        self.statements.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def explain(database: Database, statement: str, params: Any, lines: int = 40) -> list[str]:
    with database.engine.connect() as conn:
        if database.dialect == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            return [r[0] for r in rows][:lines]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        depth: dict[int, int] = {0: -1}
        out = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            out.append("  " * depth[node] + str(detail))
        return out[:lines]


def bench_compliance(database: Database, label: str, runs: int, now: datetime) -> list[tuple[str, Any]]:
    """p50/p95 of `runs` calls (at least 2; the first call apart), its SQL and the plan of its aggregates.
    Returns the aggregate statements (SQL, parameters) of the first call."""
    def call() -> object:
        with database.read() as s:
            return training_reports.compliance(s, principal=Principal.operator(), now=now)

    timer = StatementTimer(database)
    try:
        with timer:
            t0 = time.perf_counter()
            by_function, by_department, overall = call()  # type: ignore[misc]
            first = time.perf_counter() - t0
    finally:
        timer.remove()
    times = timed_runs(call, runs, warm=0, min_runs=2)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"    training_reports.compliance in this process ({label}), {len(times)} runs: p50 {ms(p50)}  "
          f"p95 {ms(p95)}  (first call {ms(first)}); {len(by_function)} functions, {len(by_department)} departments, "
          f"{overall.required:,} required pairs, {overall.complete:,} complete, {overall.overdue:,} overdue")
    RESULTS.append(Result(f"(3) compliance in-process, {label}, p95 < 200 ms",
                          f"p50 {ms(p50)}, p95 {ms(p95)} (n={len(times)})", verdict(p95, 0.2)))
    aggregates = [(st, params) for _t, st, params in timer.statements if "AS required" in st]
    print(f"      {len(timer.statements)} SQL statements; the two aggregates (per function, per department) are the "
          "cost" + ("" if database.dialect == "postgresql" else
                    " (SQLite evaluates a query while its rows are fetched: timed below by running each alone)"))
    if database.dialect == "postgresql":
        for seconds, st, _params in timer.statements:
            if "AS required" in st:
                print(f"        {ms(seconds)}  {' '.join(st.split())[:100]}")
    else:
        with database.engine.connect() as conn:
            for what, (st, params) in zip(("per function", "per department"), aggregates, strict=False):
                t0 = time.perf_counter()
                rows = conn.exec_driver_sql(st, params).fetchall()
                print(f"        {ms(time.perf_counter() - t0)}  the {what} aggregate run alone (raw SQL, {len(rows)} "
                      "rows fetched)")
    print_plans(database, aggregates)
    bench_summary(database, label, now)
    return aggregates


def bench_summary(database: Database, label: str, now: datetime) -> None:
    """The summary as the page and API serve it (`training_reports.summary`): the kept snapshot, valid until a
    training-related audit event follows it; recomputed by the scheduler (`system.refresh_reports`) otherwise."""
    operator = Principal.operator()
    t0 = time.perf_counter()
    refreshed = system.refresh_reports(database, at=now)
    refresh = time.perf_counter() - t0

    def call() -> object:
        return training_reports.summary(database.read, database.unit_of_work, principal=operator, now=now)

    times = timed_runs(call, 30, warm=1, min_runs=3)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"    the served summary ({label}): the scheduler's recomputation {ms(refresh)} "
          f"({'recomputed' if refreshed else 'already valid'}); then training_reports.summary, {len(times)} runs: "
          f"p50 {ms(p50)}  p95 {ms(p95)}")
    RESULTS.append(Result(f"(3) compliance summary as served (snapshot), {label}, p95 < 200 ms",
                          f"p50 {ms(p50)}, p95 {ms(p95)} (n={len(times)}); recomputed in the background in "
                          f"{ms(refresh)}", verdict(p95, 0.2)))


def print_plans(database: Database, aggregates: list[tuple[str, Any]]) -> None:
    for n, (st, params) in enumerate(aggregates):
        if database.dialect == "postgresql" and n == 0:
            continue  # EXPLAIN ANALYZE runs the query: the per department one (the slower) is enough
        what = "per function" if n == 0 else "per department"
        print(f"      plan of the {what} aggregate" + (" (EXPLAIN ANALYZE):" if database.dialect == "postgresql"
                                                      else ":"))
        for line in explain(database, st, params, lines=60 if database.dialect == "postgresql" else 40):
            print("        " + line[:150])


def bench_matrix_service(database: Database, dept: str, principal_name: str | None, runs: int, now: datetime,
                         label: str, plans: bool = True) -> None:
    with database.read() as s:
        user = accounts.find_user(s, principal_name) if principal_name else None
        principal = Principal.of(user) if user is not None else Principal.operator()

    def call() -> training_reports.Matrix:
        with database.read() as s:
            return training_reports.matrix(s, principal=principal, now=now, department=dept, limit=200)

    m = call()
    times = timed_runs(call, runs, warm=0)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    counts = m.counts()
    print(f"    training_reports.matrix(department={dept}) in this process ({label}), {len(times)} runs: "
          f"p50 {ms(p50)}  p95 {ms(p95)}; {len(m.rows)} people x {len(m.columns)} documents "
          f"({', '.join(f'{k.value} {v:,}' for k, v in counts.items())})")
    RESULTS.append(Result(f"(2) matrix service in-process, {label}, p95 < 300 ms", f"p50 {ms(p50)}, p95 {ms(p95)}",
                          verdict(p95, 0.3)))
    if plans:
        print_sql(database, call)


def print_sql(database: Database, call: Callable[[], object]) -> None:
    """Each SQL statement of one call, then run again alone (raw, rows fetched: SQLite evaluates a query while its
    rows are fetched) and timed, and the plan of the slowest."""
    timer = StatementTimer(database)
    try:
        with timer:
            t0 = time.perf_counter()
            call()
            total = time.perf_counter() - t0
    finally:
        timer.remove()
    raw = []
    with database.engine.connect() as conn:
        for _seconds, statement, params in timer.statements:
            if statement.strip() == "BEGIN":
                continue
            t1 = time.perf_counter()
            rows = len(conn.exec_driver_sql(statement, params).fetchall())
            raw.append((time.perf_counter() - t1, rows, statement, params))
    sql = sum(x[0] for x in raw)
    print(f"      its SQL: one call of {ms(total)}; its {len(raw)} statements run alone, raw rows: {ms(sql)} "
          f"(the rest of the call is Python: ORM rows, cells):")
    for seconds, rows, statement, _params in raw:
        print(f"        {ms(seconds)} {rows:7,} rows  {' '.join(statement.split())[:90]}")
    slowest = max(raw, key=lambda x: x[0])[2:]
    print("      plan of the slowest:" + (" (EXPLAIN ANALYZE)" if database.dialect == "postgresql" else ""))
    for line in explain(database, slowest[0], slowest[1]):
        print("        " + line[:150])


def bench_csv_inprocess(database: Database, now: datetime, department: str | None, label: str) -> None:
    before = proc_kib("self", "VmRSS")
    hwm_reset = reset_peak("self")
    size = lines = 0
    with RssPoller(os.getpid()) as poller:
        t0 = time.perf_counter()
        for chunk in training_reports.iter_matrix_csv(database.read, now=now, department=department):
            size += len(chunk.encode())
            lines += chunk.count("\n")
        seconds = time.perf_counter() - t0
    peak = max(poller.peak, proc_kib("self", "VmHWM") if hwm_reset else 0)
    rows = lines - 1
    growth = peak - before
    print(f"    iter_matrix_csv in this process ({label}): {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.1f} s = "
          f"{rows / seconds:,.0f} rows/s; this process's RSS growth {growth / 1024:.1f} MiB")
    if department is None:
        RESULTS.append(Result("(4) CSV of the whole matrix in-process: flat RSS (<= 100 MiB growth)",
                              f"{rows:,} rows at {rows / seconds:,.0f} rows/s; RSS growth {growth / 1024:.1f} MiB",
                              "met" if growth < 100 * 1024 else "MISSED"))


def audit_size(session: Any) -> int:
    return int(session.scalars(select(func.coalesce(func.max(AuditEvent.seq), 0))).one())


def count_rows(session: Any, model: Any, *where: Any) -> int:
    return int(session.scalars(select(func.count()).select_from(model).where(*where)).one())


def make_effective(database: Database, principal: Principal, number: str, revision_id: uuid.UUID, previous: uuid.UUID
                   | None, label: str, profile: bool) -> float:
    """Time one MAKE_EFFECTIVE transaction (commit included), and count what it wrote."""
    with database.read() as s:
        audit0, notes0 = audit_size(s), count_rows(s, Notification)
    timer = StatementTimer(database)
    at = datetime.now(UTC)
    try:
        with timer:
            t0 = time.perf_counter()
            with database.unit_of_work() as s:
                d = documents.get_document(s, number, for_update=True)
                r = s.get(Revision, revision_id)
                assert r is not None
                revisions.apply_step(s, actor=principal.actor, document=d, revision=r, step=Step.MAKE_EFFECTIVE,
                                     at=at)
                t_commit = time.perf_counter()
            seconds = time.perf_counter() - t0
            commit = time.perf_counter() - t_commit
    finally:
        timer.remove()
    with database.read() as s:
        created = count_rows(s, TrainingAssignment, TrainingAssignment.revision_id == revision_id)
        superseded = count_rows(s, TrainingAssignment, TrainingAssignment.revision_id == previous,
                                TrainingAssignment.state == "superseded") if previous else 0
        audit = audit_size(s) - audit0
        notes = count_rows(s, Notification) - notes0
    sql = sum(x[0] for x in timer.statements)
    print(f"    {label}: {seconds:6.2f} s (commit {commit:.2f} s) = {created / seconds:,.0f} assignments/s; "
          f"{created:,} assignments created, {superseded:,} superseded, {audit:,} audit events appended, "
          f"{notes:,} notifications")
    print(f"      {len(timer.statements):,} SQL statements, {sql:.2f} s in the driver; the rest "
          f"({seconds - sql:.2f} s) is Python (ORM, audit hashing, JSON)")
    if profile:
        heavy: dict[str, list[float]] = {}
        for t, statement, _ in timer.statements:
            heavy.setdefault(" ".join(statement.split())[:90], []).append(t)
        for key, ts in sorted(heavy.items(), key=lambda kv: -sum(kv[1]))[:6]:
            print(f"        {sum(ts):6.2f} s  x{len(ts):<6,} {key}")
    return seconds


def prepare_revision(database: Database, principal: Principal, store: Any, settings: Settings, number: str,
                     pdf: bytes) -> uuid.UUID:
    """A new revision of the document through `create_revision`, then put in state approved directly."""
    prepared = revisions.prepare_upload(store, stream=io.BytesIO(pdf), filename="bench-v2.pdf",
                                        max_bytes=settings.max_upload_bytes)
    at = datetime.now(UTC)
    with database.unit_of_work() as s:
        r = revisions.create_revision(s, principal=principal, number=number, upload=prepared, change="major",
                                      change_summary="Bench revision", at=at)
        s.execute(update(Revision).where(Revision.id == r.id).values(
            state=State.APPROVED.value, submitted_at=at, approved_at=at, round=1))
        return r.id


def bench_assignments(database: Database, settings: Settings, pop: Population, pdf: bytes, label: str,
                      profile: bool, record: bool) -> None:
    store = blobstore_from_url(settings.resolved_blobstore_url)
    with database.read() as s:
        dc = accounts.find_user(s, "doccontrol")
        assert dc is not None
        principal = Principal.of(dc)
    holders = sum(pop.allstaff_holder)
    print(f"(1) assignments on {label}; {load()}")
    # version 2.0 of document 0: 5,000 holders of ALLSTAFF, whose open assignments on 1.0 are superseded
    v2 = prepare_revision(database, principal, store, settings, pop.numbers[0], pdf)
    seconds = make_effective(database, principal, pop.numbers[0], v2, pop.revs[0],
                             f"{pop.numbers[0]} v2.0 effective for ALLSTAFF ({holders:,} people, supersedes v1.0)",
                             profile)
    if record:
        RESULTS.append(Result(f"(1) v2 effective for {holders:,} people (+supersession), {label}, < 5 s",
                              f"{seconds:.2f} s = {holders / seconds:,.0f} assignments/s", verdict(seconds, 5.0)))
    # a first version: a new document ALLSTAFF requires from before it had an effective version
    with database.unit_of_work() as s:
        d = documents.create_document(s, principal=principal, type_code="SOP", title="Bench new procedure",
                                      department="NEWDOC", at=datetime.now(UTC))
        number, document_id = d.number, d.id
        bulk(s, TrainingRequirement.__table__, [requirement_row(pop.allstaff_id, document_id, datetime.now(UTC))])
    v1 = prepare_revision(database, principal, store, settings, number, pdf)
    seconds = make_effective(database, principal, number, v1, None,
                             f"{number} v1.0 (first version) effective for ALLSTAFF ({holders:,} people)", profile)
    if record:
        RESULTS.append(Result(f"(1) first version effective for {holders:,} people, {label}, < 5 s",
                              f"{seconds:.2f} s = {holders / seconds:,.0f} assignments/s", verdict(seconds, 5.0)))
    # a person gains a function requiring 40 documents
    with database.read() as s:
        audit0 = audit_size(s)
    t0 = time.perf_counter()
    with database.unit_of_work() as s:
        training.grant_function(s, principal=principal, username="newhire", code="NEWHIRE40", reason="bench",
                                at=datetime.now(UTC))
    seconds = time.perf_counter() - t0
    with database.read() as s:
        made = count_rows(s, TrainingAssignment, TrainingAssignment.user_id == pop.newhire_id)
        audit = audit_size(s) - audit0
    print(f"    training.grant_function NEWHIRE40 to newhire: {seconds * 1000:.0f} ms for {made} assignments "
          f"({audit} audit events)")
    if record:
        RESULTS.append(Result(f"(1) grant_function, {NEWHIRE_DOCS} documents, {label} (no target)",
                              f"{seconds * 1000:.0f} ms, {made} assignments", "-"))
    if profile and len(pop.docs) > 1:
        # where the time goes: version 2.0 of document 1 (also all-staff) under cProfile, not counted above
        v2 = prepare_revision(database, principal, store, settings, pop.numbers[1], pdf)
        profiler = cProfile.Profile()
        at = datetime.now(UTC)
        t0 = time.perf_counter()
        profiler.enable()
        with database.unit_of_work() as s:
            d = documents.get_document(s, pop.numbers[1], for_update=True)
            r = s.get(Revision, v2)
            assert r is not None
            revisions.apply_step(s, actor=principal.actor, document=d, revision=r, step=Step.MAKE_EFFECTIVE, at=at)
        profiler.disable()
        print(f"    --- cProfile of {pop.numbers[1]} v2.0 effective for {holders:,} people (with supersession; "
              f"{time.perf_counter() - t0:.2f} s under the profiler), by own time ---")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
        for line in out.getvalue().splitlines():
            if line.strip() and not line.startswith(("   Ordered", "   List reduced")):
                print("    " + line[:150])
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
            r"training\.py|log\.py|revisions\.py|session\.py:\d+\(flush\)|session\.py:\d+\(commit\)")
        print("    --- by cumulative time: docctl functions, flush and commit ---")
        for line in out.getvalue().splitlines():
            if line.strip() and not line.startswith(("   Ordered", "   List reduced")):
                print("    " + line[:150])


# --- PostgreSQL ---------------------------------------------------------------------------------------------------


def pg_admin() -> Any:
    return create_engine(make_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


def pg_drop(admin: Any) -> None:
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                     {"d": PG_DATABASE})
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE}"))


def bench_pg(settings: Settings, pop: Population, pdf: bytes, args: argparse.Namespace, dept: str) -> None:
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            pg_settings = {k: conn.execute(text(f"SHOW {k}")).scalar() for k in (
                "shared_buffers", "work_mem", "max_parallel_workers_per_gather", "synchronous_commit")}
        pg_drop(admin)
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
        url = make_url(PG_ADMIN_URL).set(database=PG_DATABASE).render_as_string(hide_password=False)
        database = Database.from_url(url)
        try:
            print(f"\n[PostgreSQL {version}] database {PG_DATABASE} on {make_url(PG_ADMIN_URL).host} (settings read, "
                  f"not changed: {', '.join(f'{k}={v}' for k, v in pg_settings.items())}); {load()}")
            seeded, _ = seed(database, settings, pop, pdf, login=False)
            print_seeded("PostgreSQL", seeded)
            now = datetime.now(UTC)
            print(f"(3) compliance on PostgreSQL; {load()}")
            bench_compliance(database, "PostgreSQL", args.compliance_runs, now)
            print(f"(2) matrix service on PostgreSQL; {load()}")
            bench_matrix_service(database, dept, "qa", args.requests, now, "PostgreSQL")
            bench_assignments(database, settings, pop, pdf, "PostgreSQL", args.profile, record=True)
        finally:
            database.dispose()
    finally:
        pg_drop(admin)
        admin.dispose()


# --- main ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=2_000)
    parser.add_argument("--functions", type=int, default=50)
    parser.add_argument("--dept-size", type=int, default=200)
    parser.add_argument("--docs-per-function", type=int, default=100)
    parser.add_argument("--allstaff", type=int, default=5_000, help="holders of the all-staff function")
    parser.add_argument("--dept", default="", help="department whose matrix is measured (default: the middle one)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of concurrent load on the matrix page")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=30, help="sequential requests / service calls (matrix)")
    parser.add_argument("--compliance-runs", type=int, default=20)
    parser.add_argument("--http-compliance-runs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="docctl serve --workers (one per core)")
    parser.add_argument("--skip-http", action="store_true", help="no server: everything in this process")
    parser.add_argument("--pg", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also PostgreSQL ({PG_ADMIN_URL}, env DOCCTL_TEST_PG_URL)")
    parser.add_argument("--profile", action="store_true", help="the heaviest SQL statements of (1)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds at most per series of timed calls (at least 3 calls are made)")
    args = parser.parse_args()
    global BUDGET  # noqa: PLW0603
    BUDGET = args.budget
    args.allstaff = min(args.allstaff, args.users)

    print(f"docctl training bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}; {load()}")
    now = datetime.now(UTC)
    pop = build_population(args, now)
    dept = args.dept or pop.departments[len(pop.departments) // 2]
    in_dept = [i for i in range(len(pop.users)) if pop.departments[pop.dept_of[i]] == dept]
    columns = len(pop.function_docs[0]) + (ALLSTAFF_DOCS if any(pop.allstaff_holder[i] for i in in_dept) else 0)
    shape = f"{len(in_dept)}x{columns}"
    pdf = small_pdf()
    print(f"population: {len(pop.users):,} people in {len(pop.departments)} departments of {args.dept_size}, "
          f"{len(pop.docs):,} documents, {len(pop.functions)} functions x {len(pop.function_docs[0])} documents, "
          f"ALLSTAFF ({sum(pop.allstaff_holder):,} holders) x {ALLSTAFF_DOCS} documents: {pop.pairs:,} required "
          f"pairs; measured department {dept}")

    work = Path(tempfile.mkdtemp(prefix="docctl-training-bench-"))
    try:
        data_dir = work / "data"
        data_dir.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}
        env.update(DOCCTL_DATA_DIR=str(data_dir), DOCCTL_BASE_URL=url, DOCCTL_SCHEDULER_INTERVAL_SECONDS="0",
                   PYTHONUNBUFFERED="1")
        settings = Settings(data_dir=data_dir, base_url=url, scheduler_interval_seconds=0)
        database = Database.from_url(settings.resolved_database_url)
        try:
            print(f"\n[SQLite] {settings.resolved_database_url}")
            seeded, passwords = seed(database, settings, pop, pdf, login=True)
            print_seeded("SQLite", seeded)
            print(f"    database file {sum(p.stat().st_size for p in data_dir.glob('*.sqlite3*')) / 1e6:.0f} MB")
            outcome = HttpOutcome()
            if not args.skip_http:
                server = start_server(env, port, url, work / "server.log", args.workers)
                try:
                    print(f"server {url} (pid {server.pid}, {args.workers} worker(s), scheduler off)")
                    outcome = bench_http(server, passwords, dept, args, len(pop.users), shape)
                finally:
                    stop_server(server)
            now = datetime.now(UTC)
            print(f"(2) in this process (SQLite); {load()}")
            bench_matrix_service(database, dept, "qa", args.requests, now, "SQLite")
            print(f"(3) in this process (SQLite); {load()}")
            bench_compliance(database, "SQLite", args.compliance_runs, now)
            if not outcome.csv:
                print(f"(4) CSV in this process (the route was not measured over HTTP); {load()}")
                bench_csv_inprocess(database, now, dept, f"department {dept}")
                bench_csv_inprocess(database, now, None, f"whole matrix, {len(pop.users):,} people")
            bench_assignments(database, settings, pop, pdf, "SQLite", args.profile, record=True)
            print(f"(2, 3) SQLite after ANALYZE (docctl never runs it: are the plans better with statistics?); "
                  f"{load()}")
            with database.engine.connect() as conn:
                t0 = time.perf_counter()
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
                print(f"    ANALYZE took {time.perf_counter() - t0:.1f} s")
            bench_matrix_service(database, dept, "qa", args.requests, datetime.now(UTC),
                                 "SQLite [after ANALYZE, not what docctl does]")
            bench_compliance(database, "SQLite [after ANALYZE, not what docctl does]", min(args.compliance_runs, 5),
                             datetime.now(UTC))
        finally:
            database.dispose()
        if args.pg:
            try:
                bench_pg(settings, pop, pdf, args, dept)
            except Exception as exc:  # noqa: BLE001 - the PostgreSQL part is optional
                print(f"\n[PostgreSQL] skipped: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nsummary ({load()}):")
    width = max(len(r.target) for r in RESULTS) if RESULTS else 10
    for r in RESULTS:
        print(f"  {r.target:<{width}}  {r.verdict:<6}  {r.measured}")


if __name__ == "__main__":
    main()
