"""One contract for every blob store, run against the local directory store and a real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docctl.blobstore import BlobStore, LocalBlobStore, S3BlobStore, blob_key, blobstore_from_url
from docctl.errors import BlobCorrupt, BlobError, BlobNotFound, BlobTooLarge, ConfigurationError, InvalidInput

MiB = 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Backdoor:
    """Reaches the stored objects without the store: to alter, delete and list them as an intruder would."""

    def __init__(self, store: BlobStore, request: pytest.FixtureRequest) -> None:
        self.store = store
        self.server = request.getfixturevalue("s3_server") if isinstance(store, S3BlobStore) else None
        self.raw = self.server.client() if self.server else None

    def overwrite(self, sha256: str, data: bytes) -> None:
        if isinstance(self.store, LocalBlobStore):
            path = self.store.path(sha256)
            path.chmod(0o644)
            path.write_bytes(data)
            path.chmod(0o444)
        else:
            assert isinstance(self.store, S3BlobStore) and self.raw is not None
            self.raw.put_object(self.store.bucket, blob_key(sha256), io.BytesIO(data), len(data))

    def delete(self, sha256: str) -> None:
        if isinstance(self.store, LocalBlobStore):
            self.store.path(sha256).unlink()
        else:
            assert isinstance(self.store, S3BlobStore) and self.raw is not None
            self.raw.remove_object(self.store.bucket, blob_key(sha256))

    def everything(self) -> list[str]:
        """Every object or file the store holds, temporary ones included, and any upload spool files."""
        if isinstance(self.store, LocalBlobStore):
            return sorted(
                str(p.relative_to(self.store.root)) for p in self.store.root.rglob("*") if p.is_file()
            )
        assert isinstance(self.store, S3BlobStore) and self.raw is not None and self.server is not None
        names = [o.object_name or "" for o in self.raw.list_objects(self.store.bucket, recursive=True)]
        on_disk = self.server.root / self.store.bucket  # listings hide the server's own temporary files
        names += [f"disk:{p.name}" for p in on_disk.rglob("*") if p.is_file() and p.name.startswith(".")]
        if self.store.spool_dir:
            names += [f"spool:{p.name}" for p in Path(self.store.spool_dir).iterdir()]
        return sorted(names)


@pytest.fixture
def backdoor(blobstore: BlobStore, request: pytest.FixtureRequest) -> Backdoor:
    return Backdoor(blobstore, request)


class Generated(io.RawIOBase):
    """`size` bytes made on the fly (a random block repeated), never held in memory whole."""

    def __init__(self, size: int, block: bytes) -> None:
        super().__init__()
        self.remaining = size
        self.position = 0
        self.block = block

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        offset = self.position % len(self.block)
        n = min(len(buffer), self.remaining, len(self.block) - offset)
        buffer[:n] = self.block[offset : offset + n]
        self.remaining -= n
        self.position += n
        return n


class Trickle(io.RawIOBase):
    """A source that hands out a few bytes per read, like a slow network upload."""

    def __init__(self, data: bytes, step: int = 4093) -> None:
        super().__init__()
        self.data = memoryview(data)
        self.step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        n = min(len(buffer), self.step, len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.req("P11-10a")
def test_round_trip_names_the_content_by_its_sha256(blobstore: BlobStore) -> None:
    data = b"SOP-QA-001 rev 1.0\n" * 1000
    ref = blobstore.put(io.BytesIO(data))
    assert (ref.sha256, ref.size) == (sha(data), len(data))
    assert blobstore.exists(ref.sha256)
    assert blobstore.stat(ref.sha256) == len(data)
    assert blobstore.read_bytes(ref.sha256) == data
    with blobstore.open(ref.sha256) as reader:
        assert b"".join(reader.iter_chunks(4096)) == data
        assert reader.verified
    blobstore.verify(ref.sha256)


def test_key_layout_is_sha256_two_hex_then_full_hex(blobstore: BlobStore, backdoor: Backdoor) -> None:
    ref = blobstore.put(io.BytesIO(b"layout"))
    expected = f"sha256/{ref.sha256[:2]}/{ref.sha256}"
    assert ref.key == blob_key(ref.sha256) == expected
    assert backdoor.everything() == [expected]
    if isinstance(blobstore, LocalBlobStore):
        assert (blobstore.path(ref.sha256).stat().st_mode & 0o777) == 0o444


def test_a_slow_source_is_stored_whole(blobstore: BlobStore) -> None:
    data = os.urandom(300_000)
    ref = blobstore.put(Trickle(data))
    assert ref.sha256 == sha(data)
    assert blobstore.read_bytes(ref.sha256) == data


@pytest.mark.req("P11-10a")
def test_a_blob_altered_behind_the_stores_back_fails_every_read(
    blobstore: BlobStore, backdoor: Backdoor
) -> None:
    ref = blobstore.put(io.BytesIO(b"approved content, version 2.0"))
    backdoor.overwrite(ref.sha256, b"APPROVED content, version 2.0")  # same size: only the hash can tell

    with pytest.raises(BlobCorrupt, match=ref.sha256):
        blobstore.read_bytes(ref.sha256)
    with pytest.raises(BlobCorrupt), blobstore.open(ref.sha256) as reader:
        for _ in reader.iter_chunks():
            pass
    with pytest.raises(BlobCorrupt):
        blobstore.verify(ref.sha256)


@pytest.mark.req("P11-10a")
def test_a_truncated_blob_fails_the_read(blobstore: BlobStore, backdoor: Backdoor) -> None:
    ref = blobstore.put(io.BytesIO(b"0123456789" * 100))
    backdoor.overwrite(ref.sha256, b"0123456789" * 99)
    with pytest.raises(BlobCorrupt):
        blobstore.read_bytes(ref.sha256)


def test_a_partial_read_is_not_reported_as_verified(blobstore: BlobStore) -> None:
    ref = blobstore.put(io.BytesIO(b"abcdef" * 1000))
    with blobstore.open(ref.sha256) as reader:
        assert reader.read(10) == b"abcdefabcd"
        assert not reader.verified


def test_missing_blob_is_blob_not_found_everywhere(blobstore: BlobStore, backdoor: Backdoor) -> None:
    absent = sha(b"never stored")
    assert not blobstore.exists(absent)
    for call in (blobstore.stat, blobstore.open, blobstore.read_bytes, blobstore.verify):
        with pytest.raises(BlobNotFound):
            call(absent)

    ref = blobstore.put(io.BytesIO(b"soon gone"))
    backdoor.delete(ref.sha256)
    assert not blobstore.exists(ref.sha256)
    with pytest.raises(BlobNotFound):
        blobstore.read_bytes(ref.sha256)


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "ABC", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"]
)
def test_a_name_that_is_not_a_digest_is_refused(blobstore: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        blobstore.open(bad)
    with pytest.raises(InvalidInput):
        blobstore.exists(bad)


def test_putting_the_same_content_again_is_a_no_op(blobstore: BlobStore, backdoor: Backdoor) -> None:
    first = blobstore.put(io.BytesIO(b"same bytes"))
    second = blobstore.put(io.BytesIO(b"same bytes"))
    assert first == second
    assert backdoor.everything() == [first.key]


@pytest.mark.req("P11-10a")
def test_a_stored_key_is_never_overwritten(blobstore: BlobStore, backdoor: Backdoor) -> None:
    original = b"the approved bytes"
    ref = blobstore.put(io.BytesIO(original))
    backdoor.overwrite(ref.sha256, b"THE approved bytes")

    # Same size: the put is a no-op and leaves the altered object as found (for scrub and people to see).
    assert blobstore.put(io.BytesIO(original)) == ref
    with pytest.raises(BlobCorrupt):
        blobstore.read_bytes(ref.sha256)

    # Different size: the put says so, and still writes nothing.
    backdoor.overwrite(ref.sha256, b"short")
    with pytest.raises(BlobCorrupt):
        blobstore.put(io.BytesIO(original))
    assert blobstore.stat(ref.sha256) == len(b"short")


def test_over_the_size_limit_is_refused_and_leaves_nothing(blobstore: BlobStore, backdoor: Backdoor) -> None:
    with pytest.raises(BlobTooLarge):
        blobstore.put(Generated(3 * MiB + 1, os.urandom(64 * 1024)), max_bytes=3 * MiB)
    assert backdoor.everything() == []

    at_limit = blobstore.put(io.BytesIO(b"x" * 1000), max_bytes=1000)
    assert backdoor.everything() == [at_limit.key]


def test_the_empty_blob(blobstore: BlobStore) -> None:
    ref = blobstore.put(io.BytesIO(b""))
    assert (ref.sha256, ref.size) == (EMPTY_SHA256, 0)
    assert blobstore.stat(EMPTY_SHA256) == 0
    assert blobstore.read_bytes(EMPTY_SHA256) == b""
    blobstore.verify(EMPTY_SHA256)


def test_listing_for_scrub(blobstore: BlobStore) -> None:
    refs = [blobstore.put(io.BytesIO(f"blob {i}".encode())) for i in range(5)]
    assert sorted(blobstore.iter_keys()) == sorted(r.sha256 for r in refs)
    one = refs[0]
    for prefix in ("", one.sha256[:1], one.sha256[:2], one.sha256[:5]):
        infos = {i.sha256: i for i in blobstore.iter_blobs(prefix)}
        assert one.sha256 in infos
        assert all(k.startswith(prefix) for k in infos)
    info = next(i for i in blobstore.iter_blobs(one.sha256[:2]) if i.sha256 == one.sha256)
    assert info.size == one.size
    assert abs(info.modified_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_delete_unreferenced_respects_its_cutoff(blobstore: BlobStore) -> None:
    ref = blobstore.put(io.BytesIO(b"orphan"))
    now = datetime.now(UTC)
    assert not blobstore.delete_unreferenced(ref.sha256, older_than=now - timedelta(hours=1))
    assert blobstore.exists(ref.sha256)
    assert blobstore.delete_unreferenced(ref.sha256, older_than=now + timedelta(hours=1))
    assert not blobstore.exists(ref.sha256)
    assert not blobstore.delete_unreferenced(ref.sha256, older_than=now + timedelta(hours=1))


@pytest.mark.req("P11-10a")
def test_a_50_mb_blob_streams_in_bounded_memory(blobstore: BlobStore) -> None:
    size, block = 50 * MiB, os.urandom(MiB)
    expected = hashlib.sha256()
    source = Generated(size, block)
    while chunk := source.read(MiB):
        expected.update(chunk)

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ref = blobstore.put(Generated(size, block))
        put_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with blobstore.open(ref.sha256) as reader:
            for _ in reader.iter_chunks():
                pass
            assert reader.verified and reader.bytes_read == size
        read_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()

    assert (ref.sha256, ref.size) == (expected.hexdigest(), size)
    assert put_peak < 16 * MiB, f"put held {put_peak / MiB:.1f} MiB"
    assert read_peak < 16 * MiB, f"read held {read_peak / MiB:.1f} MiB"


def test_concurrent_puts_of_the_same_content(blobstore: BlobStore, backdoor: Backdoor) -> None:
    data = os.urandom(2 * MiB + 17)
    barrier = threading.Barrier(6)
    results: list[object] = []

    def put() -> None:
        barrier.wait()
        try:
            results.append(blobstore.put(io.BytesIO(data)))
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            results.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert {repr(r) for r in results} == {repr(results[0])} and len(results) == 6
    # a set: rclone's listing can name a key twice right after racing uploads of it (an S3 key is unique)
    assert set(backdoor.everything()) == {blob_key(sha(data))}
    assert blobstore.read_bytes(sha(data)) == data


# the factory


def test_factory_builds_a_local_store(tmp_path: Path) -> None:
    store = blobstore_from_url((tmp_path / "blobs").as_uri())
    assert isinstance(store, LocalBlobStore) and store.name == "local"
    assert store.root == (tmp_path / "blobs").resolve()


@pytest.mark.s3
def test_factory_builds_an_s3_store(s3_url: str, s3_bucket: str) -> None:
    store = blobstore_from_url(s3_url)
    assert isinstance(store, S3BlobStore) and store.name == "s3" and store.bucket == s3_bucket
    assert store.object_lock is False  # the test server has none; the store must not pretend


@pytest.mark.s3
def test_s3_failures_become_blob_errors_not_not_found(s3_server, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    wrong_secret = blobstore_from_url(
        s3_server.url(s3_bucket, create_bucket="false").replace(s3_server.secret_key, "not-the-secret")
    )
    with pytest.raises(BlobError) as caught:
        wrong_secret.exists(EMPTY_SHA256)
    assert not isinstance(caught.value, BlobNotFound)

    no_bucket = blobstore_from_url(s3_server.url("no-such-bucket", create_bucket="false"))
    with pytest.raises(BlobError) as caught:
        no_bucket.put(io.BytesIO(b"nowhere to go"))
    assert not isinstance(caught.value, BlobNotFound)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "file://relative/path",
        "file://",
        "s3://",
        "s3://bucket",
        "s3://bucket?endpoint=127.0.0.1:9000",
        "s3://bucket?endpoint=127.0.0.1:9000&access_key=a",
        "s3://bucket?endpoint=127.0.0.1:9000&access_key=a&secret_key=b&secure=maybe",
        "s3://bucket?endpoint=127.0.0.1:9000&access_key=a&secret_key=b&part_size_mb=1",
        "s3://bucket?endpoint=127.0.0.1:9000&access_key=a&secret_key=b&acces_key=typo",
        "s3://Not_A_Bucket?endpoint=127.0.0.1:9000&access_key=a&secret_key=b",
        "s3://bucket/path?endpoint=127.0.0.1:9000&access_key=a&secret_key=b",
    ],
)
def test_factory_refuses_a_bad_url_clearly(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        blobstore_from_url(url)
    assert "secret_key=b" not in str(caught.value)
