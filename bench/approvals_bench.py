"""Approvals benchmark: signing requests with 8 concurrent signers against `docctl serve`, other pages meanwhile,
and the signature verification rate of `services.signature_check.verify`.

    .venv/bin/python bench/approvals_bench.py                  # 8 signers, 5 concurrent rounds, 20,000 verifications
    .venv/bin/python bench/approvals_bench.py --rounds 10 --verifications 50000
    .venv/bin/python bench/approvals_bench.py --trace          # also time the signing phases inside the server
    .venv/bin/python bench/approvals_bench.py --profile        # also the SQL and a cProfile of one verification

Set-up, in this process through the services the server uses, against the SQLite file the server then opens (a
temporary DOCCTL_DATA_DIR, DEFAULT settings: argon2id and scrypt at production strength): migrate, instance CA, an
author and S signers (default 8) made ready to sign as a person would be (own password set, so a signing key
wrapped with scrypt; identity verified by the operator; accountability statement accepted with the password);
then for each round and signer one document whose 1.0 is submitted on a route naming only that signer (the route
is changed before each submission; it applies to new submissions), so every revision waits on one signature, the
last of its route: signing it approves it and makes it effective. Then `docctl serve` on a free 127.0.0.1 port
(one uvicorn process, scheduler off); bearer tokens from POST /api/v1/auth/token; a page session for the author.

(0) Reference in this process: one argon2id verification and one scrypt unwrap at the defaults (wall and CPU), one
    `sign_manifest`, and S unwraps at once in S threads (how much CPU the machine gives right now).
(a) One signer at a time: S requests in turn (after a warm-up round of S, not counted).
(b) S concurrent signers, R rounds (default 5): the S threads, each with its own HTTP connection, line up on a
    barrier and POST /api/v1/tasks/{id}/sign {username, password, meaning} at once; latency of each request (201
    required). Meanwhile a probe thread requests GET /healthz and GET / (the dashboard, page session) in turn,
    one at a time; its latencies while signing are compared with the same probe on the idle server. Server CPU.
    --trace starts the server through a small wrapper (written to the temporary directory) that wraps
    `approvals.prepare_signature`, `signatures.unwrap` and `approvals.record_signature` with timers (wall and
    thread CPU of each call) before running `docctl serve`; no server code is changed.
(c) Verification, in this process after the server has stopped, over every signature made: the library alone
    (`signatures.verify_signature`, nothing read from the database), and `signature_check.verify(session, None,
    id)` (no re-read of the content) with a new session per verification (as GET /api/v1/signatures/{id}
    does) and with one session for a pass over all signatures; SQL statements per verification counted. Also a
    prototype that is not docctl code: the same checks from one joined SELECT of the columns they need, the CA's
    PEM read once, per signature and per batch.

Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import math
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docctl import signatures  # noqa: E402
from docctl.blobstore.factory import blobstore_from_url  # noqa: E402
from docctl.config import Settings, load_settings  # noqa: E402
from docctl.db import migrate  # noqa: E402
from docctl.db.models import Revision, Signature, SigningKey  # noqa: E402
from docctl.db.session import Database  # noqa: E402
from docctl.domain.routes import StageRule  # noqa: E402
from docctl.services import (  # noqa: E402
    accounts,
    approvals,
    documents,
    revisions,
    sessions,
    signature_check,
    signing_keys,
    system,
)
from docctl.services.credentials import AccountConfig  # noqa: E402
from docctl.services.principal import Principal  # noqa: E402

SESSION_COOKIE = "docctl_session"
MEANING = "Approved"


def password_of(username: str) -> str:
    return f"Correct-Horse-{hashlib.sha256(username.encode()).hexdigest()[:8]}-Battery"


# --- figures ----------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(seconds: list[float]) -> str:
    if not seconds:
        return "no samples"
    return (f"p50 {percentile(seconds, 50) * 1000:7.1f} ms  p95 {percentile(seconds, 95) * 1000:7.1f} ms  "
            f"max {max(seconds) * 1000:7.1f} ms  (n={len(seconds)})")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


# --- set-up through the services --------------------------------------------------------------------------------


@dataclass
class Seeded:
    settings: Settings
    database: Database
    signers: list[str]
    tasks: list[dict[str, uuid.UUID]] = field(default_factory=list)  # per round: signer -> task id


def small_pdf(label: str) -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.drawString(72, 770, f"Procedure {label}: temperature excursion handling")
    c.showPage()
    c.save()
    return out.getvalue()


def ready_user(database: Database, config: AccountConfig, username: str, roles: list[str], at: datetime,
               *, signer: bool) -> uuid.UUID:
    """A person with their own password (and so a signing key); signers also identity-verified and sworn in."""
    operator = Principal.operator()
    own = password_of(username)
    with database.unit_of_work() as s:
        created = accounts.create_user(s, config, principal=operator, username=username, roles=roles,
                                       full_name=f"{username.title()} Benchmark", title="Approver", at=at)
    with database.read() as s:
        change = accounts.prepare_password_change(s, config, user_id=created.user.id,
                                                  current_password=created.temporary_password or "",
                                                  new_password=own, at=at)
    with database.unit_of_work() as s:
        assert accounts.change_password(s, config, change=change, at=at)
    if signer:
        with database.unit_of_work() as s:
            accounts.verify_identity(s, principal=operator, user_id=created.user.id, evidence="badge checked",
                                     at=at)
        with database.read() as s:
            verdict = sessions.verify_credentials(s, config, username=username, password=own)
        with database.unit_of_work() as s:
            assert accounts.accept_statement(s, config, user_id=created.user.id,
                                             verified_hash=verdict.verified_hash, at=at)
    return created.user.id


def seed(settings: Settings, signers: int, rounds: int) -> Seeded:
    """Users and `rounds` x `signers` submitted revisions, each waiting on one signer's signature."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_url(settings.resolved_database_url)
    migrate.upgrade(database.engine)
    config = AccountConfig.from_settings(settings)
    store = blobstore_from_url(settings.resolved_blobstore_url)
    at = datetime.now(UTC) - timedelta(hours=1)
    with database.unit_of_work() as s:
        system.initialise(s, settings, at=at)
    ready_user(database, config, "writer", ["author"], at, signer=False)
    names = [f"signer{i + 1}" for i in range(signers)]
    ids = {name: ready_user(database, config, name, ["approver"], at, signer=True) for name in names}
    with database.read() as s:
        writer = Principal.of(accounts.find_user(s, "writer"))  # type: ignore[arg-type]
    seeded = Seeded(settings, database, names)
    upload = revisions.prepare_upload(store, stream=io.BytesIO(small_pdf("bench")), filename="bench.pdf",
                                      max_bytes=10 * 1024 * 1024, convert=False)
    for n in range(rounds):
        batch = {}
        for name in names:
            with database.unit_of_work() as s:
                approvals.update_route(s, principal=Principal.operator(), type_code="SOP", reason="bench",
                                       stages=[StageRule(position=1, name="Approval", meaning=MEANING, rule="users",
                                                         user_ids=(ids[name],), required=1)], at=at)
            with database.unit_of_work() as s:
                number = documents.create_document(s, principal=writer, type_code="SOP", department="QA",
                                                   title=f"Bench procedure {n}-{name}", at=at).number
            with database.unit_of_work() as s:
                revisions.create_revision(s, principal=writer, number=number, upload=upload, change="major",
                                          change_summary="first issue", at=at)
            with database.unit_of_work() as s:
                r = approvals.submit(s, principal=writer, number=number, version="1.0", at=at)
                (task,) = approvals.tasks_of(s, r.id)
                batch[name] = task.id
        seeded.tasks.append(batch)
    return seeded


# --- the server -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TRACED_SERVE = """
import functools, sys, time
from docctl import signatures
from docctl.services import approvals

TRACE = open(sys.argv.pop(1), "a", buffering=1)


def traced(module, name):
    fn = getattr(module, name)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TRACE.write(f"{name} {time.perf_counter() - w0:.6f} {time.thread_time() - c0:.6f}\\n")

    setattr(module, name, timed)


for module, name in ((approvals, "prepare_signature"), (approvals, "record_signature"), (signatures, "unwrap")):
    traced(module, name)
from docctl.cli import app

sys.argv[0] = "docctl"
app()
"""


def start_server(env: dict[str, str], url: str, port: int, log_path: Path,
                 trace: Path | None = None) -> subprocess.Popen[bytes]:
    """`docctl serve`; with `trace`, the same command through a wrapper that first wraps the signing phases with
    timers (wall and thread CPU of each call, appended to `trace`): the server code itself is unchanged."""
    command = [sys.executable, "-m", "docctl"]
    if trace is not None:
        wrapper = trace.with_suffix(".py")
        wrapper.write_text(TRACED_SERVE)
        command = [sys.executable, str(wrapper), str(trace)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"docctl serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"docctl serve did not come up:\n{log_path.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def bearer(url: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{url}/api/v1/auth/token", json={"username": username, "password": password_of(username)},
                          timeout=60)
    if response.status_code != 201:
        raise SystemExit(f"token for {username}: {response.status_code} {response.text[:300]}")
    return {"Authorization": f"Bearer {response.json()['token']}"}


def page_session(url: str, username: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/login")
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        csrf = page.text[start:page.text.index('"', start)]
        response = client.post("/login", data={"username": username, "password": password_of(username),
                                               "csrf_token": csrf, "next": "/"})
        token = response.cookies.get(SESSION_COOKIE)
        if response.status_code != 303 or not token:
            raise SystemExit(f"login of {username}: {response.status_code}")
        return token


def sign_request(client: httpx.Client, headers: dict[str, str], username: str, task_id: uuid.UUID) -> float:
    t0 = time.perf_counter()
    response = client.post(f"/api/v1/tasks/{task_id}/sign", headers=headers,
                           json={"username": username, "password": password_of(username), "meaning": MEANING})
    elapsed = time.perf_counter() - t0
    if response.status_code != 201:
        raise RuntimeError(f"sign as {username}: {response.status_code} {response.text[:300]}")
    return elapsed


class Probe(threading.Thread):
    """GET /healthz and GET / (dashboard) in turn, one at a time, timestamped, until stopped."""

    def __init__(self, url: str, cookie: str) -> None:
        super().__init__(name="probe", daemon=True)
        self.client = httpx.Client(base_url=url, timeout=60, cookies={SESSION_COOKIE: cookie})
        self.samples: list[tuple[str, float, float]] = []  # (what, started at, seconds)
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            path = "/healthz" if n % 2 == 0 else "/"
            n += 1
            t0 = time.perf_counter()
            try:
                response = self.client.get(path)
                ok = response.status_code == 200 and (path == "/healthz" or "Welcome," in response.text)
            except httpx.HTTPError as exc:
                ok, response = False, exc
            elapsed = time.perf_counter() - t0
            self.samples.append((path, t0, elapsed))
            if not ok:
                self.failures.append(f"{path}: {getattr(response, 'status_code', response)}")
            time.sleep(0.005)
        self.client.close()

    def between(self, path: str, start: float, end: float) -> list[float]:
        return [s for p, t, s in self.samples if p == path and start <= t <= end]


def trace_lines(trace: Path | None) -> list[str]:
    return trace.read_text().splitlines() if trace is not None and trace.exists() else []


def report_phases(lines: list[str]) -> None:
    """Wall and CPU of the signing phases inside the server, from the traced wrapper."""
    calls: dict[str, tuple[list[float], list[float]]] = {}
    for line in lines:
        name, wall, cpu = line.split()
        walls, cpus = calls.setdefault(name, ([], []))
        walls.append(float(wall))
        cpus.append(float(cpu))
    for name, label in (("prepare_signature", "prepare_signature (no lock)"), ("unwrap", "  of which unwrap (scrypt)"),
                        ("record_signature", "record_signature (write lock)")):
        if name in calls:
            walls, cpus = calls[name]
            print(f"    {label:<30} wall {spread(walls)}")
            p50, p95 = percentile(cpus, 50) * 1000, percentile(cpus, 95) * 1000
            print(f"    {'':<30} CPU  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


def bench_signing(url: str, seeded: Seeded, pid: int, trace: Path | None = None) -> None:
    tokens = {name: bearer(url, name) for name in seeded.signers}
    cookie = page_session(url, "writer")
    clients = {name: httpx.Client(base_url=url, timeout=120) for name in seeded.signers}
    for client in clients.values():  # keep-alive connections open before anything is timed
        client.get("/healthz")
    probe = Probe(url, cookie)
    probe.start()
    try:
        idle_from = time.perf_counter()
        time.sleep(3)
        idle_to = time.perf_counter()

        warm = [sign_request(clients[n], tokens[n], n, seeded.tasks[0][n]) for n in seeded.signers]
        cpu_alone = cpu_seconds(pid)
        alone = [sign_request(clients[n], tokens[n], n, seeded.tasks[1][n]) for n in seeded.signers]
        per_sign = (cpu_seconds(pid) - cpu_alone) / len(alone)
        print(f"(a) one signer at a time: POST /api/v1/tasks/{{id}}/sign  {spread(alone)}")
        print(f"    server CPU per signing request {per_sign * 1000:.0f} ms (the probe's requests included); "
              f"warm-up round before, not counted: first request {warm[0] * 1000:.0f} ms, then {spread(warm[1:])}")

        traced_before = len(trace_lines(trace))
        latencies: list[float] = []
        windows: list[tuple[float, float]] = []
        failures: list[str] = []
        cpu0, busy = cpu_seconds(pid), 0.0
        for batch in seeded.tasks[2:]:
            barrier = threading.Barrier(len(seeded.signers))
            lock = threading.Lock()

            def signer(name: str, task_id: uuid.UUID, barrier: threading.Barrier = barrier,
                       lock: threading.Lock = lock) -> None:
                barrier.wait()
                try:
                    elapsed = sign_request(clients[name], tokens[name], name, task_id)
                except Exception as exc:  # noqa: BLE001  (reported, not hidden)
                    with lock:
                        failures.append(str(exc))
                    return
                with lock:
                    latencies.append(elapsed)

            threads = [threading.Thread(target=signer, args=(n, batch[n])) for n in seeded.signers]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            end = time.perf_counter()
            windows.append((start, end))
            busy += end - start
            time.sleep(0.5)
        cpu = cpu_seconds(pid) - cpu0
        traced = trace_lines(trace)[traced_before:]
    finally:
        probe.stop.set()
        probe.join(30)
        for client in clients.values():
            client.close()

    rounds = len(seeded.tasks) - 2
    cores = os.cpu_count() or 1
    print(f"(b) {len(seeded.signers)} concurrent signers x {rounds} rounds: {len(latencies)} signatures (201), "
          f"{len(failures)} failed; load average now {os.getloadavg()[0]:.1f}")
    print(f"    floor for the last of {len(seeded.signers)} on {cores} cores: {len(seeded.signers)} x "
          f"{per_sign * 1000:.0f} ms CPU / {cores} = {len(seeded.signers) * per_sign / cores * 1000:.0f} ms")
    for failure in failures[:5]:
        print(f"    FAILED {failure}")
    print(f"    POST /api/v1/tasks/{{id}}/sign  {spread(latencies)}")
    per_round = [e - s for s, e in windows]
    print(f"    a round (all {len(seeded.signers)} answered): {spread(per_round)}; "
          f"server CPU {cpu:.1f} s over {busy:.1f} s of rounds + {0.5 * rounds:.1f} s of pauses "
          f"= {cpu / (busy + 0.5 * rounds):.2f} cores")
    for path, label in (("/healthz", "GET /healthz"), ("/", "GET / (dashboard)")):
        idle = probe.between(path, idle_from, idle_to)
        during = [x for s, e in windows for x in probe.between(path, s, e)]
        print(f"    {label:<18} idle:    {spread(idle)}")
        print(f"    {'':<18} signing: {spread(during)}")
    if probe.failures:
        print(f"    probe failures: {len(probe.failures)}, e.g. {probe.failures[:3]}")
    if trace is not None:
        print("    inside the server during the concurrent rounds (--trace):")
        report_phases(traced)


# --- (0) and (c) in this process --------------------------------------------------------------------------------


def timed_cpu(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds (the whole process: argon2 runs its lanes in threads of its own)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def reference(settings: Settings, concurrent: int) -> None:
    """Figures for one signature's cryptography in this process, and `concurrent` unwraps at once."""
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                            parallelism=settings.argon2_parallelism, type=Type.ID)
    hashed = hasher.hash("Reference-Password-2026")
    argon = [timed_cpu(hasher.verify, hashed, "Reference-Password-2026") for _ in range(5)]
    key = signatures.generate_user_key("Reference-Password-2026", kdf_n=settings.signing_kdf_n)
    unwrap = [timed_cpu(signatures.unwrap, key, "Reference-Password-2026") for _ in range(5)]
    private = signatures.unwrap(key, "Reference-Password-2026")
    manifest = signatures.build_manifest(
        document_id=uuid.uuid4(), number="SOP-QA-001", title="Reference", revision_id=uuid.uuid4(), version="1.0",
        content_sha256="0" * 64, rendition_sha256="0" * 64, meaning=MEANING, signer_id=uuid.uuid4(),
        username="reference", name="Reference Person", signer_title="Approver", signed_at=datetime.now(UTC),
        statement="I approve this document.", task_id=uuid.uuid4())
    sign = [timed(signatures.sign_manifest, private, manifest) for _ in range(50)]
    argon_cpu = percentile([c for _, c in argon], 50)
    unwrap_cpu = percentile([c for _, c in unwrap], 50)
    print(f"(0) in this process, one at a time: argon2id verify (t={settings.argon2_time_cost}, "
          f"m={settings.argon2_memory_kib} KiB, p={settings.argon2_parallelism}): wall {spread([w for w, _ in argon])}")
    print(f"        CPU (all its threads) p50 {argon_cpu * 1000:.0f} ms")
    print(f"    scrypt unwrap (n=2^{settings.signing_kdf_n.bit_length() - 1}, r=8, "
          f"{128 * settings.signing_kdf_n * 8 // 2**20} MiB): wall {spread([w for w, _ in unwrap])}")
    print(f"        CPU p50 {unwrap_cpu * 1000:.0f} ms")
    print(f"    sign_manifest (parse + ECDSA P-256 sign): {spread(sign)}")
    for _ in range(2):
        done: list[float] = []
        barrier = threading.Barrier(concurrent)

        def one(barrier: threading.Barrier = barrier, done: list[float] = done) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            signatures.unwrap(key, "Reference-Password-2026")
            done.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=one) for _ in range(concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(f"    {concurrent} unwraps at once in {concurrent} threads (the second of two tries): {spread(done)}")


def prototype_verify(session, ids: list[uuid.UUID], ca_pem: bytes) -> int:  # type: ignore[no-untyped-def]
    """The checks of `signature_check.verify` without the content re-read (manifest digest; manifest, chain,
    ECDSA, signer UID and signed content hash; bound to the revision; signer), reading only the columns they need
    in one joined SELECT instead of loading ORM entities. Returns how many verified."""
    rows = session.execute(
        select(Signature.id, Signature.manifest, Signature.manifest_sha256, Signature.signature, Signature.signer_id,
               SigningKey.certificate_pem, Revision.id, Revision.document_id, Revision.source_sha256)
        .join(SigningKey, SigningKey.id == Signature.signing_key_id)
        .join(Revision, Revision.id == Signature.revision_id)
        .where(Signature.id.in_(ids))
    ).all()
    good = 0
    for _sid, manifest, digest, der, signer_id, cert_pem, revision_id, document_id, content in rows:
        if hashlib.sha256(manifest).hexdigest() != digest:
            continue
        m = signatures.verify_signature(manifest, der, cert_pem.encode(), ca_pem, expected_content_sha256=content)
        if (m["revision"]["id"] == str(revision_id) and m["document"]["id"] == str(document_id)
                and m["signer"]["id"] == str(signer_id)):
            good += 1
    return good


def bench_verification(database: Database, total: int, profile: bool) -> None:
    with database.read() as s:
        ids = list(s.scalars(select(Signature.id)))
        rows = []
        for sig_id in ids:
            sig, key, r = signature_check.get(s, sig_id)
            rows.append((sig.manifest, sig.signature, key.certificate_pem.encode(), r.source_sha256))
        ca = signing_keys.instance_ca(s)
        assert ca is not None
        n_keys = s.query(SigningKey).count()
    passes = max(1, total // len(ids))
    work = ids * passes
    print(f"(c) verification of {len(ids)} stored signatures by {n_keys} keys, each {passes} times "
          f"({len(work):,} verifications), in this process")

    t0 = time.perf_counter()
    for _ in range(passes):
        for manifest, sig, cert, content in rows:
            signatures.verify_signature(manifest, sig, cert, ca.certificate_pem, expected_content_sha256=content)
    lib = len(work) / (time.perf_counter() - t0)
    print(f"    library verify_signature alone (no database)          {lib:>8,.0f} /s  ({1e6 / lib:6.0f} µs each)")

    statements = [0]

    def count(*_args: object) -> None:
        statements[0] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        statements[0] = 0
        t0 = time.perf_counter()
        for sig_id in work:
            with database.read() as s:
                assert signature_check.verify(s, None, sig_id).ok
        fresh = len(work) / (time.perf_counter() - t0)
        fresh_sql = statements[0] / len(work)
        print(f"    signature_check.verify, a new session each            {fresh:>8,.0f} /s  ({1e6 / fresh:6.0f} µs "
              f"each; {fresh_sql:.1f} SQL statements each)")

        statements[0] = 0
        t0 = time.perf_counter()
        for _ in range(passes):
            with database.read() as s:
                for sig_id in ids:
                    assert signature_check.verify(s, None, sig_id).ok
        shared = len(work) / (time.perf_counter() - t0)
        print(f"    signature_check.verify, one session per pass of {len(ids):<4}  {shared:>8,.0f} /s  "
              f"({1e6 / shared:6.0f} µs each; {statements[0] / len(work):.1f} SQL statements each)")

        ca_pem = ca.certificate_pem
        statements[0] = 0
        t0 = time.perf_counter()
        for sig_id in work:
            with database.read() as s:
                assert prototype_verify(s, [sig_id], ca_pem) == 1
        one = len(work) / (time.perf_counter() - t0)
        print("    prototype (not docctl code): one joined SELECT, CA cached,")
        print(f"      a new session each                                  {one:>8,.0f} /s  ({1e6 / one:6.0f} µs "
              f"each; {statements[0] / len(work):.1f} SQL statements each)")
        t0 = time.perf_counter()
        for _ in range(passes):
            with database.read() as s:
                assert prototype_verify(s, ids, ca_pem) == len(ids)
        batch = len(work) / (time.perf_counter() - t0)
        print(f"      one SELECT per pass of {len(ids):<4}                          {batch:>8,.0f} /s  "
              f"({1e6 / batch:6.0f} µs each)")
    finally:
        event.remove(database.engine, "before_cursor_execute", count)

    if profile:
        seen: list[str] = []

        def remember(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            seen.append(" ".join(statement.split()))

        event.listen(database.engine, "before_cursor_execute", remember)
        with database.read() as s:
            signature_check.verify(s, None, ids[0])
        event.remove(database.engine, "before_cursor_execute", remember)
        print("    the SQL of one signature_check.verify (new session):")
        for statement in seen:
            print(f"      {statement[:70]} ... {statement[-60:]}" if len(statement) > 140 else f"      {statement}")
        profiler = cProfile.Profile()
        profiler.enable()
        for sig_id in ids * max(1, 2000 // len(ids)):
            with database.read() as s:
                signature_check.verify(s, None, sig_id)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print("    cProfile of signature_check.verify with a new session each (cumulative):")
        for line in out.getvalue().splitlines():
            if line.strip():
                print("      " + line[:150])


# --- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="concurrent rounds (plus 2: warm-up, one at a time)")
    parser.add_argument("--verifications", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the verification loop")
    parser.add_argument("--trace", action="store_true",
                        help="time the signing phases inside the server (through a wrapper around `docctl serve`)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="docctl-approvals-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}  # default argon2/scrypt, on purpose
    env.update(DOCCTL_DATA_DIR=str(work / "data"), DOCCTL_BASE_URL=url, DOCCTL_SCHEDULER_INTERVAL_SECONDS="0",
               PYTHONUNBUFFERED="1")
    for key in [k for k in os.environ if k.startswith("DOCCTL_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("DOCCTL_")})
    settings = load_settings()
    print(f"docctl approvals bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}; load average {os.getloadavg()[0]:.1f}")
    print(f"defaults: argon2id t={settings.argon2_time_cost} m={settings.argon2_memory_kib} KiB "
          f"p={settings.argon2_parallelism}; scrypt n=2^{settings.signing_kdf_n.bit_length() - 1} r=8 p=1; "
          "embedded SQLite (WAL), one uvicorn process, scheduler off")
    try:
        reference(settings, args.signers)
        t0 = time.perf_counter()
        seeded = seed(settings, args.signers, args.rounds + 2)
        print(f"seeded {args.signers} ready signers and {args.signers * (args.rounds + 2)} submitted revisions "
              f"(one signature each) through the services in {time.perf_counter() - t0:.1f} s")
        trace = work / "phases.trace" if args.trace else None
        server = start_server(env, url, port, work / "server.log", trace)
        try:
            print(f"server {url} (pid {server.pid})")
            bench_signing(url, seeded, server.pid, trace)
        finally:
            stop_server(server)
        bench_verification(seeded.database, args.verifications, args.profile)
        seeded.database.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
