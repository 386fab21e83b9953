"""Blobs as files under a root directory: `<root>/sha256/<ab>/<64 hex>`, read-only once written.

A put streams into a temporary file under `<root>/tmp` (same filesystem) while hashing, fsyncs it, makes it
read-only, then hard-links it to its content name. `os.link` never replaces an existing name, so the key is
written once and two writers racing with the same content are both fine: the loser finds the name taken,
checks the size and discards its copy.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from docctl.blobstore.base import (
    KEY_PREFIX,
    BlobInfo,
    BlobReader,
    BlobRef,
    DerivedOperations,
    blob_key,
    check_prefix,
    copy_hashing,
    sha256_from_key,
)
from docctl.errors import BlobCorrupt, BlobError, BlobNotFound

READ_ONLY = 0o444
_TEMP_PREFIX = "put-"


class LocalBlobStore(DerivedOperations):
    name = "local"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._blobs = self.root / KEY_PREFIX.rstrip("/")
        self._tmp = self.root / "tmp"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobError(f"The blob directory {self.root} cannot be created: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    # writing

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> BlobRef:
        fd, tmp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as tmp:
                ref = copy_hashing(stream, tmp, max_bytes=max_bytes)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, READ_ONLY)
            final = self.path(ref.sha256)
            final.parent.mkdir(exist_ok=True)
            try:
                os.link(tmp_name, final)
            except FileExistsError:
                self._check_existing(final, ref)
            else:
                _fsync_dir(final.parent)
            return ref
        except OSError as exc:
            raise BlobError(f"The file could not be stored: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    def _check_existing(self, final: Path, ref: BlobRef) -> None:
        """Content already stored: check the size, refresh the mtime (for scrub's grace period)."""
        size = final.stat().st_size
        if size != ref.size:
            raise BlobCorrupt(
                f"The stored file {ref.sha256} has {size} bytes where its content has {ref.size}; "
                "it was altered and is left as found."
            )
        with contextlib.suppress(OSError):
            os.utime(final)

    # reading

    def open(self, sha256: str) -> BlobReader:
        path = self.path(sha256)
        try:
            source = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the BlobReader)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"The stored file {sha256} is missing.") from exc
        except OSError as exc:
            raise BlobError(f"The stored file {sha256} cannot be read: {exc}") from exc
        return BlobReader(source, sha256)  # type: ignore[arg-type]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def stat(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(f"The stored file {sha256} is missing.") from exc

    # listing and clean-up (scrub)

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        check_prefix(prefix)
        for directory in _scandir(self._blobs):
            if not directory.is_dir(follow_symlinks=False) or not _matches(directory.name, prefix):
                continue
            for entry in _scandir(Path(directory.path)):
                sha256 = sha256_from_key(f"{KEY_PREFIX}{directory.name}/{entry.name}")
                if sha256 is None or not sha256.startswith(prefix):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield BlobInfo(sha256, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete_unreferenced(self, sha256: str, *, older_than: datetime) -> bool:
        path = self.path(sha256)
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) >= older_than:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_stale_temp(self, *, older_than: datetime) -> int:
        removed = 0
        for entry in _scandir(self._tmp):
            if not entry.name.startswith(_TEMP_PREFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < older_than:
                    os.unlink(entry.path)
                    removed += 1
        return removed


def _matches(two_hex: str, prefix: str) -> bool:
    """Whether the directory `two_hex` can hold digests starting with `prefix`."""
    return len(two_hex) == 2 and two_hex.startswith(prefix[:2])


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
