"""The inspector's workspace at scale: a million audit events on the embedded SQLite, then what an inspector does.

  .venv/bin/python bench/inspector_bench.py                  # 1,000,000 events (~4 min)
  .venv/bin/python bench/inspector_bench.py --events 200000  # smaller

Measured, in this process, through the real application (FastAPI's TestClient: routing, authentication, the
services, templates; no network):
- the filtered trail page (`GET /audit?...`, 50 rows, newest first) for several filters and a deep keyset page:
  p50 / p95 / max over `--reps` requests each (target: p95 under 200 ms);
- the first checkpoint after the bulk load (hashes and caches every complete subtree once), then inclusion proofs
  (`GET /api/v1/audit/{seq}/proof`) for random events (target: under 50 ms) and a consistency proof;
- the CSV export of the whole trail through the service that streams it (`iter_audit_csv`): rows/s and memory,
  both Python's peak (tracemalloc) and the process's peak RSS growth (target: >= 50,000 rows/s, < 100 MB);
- "verify integrity" as the browser runs it (`integrity.start` + `integrity.run`: every event, then every
  checkpoint with consistency proofs): events/s (target: >= 300,000/s).

The events are bulk-created as bench/audit_bench.py does (the rows `log.append` would write, with correct leaves
and roots); then the system is initialised on top of them (configuration, the instance CA, an inspector).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_bench import ACTORS, bulk_sqlite, event_args  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from docctl.clock import SystemClock  # noqa: E402
from docctl.config import Settings  # noqa: E402
from docctl.db.models import User  # noqa: E402
from docctl.db.session import Database  # noqa: E402
from docctl.domain.usernames import username_key  # noqa: E402
from docctl.services import accounts, audit_export, checkpoints, integrity, system  # noqa: E402
from docctl.services.audit_trail import TrailFilter  # noqa: E402
from docctl.services.credentials import AccountConfig  # noqa: E402
from docctl.services.principal import Principal  # noqa: E402
from docctl.web.app import create_app  # noqa: E402

PASSWORD = "Correct-Horse-42-Battery"


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})"


def timed(client: TestClient, url: str, reps: int, **kwargs: object) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        response = client.get(url, **kwargs)  # type: ignore[arg-type]
        out.append(time.perf_counter() - t)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])  # noqa: S101
    return out


def rss_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(tmp: Path, n: int) -> tuple[Settings, Database]:
    data = tmp / "data"
    data.mkdir()
    t = time.perf_counter()
    bulk_sqlite(data / "docctl.sqlite3", n)
    print(f"bulk-created {n:,} events in {time.perf_counter() - t:.1f} s "
          f"(file {(data / 'docctl.sqlite3').stat().st_size / 2**20:,.0f} MiB)")
    settings = Settings(data_dir=data, scheduler_interval_seconds=0, argon2_time_cost=1, argon2_memory_kib=256,
                        argon2_parallelism=1)
    db = Database.from_url(settings.resolved_database_url)
    now = datetime.now(UTC)
    with db.unit_of_work() as s:
        system.initialise(s, settings, at=now)
    config = AccountConfig.from_settings(settings)
    with db.unit_of_work() as s:  # the people the bulk history names, so that filtering by user ID finds them
        for actor in ACTORS:
            s.add(User(id=actor.id, username=actor.username, username_key=username_key(actor.username),
                       full_name=actor.name, password_hash="!", password_set_at=now, created_at=now,
                       status="deactivated", deactivated_at=now))
    with db.unit_of_work() as s:
        created = accounts.create_user(s, config, principal=Principal.operator(), username="ines",
                                       full_name="Ines Inspector", roles=["inspector"], at=now, password=PASSWORD)
    with db.unit_of_work() as s:  # as if they had chosen it: no forced change in the bench
        accounts.get_user(s, created.user.id).password_set_by_admin = False
    return settings, db


def bench_pages(client: TestClient, n: int, reps: int) -> None:
    print("\n[trail page] GET /audit (50 rows, newest first), filtered")
    actor = ACTORS[7].username
    subject = event_args(n // 2)["subject"].id
    day = event_args(n // 3)["at"].date().isoformat()
    for label, url in [
        ("no filter", "/audit"),
        ("action = role:grant", "/audit?action=role:grant"),
        ("action prefix user:", "/audit?action=user:"),
        (f"actor = {actor}", f"/audit?actor={actor}"),
        ("one subject", f"/audit?subject_type=revision&subject_id={subject}"),
        (f"one day ({day})", f"/audit?since={day}&until={day}"),
        ("actor + action", f"/audit?actor={actor}&action=user:login"),
        ("deep page (before=n/2)", f"/audit?before={n // 2}"),
        ("deep page, filtered", f"/audit?action=config:change&before={n // 3}"),
    ]:
        print(f"  {label:<28} {stats(timed(client, url, reps))}")


def bench_proofs(db: Database, client: TestClient, headers: dict[str, str], n: int, reps: int) -> None:
    print("\n[checkpoints and proofs]")
    with db.read() as s:
        before = checkpoints.latest(s)
    assert before is None  # noqa: S101
    t = time.perf_counter()
    made = client.post("/api/v1/checkpoints", headers=headers)
    assert made.status_code == 201, made.text  # noqa: S101
    size = made.json()["checkpoint"]["tree_size"]
    print(f"  first checkpoint (caches every complete subtree once): {time.perf_counter() - t:.2f} s, "
          f"tree size {size:,}")
    rng = random.Random(6962)
    samples = timed(client, "/api/v1/audit/1/proof", 1, headers=headers)  # warm
    samples = []
    for seq in [rng.randrange(1, size + 1) for _ in range(reps)]:
        samples += timed(client, f"/api/v1/audit/{seq}/proof", 1, headers=headers)
    print(f"  inclusion proof GET /api/v1/audit/{{seq}}/proof   {stats(samples)}")
    with db.unit_of_work() as s:  # more events and a second checkpoint: a consistency proof between the two
        from docctl.audit import log
        from docctl.audit.tags import Tag
        log.append_many(s, [log.Entry(Tag.CONFIG_CHANGE, log.SYSTEM, log.Subject("bench", str(i)),
                                      datetime.now(UTC)) for i in range(1000)])
    client.post("/api/v1/checkpoints", headers=headers)
    samples = timed(client, f"/api/v1/checkpoints/consistency?first={size}", reps, headers=headers)
    print(f"  consistency proof between two checkpoints      {stats(samples)}")


def export_all(db: Database, n: int) -> tuple[int, int]:
    rows = size = 0
    for chunk in audit_export.iter_audit_csv(db.read, filters=TrailFilter(), through_seq=n + 10_000):
        rows += chunk.count("\r\n")
        size += len(chunk)
    return rows - 1, size


def bench_csv(settings: Settings, n: int) -> None:
    """In a fresh process, so that its peak RSS is the export's and not the bulk load's."""
    print("\n[CSV export] the whole trail through iter_audit_csv (keyset batches, fresh read per batch), "
          "in a fresh process")
    done = subprocess.run([sys.executable, __file__, "--csv-only", settings.resolved_database_url, str(n)],
                          capture_output=True, text=True, check=True)
    print(done.stdout, end="")


def csv_only(url: str, n: int) -> None:
    db = Database.from_url(url)
    rss0 = rss_mib()
    t = time.perf_counter()
    rows, size = export_all(db, n)
    seconds = time.perf_counter() - t
    print(f"  {rows:,} rows, {size / 2**20:,.0f} MiB of CSV in {seconds:.1f} s = {rows / seconds:,.0f} rows/s; "
          f"peak RSS {rss_mib():.0f} MiB (at start {rss0:.0f} MiB: Python, SQLAlchemy and docctl loaded)")
    tracemalloc.start()  # a second pass for Python's own peak (tracemalloc slows it several times)
    export_all(db, min(n, 200_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  Python peak during an export (tracemalloc, second pass over 200,000): {peak / 2**20:.1f} MiB")


def bench_verify(db: Database, settings: Settings, n: int) -> None:
    print("\n[verify integrity] as the browser runs it: start, then run (events, then checkpoints)")
    with db.read() as s:
        user = accounts.find_user(s, "ines")
        principal = Principal.of(user)
    with db.unit_of_work() as s:
        run_id, _ = integrity.start(s, principal=principal, at=datetime.now(UTC))
    t = time.perf_counter()
    integrity.run(db, None, SystemClock(), run_id)
    seconds = time.perf_counter() - t
    with db.read() as s:
        view = integrity.get(s, run_id, principal=principal, at=datetime.now(UTC))
    print(f"  {view.state}: {view.events_done:,} events and {view.checkpoints_done} checkpoints in {seconds:.2f} s "
          f"= {view.events_done / seconds:,.0f} events/s (problems: {len(view.problems)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--csv-only", nargs=2, metavar=("URL", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.csv_only:
        csv_only(args.csv_only[0], int(args.csv_only[1]))
        return
    print(f"inspector_bench: {args.events:,} events; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="docctl-inspector-bench-") as tmp:
        settings, db = setup(Path(tmp), args.events)
        app = create_app(settings, database=db, run_scheduler=False)
        with TestClient(app) as client:
            token = client.post("/api/v1/auth/token", json={"username": "ines", "password": PASSWORD})
            assert token.status_code == 201, token.text  # noqa: S101
            login_page = client.get("/login")
            csrf = login_page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            logged = client.post("/login", data={"username": "ines", "password": PASSWORD, "csrf_token": csrf},
                                 follow_redirects=False)
            assert logged.status_code == 303, logged.text  # noqa: S101
            bench_pages(client, args.events, args.reps)
            admin = _admin_headers(db, client)
            bench_proofs(db, client, admin, args.events, args.reps)
        bench_csv(settings, args.events)
        bench_verify(db, settings, args.events)
        db.dispose()


def _admin_headers(db: Database, client: TestClient) -> dict[str, str]:
    """Checkpoints on demand are for administrators."""
    settings_config = AccountConfig.from_settings(Settings(argon2_time_cost=1, argon2_memory_kib=256,
                                                           argon2_parallelism=1))
    now = datetime.now(UTC)
    with db.unit_of_work() as s:
        created = accounts.create_user(s, settings_config, principal=Principal.operator(), username="root",
                                       full_name="Root Admin", roles=["admin"], at=now, password=PASSWORD)
    with db.unit_of_work() as s:
        accounts.get_user(s, created.user.id).password_set_by_admin = False
    token = client.post("/api/v1/auth/token", json={"username": "root", "password": PASSWORD})
    assert token.status_code == 201, token.text  # noqa: S101
    return {"Authorization": f"Bearer {token.json()['token']}"}


if __name__ == "__main__":
    main()
