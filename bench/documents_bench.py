"""Documents benchmark: upload ingest of a 100 MB PDF, controlled copies, and list/search with 10,000 documents,
all through a real `docctl serve`.

    .venv/bin/python bench/documents_bench.py                      # everything (~3 min)
    .venv/bin/python bench/documents_bench.py --docs 2000 --duration 5
    .venv/bin/python bench/documents_bench.py --skip-upload --skip-copy  # only (c)
    .venv/bin/python bench/documents_bench.py --profile            # also cProfile the slow paths in-process

Setup: a temporary DOCCTL_DATA_DIR (embedded SQLite + local blob store, default settings), an author and a
staff member created in-process through `docctl.services.accounts` (their own passwords set), then N documents (default
10,000) seeded in-process through the services exactly as the server makes them (`documents.create_document`,
`revisions.create_revision` with one small prepared PDF reused and each document given its own text,
`search.index_revision` through it; then the revisions' state and lifecycle times set to effective directly with
one UPDATE per transaction, since the approval workflow's three electronic signatures per revision would take
hours; 50 documents per transaction). Then `docctl serve` on a free port (one uvicorn process, scheduler off).

(a) Upload ingest: a valid ~100 MB PDF (100 pages, each an incompressible 1 MB image plus a line of text),
    generated once in the temporary directory (64 bytes of the first image made new before each upload, so the
    blob store never deduplicates). Reference: `cp` + `sha256sum` of the same file (page cache warm),
    also with a `sync` of the copy (the blob store fsyncs). Then POST /api/v1/documents/{n}/revisions (multipart,
    streamed from the file by httpx, bearer token) and the time to the 201; the server's RSS before, the peak
    during (VmHWM after resetting it through /proc/PID/clear_refs, and VmRSS polled every 5 ms). Then the same
    file through the service in this process (`revisions.prepare_upload` + `create_revision`), with the stages
    timed separately (spool, inspect, blob store put), and this process's peak RSS growth.
(b) Controlled copy of a 100-page text PDF through GET /documents/{n}/revisions/1.0/controlled-copy (a page
    session, as the browser's "Print a controlled copy" link): 10 runs, p50 and max; and one copy of the 100 MB
    scan for comparison.
(c) With N effective documents, as staff (who see current effective versions only): GET /documents (list
    page), GET /documents?q=<word> (search pages: a word in ~10 % of the documents and a rare one in ~0.5 %),
    and GET /api/v1/documents?q=<word> (bearer token) under C concurrent connections (default 16) for D seconds
    (default 10) each, with wrk (Lua script: sessions rotated, statuses checked, percentiles) or Python. One
    client alone first (sequential, 50 requests) to separate service time from queueing. The dashboard (GET /)
    is measured the same way first, as the floor of a page request on this server.

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import json
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docctl import renditions  # noqa: E402
from docctl.blobstore.factory import blobstore_from_url  # noqa: E402
from docctl.config import Settings  # noqa: E402
from docctl.db import migrate as migrations  # noqa: E402
from docctl.db.models import Revision  # noqa: E402
from docctl.db.session import Database  # noqa: E402
from docctl.domain.lifecycle import State  # noqa: E402
from docctl.domain.policy import Role  # noqa: E402
from docctl.services import accounts, documents, revisions, search  # noqa: E402
from docctl.services.credentials import AccountConfig  # noqa: E402
from docctl.services.principal import Principal  # noqa: E402

SESSION_COOKIE = "docctl_session"
MB = 1_000_000
TYPES = ("SOP", "WI", "POL", "FORM")
DEPARTMENTS = ("CLIN", "QA", "DM", "LAB", "REG", "PV", "MFG", "IT", "HR", "STAT")
_VOCABULARY_TEXT = (
    "procedure record batch deviation quality assurance release approval training site visit audit "
    "sponsor investigator protocol amendment consent participant sample storage temperature excursion "
    "shipment courier label archive retention signature review periodic change control validation system "
    "computerised data integrity backup restore access account password role laboratory equipment "
    "calibration maintenance cleaning line clearance filling packaging inspection complaint recall "
    "supplier qualification contract agreement risk assessment mitigation corrective preventive action "
    "effectiveness trend report meeting minutes escalation safety adverse event reporting expedited "
    "narrative coding dictionary reconciliation database lock query source verification plan "
    "close-out initiation feasibility budget invoice payment travel expense vendor oversight metrics "
    "dashboard inspection readiness regulatory submission dossier labelling translation"
)
VOCABULARY = _VOCABULARY_TEXT.split()
COMMON_WORD = "monitoring"  # in 10 % of the documents (not in the vocabulary)
EVERYWHERE_WORD = "procedure"  # drawn from the vocabulary: in ~98 % of the documents
RARE_WORD = "cryoprecipitate"  # in ~0.5 %
LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  header = args[1]
  values = {}
  for i = 2, #args do values[#values + 1] = args[i] end
  n = 0
  bad = 0
end
function request()
  n = n + 1
  return wrk.format("GET", nil, { [header] = values[(n % #values) + 1] })
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "non200": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, bad, e.connect + e.read + e.write + e.timeout))
end
"""


# --- small helpers ------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


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


# --- files --------------------------------------------------------------------------------------------------------


def make_scan_pdf(path: Path, total_bytes: int, pages: int = 100) -> int:
    """A valid PDF of `pages` pages, each an uncompressed RGB image of random bytes (incompressible) and a line of
    text, about `total_bytes` in all. Written directly (objects, xref, trailer), never held in memory. Returns the
    offset of the first image's pixels (see `make_unique`)."""
    first_pixels = 0
    side = int(math.sqrt(max(total_bytes // pages, 3 * 64 * 64) / 3))
    image_bytes = side * side * 3
    offsets: dict[int, int] = {}
    with path.open("wb") as out:
        def obj(number: int, body: bytes) -> None:
            offsets[number] = out.tell()
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        kids = " ".join(f"{3 + 3 * i} 0 R" for i in range(pages)).encode()
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids))
        font = 3 + 3 * pages
        for i in range(pages):
            page, content, image = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
            obj(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                      b"/Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 %d 0 R >> >> >>"
                % (content, image, font))
            stream = (b"q 480 0 0 480 57 250 cm /Im0 Do Q BT /F1 12 Tf 72 780 Td "
                      b"(Scanned batch record, page %d of %d) Tj ET" % (i + 1, pages))
            obj(content, b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
            offsets[image] = out.tell()
            out.write(b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                      b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (image, side, side, image_bytes))
            first_pixels = first_pixels or out.tell()
            left = image_bytes
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                out.write(chunk)
                left -= len(chunk)
            out.write(b"\nendstream\nendobj\n")
        obj(font, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        xref = out.tell()
        count = font + 1
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        for number in range(1, count):
            out.write(b"%010d 00000 n \n" % offsets[number])
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    return first_pixels


def make_unique(path: Path, pixels: int) -> None:
    """New random bytes in the first image: new content for the blob store, never a deduplicated upload."""
    with path.open("r+b") as fh:
        fh.seek(pixels)
        fh.write(os.urandom(64))


def make_text_pdf(path: Path, pages: int) -> None:
    """A text-heavy document: 46 lines of body text per A4 page, as a long SOP would have."""
    rng = random.Random(7)
    drawing = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        drawing.setFont("Helvetica-Bold", 14)
        drawing.drawString(72, 770, f"Section {number}")
        drawing.setFont("Times-Roman", 10.5)
        for line in range(46):
            drawing.drawString(72, 745 - line * 14.5, " ".join(rng.choices(VOCABULARY, k=12)))
        drawing.showPage()
    drawing.save()


def small_pdf() -> bytes:
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=A4)
    drawing.drawString(72, 760, "Bench document")
    drawing.showPage()
    drawing.save()
    return out.getvalue()


# --- setup --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Instance:
    settings: Settings
    env: dict[str, str]
    port: int
    url: str
    users: dict[str, str]  # username -> password


def make_instance(work: Path) -> Instance:
    data_dir = work / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}
    env.update(DOCCTL_DATA_DIR=str(data_dir), DOCCTL_BASE_URL=url, DOCCTL_SCHEDULER_INTERVAL_SECONDS="0",
               PYTHONUNBUFFERED="1")
    settings = Settings(data_dir=data_dir, base_url=url, scheduler_interval_seconds=0)
    data_dir.mkdir(parents=True)
    database = Database.from_url(settings.resolved_database_url)
    try:
        migrations.upgrade(database.engine)
        users = seed_users(database, AccountConfig.from_settings(settings))
    finally:
        database.dispose()
    return Instance(settings, env, port, url, users)


BENCH_USERS = (("author", "Priya Shah", Role.AUTHOR), ("staff", "Lee Chen", Role.STAFF))


def seed_users(database: Database, config: AccountConfig) -> dict[str, str]:
    """An author and a staff member, each having set their own password (as at a first login)."""
    users = {}
    for username, name, role in BENCH_USERS:
        at = datetime.now(UTC)
        with database.unit_of_work() as s:
            created = accounts.create_user(s, config, principal=Principal.operator(), username=username,
                                           full_name=name, roles=[role], at=at)
        password = f"Bench-{secrets.token_hex(8)}-Pw"
        assert created.temporary_password is not None
        with database.read() as s:
            change = accounts.prepare_password_change(s, config, user_id=created.user.id,
                                                      current_password=created.temporary_password,
                                                      new_password=password, at=at)
        with database.unit_of_work() as s:
            accounts.change_password(s, config, change=change, at=at)
        users[username] = password
    return users


def document_text(rng: random.Random, index: int) -> str:
    words = rng.choices(VOCABULARY, k=400)
    if index % 10 == 3:
        words[rng.randrange(len(words))] = COMMON_WORD
    if index % 200 == 17:
        words[rng.randrange(len(words))] = RARE_WORD
    return " ".join(words)


def seed_documents(instance: Instance, count: int, batch: int = 50) -> float:
    """`count` effective documents through the services; returns seconds taken."""
    settings = instance.settings
    database = Database.from_url(settings.resolved_database_url)
    store = blobstore_from_url(settings.resolved_blobstore_url)
    rng = random.Random(2026)
    at = datetime.now(UTC) - timedelta(days=400)
    started = time.perf_counter()
    try:
        with database.read() as s:
            author = Principal.of(accounts.find_user(s, "author"))
        made: list[uuid.UUID] = []
        prepared = revisions.prepare_upload(store, stream=io.BytesIO(small_pdf()), filename="bench.pdf",
                                            max_bytes=settings.max_upload_bytes)
        done = 0
        while done < count:
            with database.unit_of_work() as s:
                for i in range(done, min(count, done + batch)):
                    at += timedelta(seconds=30)
                    title = " ".join(rng.choices(VOCABULARY, k=rng.randint(2, 5))).capitalize()
                    d = documents.create_document(s, principal=author, type_code=TYPES[i % len(TYPES)],
                                                  title=title, department=DEPARTMENTS[(i // 4) % len(DEPARTMENTS)],
                                                  at=at)
                    upload = dataclasses.replace(prepared, text=document_text(rng, i))
                    r = revisions.create_revision(s, principal=author, number=d.number, upload=upload,
                                                  change="major", change_summary="First issue", at=at)
                    made.append(r.id)
                # Effective without the approval workflow (three electronic signatures each would take the
                # seeding from a minute to hours): the lifecycle columns set directly, bench data only.
                s.execute(update(Revision).where(Revision.id.in_(made)).values(
                    state=State.EFFECTIVE.value, submitted_at=at, approved_at=at, effective_at=at))
                made.clear()
            done = min(count, done + batch)
            if done % 2000 == 0 or done == count:
                print(f"    seeded {done:,} documents ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        database.dispose()
    return time.perf_counter() - started


@dataclasses.dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


WORKERS = 2  # set from --workers in main()


def start_server(instance: Instance, log_path: Path) -> Server:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "docctl", "serve", "--host", "127.0.0.1", "--port", str(instance.port),
             "--workers", str(WORKERS)],
            env=instance.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"docctl serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{instance.url}/healthz", timeout=2).status_code == 200:
                return Server(process, instance.url, log_path)
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


def create_document_api(url: str, token: str, title: str) -> str:
    response = httpx.post(f"{url}/api/v1/documents", headers={"Authorization": f"Bearer {token}"},
                          json={"type": "SOP", "title": title, "department": "BENCH"}, timeout=60)
    if response.status_code != 201:
        raise SystemExit(f"creating a document failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["number"])


def upload_api(url: str, token: str, number: str, path: Path) -> tuple[float, httpx.Response]:
    with path.open("rb") as fh, httpx.Client(base_url=url, timeout=600) as client:
        t0 = time.perf_counter()
        response = client.post(
            f"/api/v1/documents/{number}/revisions", headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, fh, "application/pdf")},
            data={"change": "major", "change_summary": "First issue", "reason": "bench"},
        )
        return time.perf_counter() - t0, response


# --- (a) upload ingest --------------------------------------------------------------------------------------------


def reference_copy(source: Path, work: Path) -> tuple[float, float]:
    """Seconds for `cp` + `sha256sum` of the file, and for `cp` + `sync` of the copy + `sha256sum`."""
    results = []
    for with_sync in (False, True):
        runs = []
        for _ in range(3):
            target = work / "copy.bin"
            t0 = time.perf_counter()
            subprocess.run(["cp", str(source), str(target)], check=True)
            if with_sync:
                subprocess.run(["sync", str(target)], check=True)
            subprocess.run(["sha256sum", str(target)], check=True, capture_output=True)
            runs.append(time.perf_counter() - t0)
            target.unlink()
        results.append(min(runs))
    return results[0], results[1]


def bench_upload(server: Server, instance: Instance, work: Path, scan: Path, pixels: int, profile: bool) -> None:
    size = scan.stat().st_size
    plain, synced = reference_copy(scan, work)
    print(f"(a) upload ingest of a {size / MB:.1f} MB PDF (100 pages of incompressible images)")
    print(f"    reference: cp + sha256sum          {plain:6.2f} s = {size / MB / plain:6.0f} MB/s")
    print(f"    reference: cp + sync + sha256sum   {synced:6.2f} s = {size / MB / synced:6.0f} MB/s")

    token = api_token(server.url, "author", instance.users["author"])
    warm = create_document_api(server.url, token, "Warm-up upload")
    seconds, response = upload_api(server.url, token, warm, work / "small.pdf")  # imports and first-use costs
    if response.status_code != 201:
        raise SystemExit(f"warm-up upload failed: {response.status_code} {response.text[:300]}")

    for attempt in (1, 2, 3):
        number = create_document_api(server.url, token, f"Scanned batch record {attempt}")
        make_unique(scan, pixels)
        before = proc_kib(server.pid, "VmRSS")
        hwm_reset = reset_peak(server.pid)
        cpu0 = cpu_seconds(server.pid)
        with RssPoller(server.pid) as poller:
            seconds, response = upload_api(server.url, token, number, scan)
        cpu = cpu_seconds(server.pid) - cpu0
        hwm = proc_kib(server.pid, "VmHWM")
        peak = max(poller.peak, hwm if hwm_reset else 0)
        if response.status_code != 201:
            print(f"    HTTP upload {attempt}: {response.status_code} {response.text[:300]}")
            continue
        body = response.json()
        print(f"    HTTP POST /api/v1/documents/{number}/revisions, run {attempt}: {seconds:6.2f} s = "
              f"{size / MB / seconds:6.0f} MB/s = {plain / seconds:4.2f} x cp+sha256sum "
              f"({synced / seconds:4.2f} x with sync); {body['pages']} pages")
        print(f"      server RSS before {before / 1024:6.1f} MiB, peak {peak / 1024:6.1f} MiB "
              f"(VmHWM {'reset' if hwm_reset else 'NOT reset'}: {hwm / 1024:.1f} MiB, polled {poller.peak / 1024:.1f}"
              f" MiB) = growth {(peak - before) / 1024:5.1f} MiB; server CPU {cpu:.2f} s")

    # The same through the service in this process: stage by stage, and the whole.
    settings = instance.settings
    store = blobstore_from_url(settings.resolved_blobstore_url)
    make_unique(scan, pixels)
    stages = work / "stages"
    stages.mkdir()
    t0 = time.perf_counter()
    with scan.open("rb") as fh:
        revisions.spool(fh, stages / "upload", max_bytes=settings.max_upload_bytes)
    t1 = time.perf_counter()
    inspection = renditions.inspect_file(stages / "upload")
    t2 = time.perf_counter()
    with (stages / "upload").open("rb") as fh:
        store.put(fh)
    t3 = time.perf_counter()
    shutil.rmtree(stages)
    print(f"    service stages in this process: spool {t1 - t0:5.2f} s, inspect {t2 - t1:5.2f} s "
          f"({inspection.page_count} pages), blob store put (sha256 + fsync) {t3 - t2:5.2f} s")

    database = Database.from_url(settings.resolved_database_url)
    try:
        with database.read() as s:
            author = Principal.of(accounts.find_user(s, "author"))
        with database.unit_of_work() as s:
            number = documents.create_document(s, principal=author, type_code="SOP", title="In-process upload",
                                               department="BENCH", at=datetime.now(UTC)).number
        make_unique(scan, pixels)
        before = proc_kib("self", "VmRSS")
        hwm_reset = reset_peak("self")
        profiler = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        with RssPoller(os.getpid()) as poller, scan.open("rb") as fh:
            if profiler:
                profiler.enable()
            prepared = revisions.prepare_upload(store, stream=fh, filename=scan.name,
                                                max_bytes=settings.max_upload_bytes)
            with database.unit_of_work() as s:
                revisions.create_revision(s, principal=author, number=number, upload=prepared, change="major",
                                          change_summary="First issue", at=datetime.now(UTC))
            if profiler:
                profiler.disable()
        seconds = time.perf_counter() - t0
        peak = max(poller.peak, proc_kib("self", "VmHWM") if hwm_reset else 0)
        print(f"    service prepare_upload + create_revision in this process: {seconds:6.2f} s = "
              f"{size / MB / seconds:6.0f} MB/s = {plain / seconds:4.2f} x cp+sha256sum; "
              f"RSS growth {(peak - before) / 1024:5.1f} MiB")
        if profiler:
            print_profile(profiler, "prepare_upload + create_revision (100 MB scan)")
    finally:
        database.dispose()


def print_profile(profiler: cProfile.Profile, what: str, lines: int = 18) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(lines)
    print(f"    --- cProfile: {what} (cumulative) ---")
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "   List reduced")):
            print("    " + line[:150])


# --- (b) controlled copies ------------------------------------------------------------------------------------------


def bench_copy(server: Server, instance: Instance, work: Path, scan: Path | None, pixels: int, runs: int) -> None:
    pdf100 = work / "sop-100-pages.pdf"
    make_text_pdf(pdf100, 100)
    token = api_token(server.url, "author", instance.users["author"])
    number = create_document_api(server.url, token, "Long procedure")
    _seconds, response = upload_api(server.url, token, number, pdf100)
    if response.status_code != 201:
        raise SystemExit(f"upload of the 100-page PDF failed: {response.status_code} {response.text[:300]}")
    session = login_session(server.url, "author", instance.users["author"])
    print(f"(b) controlled copy of a 100-page text PDF ({pdf100.stat().st_size / MB:.2f} MB) through "
          f"GET /documents/{number}/revisions/1.0/controlled-copy")
    with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: session}, timeout=120) as client:
        times, sizes, pages = [], [], 0
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            response = client.get(f"/documents/{number}/revisions/1.0/controlled-copy")
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"controlled copy failed: {response.status_code} {response.text[:300]}")
            sizes.append(len(response.content))
            pages = len(renditions_pdf_pages(response.content))
        times = times[1:]  # the first one includes first-use imports
        print(f"    {runs} runs: p50 {ms(percentile(times, 50))}  max {ms(max(times))}  "
              f"({pages} pages out, {sizes[-1] / MB:.2f} MB)")
        if scan is not None:
            number = create_document_api(server.url, token, "Scanned batch record (copy)")
            make_unique(scan, pixels)
            _seconds, response = upload_api(server.url, token, number, scan)
            if response.status_code == 201:
                t0 = time.perf_counter()
                response = client.get(f"/documents/{number}/revisions/1.0/controlled-copy")
                seconds = time.perf_counter() - t0
                print(f"    the {scan.stat().st_size / MB:.0f} MB scan (100 pages): {ms(seconds)} "
                      f"(status {response.status_code}, {len(response.content) / MB:.1f} MB out)")


def renditions_pdf_pages(content: bytes) -> list[object]:
    from pypdf import PdfReader

    return list(PdfReader(io.BytesIO(content)).pages)


# --- (c) lists and search -------------------------------------------------------------------------------------------


def run_wrk(url: str, header: str, values: list[str], connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "-s", script.name, url,
               "--", header, *values]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 120)
    finally:
        os.unlink(script.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    return {"requests": raw["requests"], "seconds": raw["duration_us"] / 1e6, "p50": raw["p50_us"] / 1e6,
            "p95": raw["p95_us"] / 1e6, "p99": raw["p99_us"] / 1e6, "max": raw["max_us"] / 1e6,
            "non200": raw["non200"], "errors": raw["socket_errors"], "bytes": raw["bytes"]}


def run_python(url: str, header: str, values: list[str], connections: int, duration: int) -> dict[str, float]:
    async def run() -> dict[str, float]:
        latencies: list[float] = []
        bad = errors = size = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            stop_at = time.perf_counter() + duration

            async def worker(index: int) -> None:
                nonlocal bad, errors, size
                n = index
                while time.perf_counter() < stop_at:
                    n += 1
                    t0 = time.perf_counter()
                    try:
                        response = await client.get(url, headers={header: values[n % len(values)]})
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    bad += response.status_code != 200
                    size += len(response.content)

            started = time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(connections)))
            seconds = time.perf_counter() - started
        return {"requests": len(latencies), "seconds": seconds, "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95), "p99": percentile(latencies, 99), "max": max(latencies),
                "non200": bad, "errors": errors, "bytes": size}

    return asyncio.run(run())


def sequential(url: str, header: str, value: str, n: int = 50) -> tuple[float, float, int, int]:
    """One client alone: p50 and p95 of n requests, the response size and the result count line."""
    times = []
    with httpx.Client(timeout=30, headers={header: value}) as client:
        client.get(url)
        for _ in range(n):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"GET {url}: {response.status_code} {response.text[:300]}")
    total = -1
    if response.headers.get("content-type", "").startswith("application/json"):
        total = int(response.json().get("total", -1))
    else:
        marker = '<p class="muted count">'
        if marker in response.text:
            start = response.text.index(marker) + len(marker)
            total = int(response.text[start:].split(" ", 1)[0].replace(",", ""))
    return percentile(times, 50), percentile(times, 95), len(response.content), total


def bench_lists(server: Server, instance: Instance, docs: int, connections: int, duration: int, client: str,
                profile: bool) -> None:
    sessions = [f"{SESSION_COOKIE}={login_session(server.url, 'staff', instance.users['staff'])}" for _ in range(4)]
    token = api_token(server.url, "staff", instance.users["staff"])
    bearer = [f"Bearer {token}"]
    load = run_wrk if client == "wrk" else run_python
    print(f"(c) {docs:,} effective documents, as staff; {connections} concurrent connections for {duration} s each, "
          f"load from {'wrk (2 threads, Lua)' if client == 'wrk' else 'Python httpx on asyncio'}")
    targets = (
        ("reference      GET / (dashboard)", "/", "Cookie", sessions),
        ("list page      GET /documents", "/documents", "Cookie", sessions),
        (f"search page    GET /documents?q={COMMON_WORD}", f"/documents?q={COMMON_WORD}", "Cookie", sessions),
        (f"search page    GET /documents?q={RARE_WORD}", f"/documents?q={RARE_WORD}", "Cookie", sessions),
        (f"search page    GET /documents?q={EVERYWHERE_WORD}", f"/documents?q={EVERYWHERE_WORD}", "Cookie", sessions),
        (f"API search     GET /api/v1/documents?q={COMMON_WORD}", f"/api/v1/documents?q={COMMON_WORD}",
         "Authorization", bearer),
        (f"API search     GET /api/v1/documents?q={RARE_WORD}", f"/api/v1/documents?q={RARE_WORD}",
         "Authorization", bearer),
    )
    for label, path, header, values in targets:
        url = server.url + path
        p50, p95, size, total = sequential(url, header, values[0])
        cpu0 = cpu_seconds(server.pid)
        result = load(url, header, values, connections, duration)
        cpu = cpu_seconds(server.pid) - cpu0
        rate = result["requests"] / result["seconds"]
        counted = f"{total:,} results, " if total >= 0 else ""
        print(f"    {label}  ({counted}{size / 1024:.0f} KiB)")
        print(f"      1 client:  p50 {ms(p50)}  p95 {ms(p95)}")
        print(f"      {connections} clients: p50 {ms(result['p50'])}  p95 {ms(result['p95'])}  "
              f"p99 {ms(result['p99'])}  {rate:5.0f} req/s; non-200 {result['non200']}, errors {result['errors']}; "
              f"server CPU {cpu / result['seconds']:.2f} cores")
    if profile:
        profile_search(instance, docs)


def profile_search(instance: Instance, docs: int) -> None:
    """Time search.search in this process, statement by statement (the SQL is most of a list page)."""
    from sqlalchemy import event

    database = Database.from_url(instance.settings.resolved_database_url)
    statements: list[tuple[float, str]] = []

    def before(conn, _cursor, _statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append((time.perf_counter() - conn.info["bench_t0"], " ".join(statement.split())))

    event.listen(database.engine, "before_cursor_execute", before)
    event.listen(database.engine, "after_cursor_execute", after)
    try:
        with database.read() as s:
            staff = Principal.of(accounts.find_user(s, "staff"))
        queries = (("list", search.Query()), (f"q={COMMON_WORD}", search.Query(q=COMMON_WORD)),
                   (f"q={RARE_WORD}", search.Query(q=RARE_WORD)))
        for label, query in queries:
            runs: list[tuple[float, list[tuple[float, str]]]] = []
            for _ in range(11):
                statements.clear()
                t0 = time.perf_counter()
                with database.read() as s:
                    search.search(s, principal=staff, query=query)
                runs.append((time.perf_counter() - t0, list(statements)))
            runs.sort(key=lambda run: run[0])
            total, median = runs[len(runs) // 2]
            print(f"    search.search({label}) in this process, {docs:,} documents: median {ms(total)}; its SQL:")
            for seconds, statement in median:
                if statement != "BEGIN":
                    print(f"      {ms(seconds)}  {statement[:110]}")
    finally:
        database.dispose()


# --- main ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="documents to seed for (c)")
    parser.add_argument("--upload-mb", type=int, default=100, help="size of the PDF for (a), in MB (10^6 bytes)")
    parser.add_argument("--copy-runs", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per page in (c)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-copy", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process upload and search calls")
    parser.add_argument("--workers", type=int, default=2, help="docctl serve --workers (one per core)")
    args = parser.parse_args()
    global WORKERS  # noqa: PLW0603
    WORKERS = args.workers
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"

    print(f"docctl documents bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}; embedded SQLite (WAL), local blob store, "
          "one uvicorn process")
    work = Path(tempfile.mkdtemp(prefix="docctl-documents-bench-"))
    try:
        t0 = time.perf_counter()
        instance = make_instance(work)
        print(f"seeded {len(instance.users)} users in {time.perf_counter() - t0:.1f} s")
        (work / "small.pdf").write_bytes(small_pdf())
        if not args.skip_search:
            seconds = seed_documents(instance, args.docs)
            print(f"seeded {args.docs:,} effective documents through the services in {seconds:.0f} s "
                  f"({args.docs / seconds:.0f}/s)")
        scan, pixels = None, 0
        if not (args.skip_upload and args.skip_copy):
            scan = work / "scan-100mb.pdf"
            t0 = time.perf_counter()
            pixels = make_scan_pdf(scan, args.upload_mb * MB)
            print(f"generated {scan.name}: {scan.stat().st_size:,} bytes in {time.perf_counter() - t0:.1f} s")
        server = start_server(instance, work / "server.log")
        try:
            print(f"server {server.url} (pid {server.pid})")
            if not args.skip_upload and scan is not None:
                bench_upload(server, instance, work, scan, pixels, args.profile)
            if not args.skip_copy:
                bench_copy(server, instance, work, scan, pixels, args.copy_runs)
            if not args.skip_search:
                bench_lists(server, instance, args.docs, args.connections, args.duration, client, args.profile)
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
