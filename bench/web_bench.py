"""Web benchmark: login latency (argon2id at production strength) and dashboard throughput of `docctl serve`.

    .venv/bin/python bench/web_bench.py                    # wrk for the dashboard if installed, else Python
    .venv/bin/python bench/web_bench.py --client python    # force the Python (httpx + asyncio) load generator
    .venv/bin/python bench/web_bench.py --duration 30 --connections 64

Starts the real server as a user would: `docctl demo --no-serve` seeds the eight demo users (one per role,
their passwords already their own, so no forced change) into a temporary DOCCTL_DATA_DIR, then `docctl serve`
runs on a free 127.0.0.1 port with the DEFAULT argon2 settings (production strength) and
DOCCTL_SCHEDULER_INTERVAL_SECONDS=0.

(0) For reference: one argon2id verification in this process with the default parameters, and logins one at a
    time (no contention).
(a) Logins: 8 threads, one per demo user, each doing N logins (default 10) with a fresh httpx client:
    GET /login (anonymous cookie and CSRF token), then POST /login (argon2id verification, a session row and
    an audit event, 303 redirect). Reports the POST latency p50/p95/max, the whole GET+POST, and logins/s.
(b) Dashboard: GET / with a logged-in session cookie (the eight users' sessions in turn) over C connections
    (default 32) for D seconds (default 10). Every response must be 200 (a 303 to /login would mean the
    session was lost: counted and reported). Load from `wrk` (Debian's package: `apt-get install wrk`) with a
    Lua script for percentiles and status checks, or from Python (httpx.AsyncClient on asyncio, one process).
    On a 2-core machine the load generator competes with the server for CPU; wrk costs far less than Python.

Also reports the server process's CPU use during each phase (from /proc). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
from argon2 import PasswordHasher, Type

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docctl.config import Settings  # noqa: E402

SESSION_COOKIE = "docctl_session"
LUA = r"""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  cookies = args
  n = 0
  bad = 0
  redirects = 0
end

function request()
  n = n + 1
  local cookie = "docctl_session=" .. cookies[(n % #cookies) + 1]
  return wrk.format("GET", "/", { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if status == 303 then redirects = redirects + 1 end
  end
end

function done(summary, latency, requests)
  local bad, redirects = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad")
    redirects = redirects + t:get("redirects")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %f, "non200": %d, "redirects": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, bad, redirects, e.connect, e.read, e.write, e.timeout))
end
"""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(seconds: list[float]) -> str:
    p50, p95, top = (percentile(seconds, 50), percentile(seconds, 95), max(seconds))
    return f"p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  max {top * 1000:6.0f} ms"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


def bench_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCTL_")}  # default argon2, on purpose
    env.update(DOCCTL_DATA_DIR=str(data_dir), DOCCTL_BASE_URL=f"http://127.0.0.1:{port}",
               DOCCTL_SCHEDULER_INTERVAL_SECONDS="0", PYTHONUNBUFFERED="1")
    return env


def seed_demo_users(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "docctl", "demo", "--no-serve"], env=env, check=True,
                   capture_output=True, timeout=600)
    users = {}
    for line in (data_dir / "demo-credentials.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            username, _role, password = line.split("\t")
            users[username] = password
    return users


def start_server(env: dict[str, str], port: int, log_path: Path) -> Server:
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "docctl", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def login_once(url: str, username: str, password: str) -> tuple[float, float, str]:
    """One login with a fresh client. Returns (POST seconds, GET+POST seconds, session token)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        page = client.get("/login")
        page.raise_for_status()
        t1 = time.perf_counter()
        response = client.post("/login", data={"username": username, "password": password,
                                               "csrf_token": csrf_from(page.text), "next": "/"})
        t2 = time.perf_counter()
        if response.status_code != 303:
            raise RuntimeError(f"login of {username} answered {response.status_code}: {response.text[:300]}")
        token = response.cookies.get(SESSION_COOKIE)
        if not token:
            raise RuntimeError(f"login of {username} set no session cookie")
        return t2 - t1, t2 - t0, token


def reference(server: Server, users: dict[str, str]) -> None:
    """Uncontended figures to read the concurrent ones against."""
    defaults = Settings()
    hasher = PasswordHasher(time_cost=defaults.argon2_time_cost, memory_cost=defaults.argon2_memory_kib,
                            parallelism=defaults.argon2_parallelism, type=Type.ID)
    hashed = hasher.hash("Reference-Password-2026")
    verify = []
    for _ in range(5):
        t0 = time.perf_counter()
        hasher.verify(hashed, "Reference-Password-2026")
        verify.append(time.perf_counter() - t0)
    posts = [login_once(server.url, u, p)[0] for u, p in list(users.items()) * 2]
    print(f"(0) one argon2id verify in this process (5 runs): {spread(verify)}")
    print(f"    POST /login, one at a time ({len(posts)} logins):        {spread(posts)}")


def bench_logins(server: Server, users: dict[str, str], per_user: int) -> dict[str, str]:
    """8 threads (one per user) × per_user logins; returns one fresh session token per user."""
    posts: list[float] = []
    totals: list[float] = []
    tokens: dict[str, str] = {}
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(users))

    def worker(username: str, password: str) -> None:
        barrier.wait()
        for _ in range(per_user):
            try:
                post, total, token = login_once(server.url, username, password)
            except Exception as exc:  # report, do not hide
                with lock:
                    failures.append(f"{username}: {exc}")
                continue
            with lock:
                posts.append(post)
                totals.append(total)
                tokens[username] = token

    threads = [threading.Thread(target=worker, args=item) for item in users.items()]
    cpu0, wall0 = server.cpu(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall0, server.cpu() - cpu0

    print(f"(a) logins: {len(users)} concurrent threads × {per_user} logins = {len(posts)} ok, "
          f"{len(failures)} failed, in {wall:.1f} s ({len(posts) / wall:.1f} logins/s)")
    for failure in failures[:5]:
        print(f"    FAILED {failure}")
    if posts:
        print(f"    POST /login (argon2id verify + session + audit): {spread(posts)}")
        print(f"    GET /login + POST /login:                        {spread(totals)}")
    print(f"    server CPU {cpu:.1f} s over {wall:.1f} s wall = {cpu / wall:.2f} cores")
    return tokens


def dashboard_wrk(server: Server, tokens: list[str], connections: int, duration: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
               "-s", script.name, f"{server.url}/", "--", *tokens]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 120)
    finally:
        os.unlink(script.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    return {
        "requests": raw["requests"], "seconds": raw["duration_us"] / 1e6, "p50": raw["p50_us"] / 1e6,
        "p95": raw["p95_us"] / 1e6, "p99": raw["p99_us"] / 1e6, "max": raw["max_us"] / 1e6,
        "non200": raw["non200"], "redirects": raw["redirects"],
        "socket_errors": raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        "bytes": raw["bytes"], "bytes_what": "on the wire, with headers",
    }


def dashboard_python(server: Server, tokens: list[str], connections: int, duration: int) -> dict:
    async def run() -> dict:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors = 0
        total_bytes = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            stop_at = time.perf_counter() + duration

            async def worker(index: int) -> None:
                nonlocal errors, total_bytes
                n = index
                while time.perf_counter() < stop_at:
                    n += 1
                    cookie = f"{SESSION_COOKIE}={tokens[n % len(tokens)]}"
                    t0 = time.perf_counter()
                    try:
                        response = await client.get("/", headers={"Cookie": cookie})
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    total_bytes += len(response.content)

            started = time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(connections)))
            seconds = time.perf_counter() - started
        return {
            "requests": len(latencies), "seconds": seconds, "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "max": max(latencies, default=0),
            "non200": sum(c for s, c in statuses.items() if s != 200), "redirects": statuses.get(303, 0),
            "socket_errors": errors, "bytes": total_bytes, "bytes_what": "body",
        }

    return asyncio.run(run())


def bench_dashboard(server: Server, tokens: list[str], connections: int, duration: int, client: str) -> None:
    for token in tokens:  # every session must open the dashboard before we measure it
        check = httpx.get(f"{server.url}/", cookies={SESSION_COOKIE: token}, timeout=30)
        if check.status_code != 200 or "Welcome," not in check.text:
            raise SystemExit(f"a session does not open the dashboard: {check.status_code}")
    cpu0 = server.cpu()
    if client == "wrk":
        result = dashboard_wrk(server, tokens, connections, duration, threads=2)
        how = "wrk 2 threads (Lua script: status check, percentiles)"
    else:
        result = dashboard_python(server, tokens, connections, duration)
        how = "Python httpx.AsyncClient on asyncio, one process"
    cpu = server.cpu() - cpu0
    seconds = result["seconds"]
    print(f"(b) dashboard GET / with a session cookie ({len(tokens)} sessions in turn), "
          f"{connections} connections, {seconds:.1f} s, load from {how}:")
    per_response = result["bytes"] / max(result["requests"], 1) / 1024
    print(f"    {result['requests']} requests = {result['requests'] / seconds:.0f} requests/s; "
          f"{per_response:.1f} KiB per response ({result['bytes_what']})")
    print(f"    latency p50 {result['p50'] * 1000:6.1f} ms  p95 {result['p95'] * 1000:6.1f} ms  "
          f"p99 {result['p99'] * 1000:6.1f} ms  max {result['max'] * 1000:6.1f} ms")
    print(f"    non-200 responses {result['non200']} (303 to /login: {result['redirects']}), "
          f"socket errors/timeouts {result['socket_errors']}")
    print(f"    server CPU {cpu:.1f} s over {seconds:.1f} s wall = {cpu / seconds:.2f} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins-per-user", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds of dashboard load")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="dashboard load generator (auto: wrk if installed)")
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --client python")

    defaults = Settings()
    print(f"docctl web bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}")
    print(f"argon2id defaults (production strength): time_cost={defaults.argon2_time_cost}, "
          f"memory={defaults.argon2_memory_kib} KiB, parallelism={defaults.argon2_parallelism}; "
          "embedded SQLite (WAL), one uvicorn process")

    work = Path(tempfile.mkdtemp(prefix="docctl-web-bench-"))
    data_dir = work / "data"
    port = free_port()
    env = bench_env(data_dir, port)
    try:
        t0 = time.perf_counter()
        users = seed_demo_users(env, data_dir)
        seeded = time.perf_counter() - t0
        print(f"seeded {len(users)} demo users with `docctl demo --no-serve` in {seeded:.1f} s")
        server = start_server(env, port, work / "server.log")
        try:
            print(f"server {server.url} (pid {server.process.pid})")
            for username, password in users.items():  # warm-up: one login each (imports, caches, pages)
                login_once(server.url, username, password)
            reference(server, users)
            tokens = bench_logins(server, users, args.logins_per_user)
            bench_dashboard(server, list(tokens.values()), args.connections, args.duration, client)
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
