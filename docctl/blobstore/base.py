"""The blob-store protocol, the stable key layout, and the streaming hash helpers both stores share.

A blob is named by the SHA-256 of its bytes and stored under `sha256/<first two hex>/<64 hex>` (a stable
format, see DESIGN.md). Stores write a key once and never overwrite it; every read through `open()` hashes the
bytes as they go by and raises `BlobCorrupt` at the end of the stream when they do not match the name.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from docctl.errors import BlobCorrupt, BlobTooLarge, InvalidInput

CHUNK = 1024 * 1024  # bytes read or written at a time: memory stays bounded whatever the blob's size
KEY_PREFIX = "sha256/"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_sha256(sha256: str) -> str:
    """The digest itself if it is 64 lowercase hex characters; InvalidInput otherwise (never a path)."""
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
        raise InvalidInput("not a SHA-256 digest (64 lowercase hex characters)")
    return sha256


def check_prefix(prefix: str) -> str:
    """A listing prefix: up to 64 lowercase hex characters."""
    if not isinstance(prefix, str) or len(prefix) > 64 or not re.fullmatch(r"[0-9a-f]*", prefix):
        raise InvalidInput("a digest prefix is lowercase hex")
    return prefix


def blob_key(sha256: str) -> str:
    """`sha256/<first two hex>/<64 hex>`: the stable name of a blob in every store."""
    check_sha256(sha256)
    return f"{KEY_PREFIX}{sha256[:2]}/{sha256}"


def sha256_from_key(key: str) -> str | None:
    """The digest a well-formed key names, or None for anything else (temporary or foreign objects)."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "sha256" and _HEX64.fullmatch(parts[2]) and parts[1] == parts[2][:2]:
        return parts[2]
    return None


@dataclass(frozen=True)
class BlobRef:
    """What a put returns: the content's name and size."""

    sha256: str
    size: int

    @property
    def key(self) -> str:
        return blob_key(self.sha256)


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob as a listing sees it (for scrub)."""

    sha256: str
    size: int
    modified_at: datetime  # aware, UTC


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed, write-once storage. Implementations: `LocalBlobStore`, `S3BlobStore`."""

    name: str  # "local" or "s3": recorded in `blobs.backend`

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> BlobRef:
        """Store the stream's bytes (hashed while streaming); a no-op after a size check if already stored."""
        ...

    def open(self, sha256: str) -> BlobReader:
        """A readable stream and context manager; raises BlobCorrupt at EOF if the bytes do not match."""
        ...

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob, verified. For small blobs only."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def stat(self, sha256: str) -> int:
        """The stored size; BlobNotFound if absent."""
        ...

    def verify(self, sha256: str) -> None:
        """Stream the whole blob; BlobCorrupt or BlobNotFound if it is not intact."""
        ...

    def iter_keys(self) -> Iterator[str]:
        """Every stored blob's digest (no particular order)."""
        ...

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Stored blobs whose digest starts with `prefix` (hex), with size and modification time."""
        ...

    def delete_unreferenced(self, sha256: str, *, older_than: datetime) -> bool:
        """Remove a blob only if last written before `older_than`: for scrub's orphan clean-up only."""
        ...

    def remove_stale_temp(self, *, older_than: datetime) -> int:
        """Remove temporary files left by interrupted puts before `older_than`; returns how many."""
        ...


class BlobReader(io.RawIOBase):
    """A read-only stream over a stored blob that hashes what it returns and checks the digest at EOF.

    The check happens when a read returns no data: read to the end (copyfileobj, `iter_chunks`, `read()`) to
    know the bytes were intact. `verified` is True once they were. A mismatch raises BlobCorrupt from that
    read.
    """

    def __init__(self, source: BinaryIO, sha256: str, *, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._source = source
        self._expected = sha256
        self._hash = hashlib.sha256()
        self._on_close = on_close
        self.bytes_read = 0
        self.verified = False

    @property
    def sha256(self) -> str:
        return self._expected

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        data = self._source.read(size)
        self._consume(data)
        return data

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def iter_chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        while chunk := self.read(size):
            yield chunk

    def _consume(self, data: bytes) -> None:
        if data:
            self._hash.update(data)
            self.bytes_read += len(data)
            return
        if self.verified:
            return
        actual = self._hash.hexdigest()
        if actual != self._expected:
            raise BlobCorrupt(
                f"The stored file {self._expected} does not match its checksum: its {self.bytes_read} bytes "
                f"hash to {actual}."
            )
        self.verified = True

    def close(self) -> None:
        if not self.closed:
            try:
                self._source.close()
                if self._on_close is not None:
                    self._on_close()
            finally:
                super().close()


def copy_hashing(source: BinaryIO, target: BinaryIO, *, max_bytes: int | None = None) -> BlobRef:
    """Copy `source` to `target` in CHUNK pieces, hashing as it goes; BlobTooLarge past `max_bytes`.

    The caller owns `target` and must discard it when this raises.
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BlobTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")
        digest.update(chunk)
        target.write(chunk)
    return BlobRef(digest.hexdigest(), size)


def drain(reader: BlobReader) -> int:
    """Read a BlobReader to its end (verifying it) and return the number of bytes."""
    with reader:
        for _ in reader.iter_chunks():
            pass
        return reader.bytes_read


class DerivedOperations:
    """What every store builds the same way from its own `open` and `iter_blobs`."""

    def open(self, sha256: str) -> BlobReader:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def read_bytes(self, sha256: str) -> bytes:
        """A small blob's bytes, verified."""
        with self.open(sha256) as reader:
            return reader.read()

    def verify(self, sha256: str) -> None:
        """Read the whole blob, checking its hash (BlobCorrupt or BlobNotFound)."""
        drain(self.open(sha256))

    def iter_keys(self) -> Iterator[str]:
        for info in self.iter_blobs():
            yield info.sha256
