"""Blob store throughput and memory: put and verified get of one large file, local and S3 (rclone), against
`cp` + `sha256sum` of the same file.

    .venv/bin/python bench/blobstore_bench.py [--size-mb 200] [--repeat 3] [--dir /tmp]

Prints MiB/s per operation (best of --repeat), the ratio to the baseline (target: at least 0.5) and the
growth of this process's peak RSS during the operation (target: under 64 MiB; VmHWM from /proc/self/status,
reset through /proc/self/clear_refs before each operation). Every put goes to an empty store, so none is a
no-op. The S3 server is a separate process, started here with the tests' helper; its own peak RSS is shown
for information.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from docctl.blobstore import BlobStore, LocalBlobStore, blobstore_from_url  # noqa: E402
from tests.fixtures.s3 import RcloneS3Server, find_rclone  # noqa: E402

MiB = 1024 * 1024
RATIO_TARGET = 0.5
MEMORY_TARGET_MIB = 64


def status_kib(field: str, pid: str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Result:
    label: str
    seconds: float
    rss_growth_mib: float | None = None


def measure(label: str, run: Callable[[int], None], repeat: int, *, track_memory: bool = True) -> Result:
    """Best time of `repeat` runs of `run(i)`; the largest peak-RSS growth seen across them."""
    best, growth = float("inf"), None
    for i in range(repeat):
        can_reset = track_memory and reset_peak_rss()
        before = status_kib("VmRSS")
        start = time.perf_counter()
        run(i)
        best = min(best, time.perf_counter() - start)
        if can_reset:
            growth = max(growth or 0.0, (status_kib("VmHWM") - before) / 1024)
    return Result(label, best, growth)


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
        f.write(os.urandom(size % MiB))


def bench_store(name: str, new_store: Callable[[int], BlobStore], source: Path, repeat: int) -> list[Result]:
    stores: list[BlobStore] = []
    refs = []

    def put(i: int) -> None:
        store = new_store(i)
        with open(source, "rb") as f:
            refs.append(store.put(f))
        stores.append(store)

    def get(i: int) -> None:
        with stores[i].open(refs[i].sha256) as reader:
            for _ in reader.iter_chunks():
                pass
            assert reader.verified

    return [measure(f"{name} put", put, repeat), measure(f"{name} get (verified)", get, repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200, help="file size in MiB (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per operation, best kept (default 3)")
    parser.add_argument("--dir", default=None, help="where to put the work files (default: the temp dir)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 store")
    args = parser.parse_args()

    size = args.size_mb * MiB
    work = Path(tempfile.mkdtemp(prefix="docctl-blobbench-", dir=args.dir))
    server: RcloneS3Server | None = None
    try:
        source = work / "source.bin"
        make_file(source, size)

        def cp_and_hash(i: int) -> None:
            subprocess.run(["cp", str(source), str(work / f"copy-{i}.bin")], check=True)
            subprocess.run(["sha256sum", str(source)], check=True, capture_output=True)

        def hash_only(i: int) -> None:
            subprocess.run(["sha256sum", str(work / f"copy-{i}.bin")], check=True, capture_output=True)

        baseline_put = measure("baseline cp + sha256sum", cp_and_hash, args.repeat, track_memory=False)
        baseline_get = measure("baseline sha256sum", hash_only, args.repeat, track_memory=False)

        results = bench_store("local", lambda i: LocalBlobStore(work / f"local-{i}"), source, args.repeat)
        s3_server_peak = None
        if not args.no_s3:
            binary = find_rclone()
            if binary is None:
                print("rclone not found: S3 skipped")
            else:
                server = RcloneS3Server(binary, work / "s3")
                server.start()
                spool = work / "spool"
                spool.mkdir()
                s3 = server

                def new_s3(i: int) -> BlobStore:
                    return blobstore_from_url(s3.url(s3.new_bucket(), spool_dir=str(spool)))

                results += bench_store("s3", new_s3, source, args.repeat)
                s3_server_peak = status_kib("VmHWM", str(server.pid)) / 1024 if server.pid else None

        report(args, size, baseline_put, baseline_get, results, s3_server_peak)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    size: int,
    baseline_put: Result,
    baseline_get: Result,
    results: list[Result],
    s3_server_peak: float | None,
) -> None:
    def rate(r: Result) -> float:
        return size / MiB / r.seconds

    python = sys.version.split()[0]
    print(f"blob store benchmark: {args.size_mb} MiB file, best of {args.repeat}, python {python}")
    print(f"{'operation':<26}{'MiB/s':>9}{'ratio':>8}  {'vs':<24}{'peak RSS growth':>16}")
    for r in (baseline_put, baseline_get):
        print(f"{r.label:<26}{rate(r):>9.0f}{'':>8}  {'':<24}{'':>16}")
    for r in results:
        base = baseline_put if " put" in r.label else baseline_get
        ratio = rate(r) / rate(base)
        mem = f"{r.rss_growth_mib:.1f} MiB" if r.rss_growth_mib is not None else "n/a"
        print(f"{r.label:<26}{rate(r):>9.0f}{ratio:>8.2f}  {base.label:<24}{mem:>16}")
    if s3_server_peak is not None:
        print(f"(rclone S3 server process, peak RSS: {s3_server_peak:.0f} MiB)")
    worst_ratio = min(rate(r) / rate(baseline_put if " put" in r.label else baseline_get) for r in results)
    worst_mem = max((r.rss_growth_mib or 0.0) for r in results)
    print(
        f"targets: ratio >= {RATIO_TARGET} (lowest {worst_ratio:.2f}), "
        f"memory growth < {MEMORY_TARGET_MIB} MiB (highest {worst_mem:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
