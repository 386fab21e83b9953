"""Electronic signatures benchmark: verification rate and the cost of signing with a wrapped key.

    .venv/bin/python bench/signatures_bench.py                              # 20,000 signatures by 50 signers
    .venv/bin/python bench/signatures_bench.py --signatures 100000 --threads 8 --signs-per-thread 20

(a) Verification: `verify_signature` (manifest parse and canonical check, certificate chain at the signing time,
    ECDSA over the manifest, signer UID, content hash) over N signatures by S signers, one process: a cold pass
    (certificate caches cleared first) and a warm pass, with a breakdown of its parts and, for comparison, the
    rate with the certificate caches cleared before every signature.
(b) Signing: `unwrap` (scrypt at the production cost, AES-GCM, PKCS#8 parse) + `sign_manifest`, one at a time
    and from T concurrent threads; p50/p95/max per signature. A probe thread that wants to wake every 5 ms
    records its worst lateness meanwhile (does the work leave the GIL free for other requests?). Optionally
    (--with-argon2) also one argon2id verification at the production settings before each unwrap, as a
    signing request that checks the password hash too would do.

Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # noqa: E402

from docctl.signatures import (  # noqa: E402
    build_manifest,
    certs,
    create_instance_ca,
    generate_user_key,
    issue_user_certificate,
    load_ca_key,
    parse_manifest,
    sign_manifest,
    unwrap,
    verify,
    verify_signature,
)
from docctl.signatures.keys import DEFAULT_KDF_N, KDF_P, KDF_R  # noqa: E402

T0 = datetime(2026, 11, 21, 9, 0, 0, tzinfo=UTC)
PASSWORD = "Bench passw0rd, long enough!"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def clear_caches() -> None:
    certs.load_certificate.cache_clear()
    verify._signer_key.cache_clear()
    verify._issuance_problem.cache_clear()


def make_signers(count: int, kdf_n: int):
    ca = create_instance_ca("bench", b"bench secret", at=T0)
    ca_key = load_ca_key(ca, b"bench secret")
    signers = []
    for i in range(count):
        key = generate_user_key(PASSWORD, kdf_n=kdf_n)
        user_id = uuid.UUID(int=(0x5EED << 96) + i)
        cert = issue_user_certificate(ca, ca_key, key.public_key_pem, user_id=user_id, username=f"user{i:02d}",
                                      full_name=f"Person Number{i:02d}", title="Reviewer", at=T0)
        signers.append((user_id, key, cert))
    return ca, signers


def manifest_for(i: int, user_id: uuid.UUID, content: str) -> bytes:
    return build_manifest(
        document_id=uuid.UUID(int=i // 3), number=f"SOP-{i // 3:05d}", title=f"Procedure number {i // 3}",
        revision_id=uuid.UUID(int=(1 << 64) + i), version="1.0", content_sha256=content,
        rendition_sha256=hashlib.sha256(content.encode()).hexdigest(), meaning="Approved",
        signer_id=user_id, username="user", name="Person", signer_title="Reviewer",
        signed_at=T0 + timedelta(days=1, seconds=i), statement="I approve this document.", task_id=uuid.uuid4(),
    )


def bench_verify(args) -> None:
    started = time.perf_counter()
    ca, signers = make_signers(args.signers, 2**4)  # unwrap cost does not matter here
    keys = [unwrap(key, PASSWORD) for _, key, _ in signers]
    rows = []
    for i in range(args.signatures):
        user_id, _, cert = signers[i % len(signers)]
        content = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
        manifest = manifest_for(i, user_id, content)
        rows.append((manifest, sign_manifest(keys[i % len(keys)], manifest), cert, content))
    setup = time.perf_counter() - started
    mean_size = statistics.mean(len(row[0]) for row in rows)
    print(f"(a) verification: {args.signatures:,} signatures by {args.signers} signers "
          f"(set up in {setup:.1f} s; manifests {mean_size:.0f} B on average), one process")

    def run(label: str, each=None, subset=None) -> float:
        subset = rows if subset is None else subset
        t = time.perf_counter()
        for manifest, signature, cert, content in subset:
            if each:
                each()
            verify_signature(manifest, signature, cert, ca.certificate_pem, expected_content_sha256=content)
        elapsed = time.perf_counter() - t
        rate = len(subset) / elapsed
        print(f"    {label:<44} {rate:>9,.0f} signatures/s  ({len(subset):,} in {elapsed:.2f} s, "
              f"{1e6 / rate:.0f} µs each)")
        return rate

    clear_caches()
    run("verify_signature, cold caches")
    run("verify_signature, warm")
    run("verify_signature, caches cleared every time", each=clear_caches, subset=rows[:2000])
    public = {cert: verify._signer_key(cert) for _, _, cert in signers}
    t = time.perf_counter()
    for manifest, *_ in rows:
        parse_manifest(manifest)
    parse_us = (time.perf_counter() - t) / len(rows) * 1e6
    t = time.perf_counter()
    for manifest, signature, cert, _ in rows:
        public[cert].verify(signature, manifest, ec.ECDSA(hashes.SHA256()))
    ecdsa_us = (time.perf_counter() - t) / len(rows) * 1e6
    print(f"    parts: parse_manifest {parse_us:.1f} µs, ECDSA P-256 verify alone {ecdsa_us:.1f} µs "
          f"(= {1e6 / ecdsa_us:,.0f}/s ceiling for one process)")


def bench_sign(args) -> None:
    print(f"(b) signing: unwrap (scrypt n=2^{args.kdf_n.bit_length() - 1}, r={KDF_R}, p={KDF_P}: "
          f"{128 * args.kdf_n * KDF_R * KDF_P // 2**20} MiB) + sign_manifest")
    _, signers = make_signers(args.threads, args.kdf_n)
    manifest = manifest_for(0, signers[0][0], "0" * 64)
    salt = os.urandom(16)
    raw = []
    for _ in range(args.reference_runs):
        t = time.perf_counter()
        Scrypt(salt=salt, length=32, n=args.kdf_n, r=KDF_R, p=KDF_P).derive(PASSWORD.encode())
        raw.append(time.perf_counter() - t)
    one = []
    for _ in range(args.reference_runs):
        t = time.perf_counter()
        sign_manifest(unwrap(signers[0][1], PASSWORD), manifest)
        one.append(time.perf_counter() - t)
    print(f"    scrypt alone, one at a time ({args.reference_runs} runs):  p50 {percentile(raw, 50) * 1e3:6.1f} ms"
          f"  max {max(raw) * 1e3:6.1f} ms")
    print(f"    unwrap + sign, one at a time:          p50 {percentile(one, 50) * 1e3:6.1f} ms"
          f"  max {max(one) * 1e3:6.1f} ms")
    hasher = stored = None
    if args.with_argon2:
        from argon2 import PasswordHasher

        from docctl.config import Settings

        fields = Settings.model_fields
        hasher = PasswordHasher(time_cost=fields["argon2_time_cost"].default,
                                memory_cost=fields["argon2_memory_kib"].default,
                                parallelism=fields["argon2_parallelism"].default)
        stored = hasher.hash(PASSWORD)
    runs = [("unwrap + sign", None)]
    if hasher:
        runs.append(("argon2id verify + unwrap + sign", lambda: hasher.verify(stored, PASSWORD)))
    for what, before in runs:
        cpu = time.process_time()
        latencies, wall, lateness = concurrent(signers, manifest, args.threads, args.signs_per_thread, before)
        cores = (time.process_time() - cpu) / wall
        print(f"    {args.threads} threads × {args.signs_per_thread}, {what}:"
              f" p50 {percentile(latencies, 50) * 1e3:6.1f} ms  p95 {percentile(latencies, 95) * 1e3:6.1f} ms"
              f"  max {max(latencies) * 1e3:6.1f} ms; {len(latencies) / wall:.1f} signatures/s;"
              f" {cores:.2f} cores busy; probe's worst lateness {lateness * 1e3:.1f} ms")


def concurrent(signers, manifest: bytes, threads: int, per_thread: int, before=None):
    """Each of `threads` threads signs `per_thread` times back to back with its own key (`before` first, if
    given); a probe thread meanwhile sleeps 5 ms at a time and records how late it wakes at worst."""
    latencies: list[float] = []
    lock = threading.Lock()
    worst = [0.0]
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            time.sleep(0.005)
            worst[0] = max(worst[0], time.perf_counter() - t - 0.005)

    def worker(index: int) -> None:
        _, key, _ = signers[index % len(signers)]
        for _ in range(per_thread):
            t = time.perf_counter()
            if before:
                before()
            sign_manifest(unwrap(key, PASSWORD), manifest)
            with lock:
                latencies.append(time.perf_counter() - t)

    prober = threading.Thread(target=probe)
    prober.start()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - t
    stop.set()
    prober.join()
    return latencies, wall, worst[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=20_000)
    parser.add_argument("--signers", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--signs-per-thread", type=int, default=10)
    parser.add_argument("--reference-runs", type=int, default=10)
    parser.add_argument("--kdf-n", type=int, default=DEFAULT_KDF_N)
    parser.add_argument("--with-argon2", action="store_true", help="also time argon2id verify + unwrap + sign")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    import cryptography

    print(f"{platform.python_implementation()} {platform.python_version()}, cryptography {cryptography.__version__}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    if not args.skip_verify:
        bench_verify(args)
    bench_sign(args)


if __name__ == "__main__":
    main()
