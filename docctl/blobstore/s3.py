"""Blobs in an S3 bucket (MinIO in production) through the `minio` client.

A blob's key is known only once its bytes are hashed, so a put first streams the upload into an anonymous
local spool file while hashing it (bounded memory, nothing left behind if the process dies), then asks whether
the key is already stored: if so the put is a no-op after a size check, and nothing is sent; otherwise the
spool is uploaded straight to its content key, a part (`part_size`) at a time. No temporary object
is ever written to the bucket, which matters under object lock: a bucket's default retention would keep every
temporary object forever.

The store never calls the object tagging, retention or legal-hold APIs (some S3 servers, among them the test
server, implement them by overwriting or deleting the object). It only reads the bucket's object-lock
configuration, guarded, to report it and to refuse deleting from a locked bucket (a delete there would only
add a delete marker).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import BinaryIO

from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error
from urllib3.exceptions import HTTPError

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

# S3's minimum part is 5 MiB. The client holds up to two parts in memory during an upload (it reads the next
# part before it lets go of the last), so an upload costs about 2 x part_size whatever the blob's size.
DEFAULT_PART_SIZE = 6 * 1024 * 1024
_VENDOR_ERRORS = (MinioException, HTTPError, OSError, ValueError)
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchObject"}


class S3BlobStore(DerivedOperations):
    name = "s3"

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        create_bucket: bool = True,
        part_size: int = DEFAULT_PART_SIZE,
        spool_dir: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.spool_dir = spool_dir
        if create_bucket:
            self._ensure_bucket()

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r})"

    def _ensure_bucket(self) -> None:
        with _vendor_errors(f"bucket {self.bucket}"):
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:
                if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    @cached_property
    def object_lock(self) -> bool:
        """Whether the bucket reports object lock with a default retention (read once, guarded)."""
        try:
            config = self.client.get_object_lock_config(self.bucket)
        except Exception:  # noqa: BLE001 (any failure means: no object lock we can rely on)
            return False
        return config.mode is not None

    # writing

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None) -> BlobRef:
        try:
            spool = tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise BlobError(f"No spool space for the upload: {exc}") from exc
        with spool:
            try:
                ref = copy_hashing(stream, spool, max_bytes=max_bytes)
                spool.flush()
            except OSError as exc:
                raise BlobError(f"The upload could not be spooled: {exc}") from exc
            stored = self._stored_size(ref.sha256)
            if stored is None:
                spool.seek(0)
                with _vendor_errors(ref.sha256):
                    self.client.put_object(
                        self.bucket,
                        ref.key,
                        spool,
                        ref.size,
                        part_size=self.part_size,
                        num_parallel_uploads=1,
                    )
            elif stored != ref.size:
                raise BlobCorrupt(
                    f"The stored file {ref.sha256} has {stored} bytes where its content has {ref.size}; "
                    "it was altered and is left as found."
                )
        return ref

    def _stored_size(self, sha256: str) -> int | None:
        try:
            return self.stat(sha256)
        except BlobNotFound:
            return None

    # reading

    def open(self, sha256: str) -> BlobReader:
        key = blob_key(sha256)
        with _vendor_errors(sha256):
            response = self.client.get_object(self.bucket, key)
        return BlobReader(_Body(response, sha256), sha256, on_close=response.release_conn)  # type: ignore[arg-type]

    def exists(self, sha256: str) -> bool:
        return self._stored_size(sha256) is not None

    def stat(self, sha256: str) -> int:
        key = blob_key(sha256)
        with _vendor_errors(sha256):
            return int(self.client.stat_object(self.bucket, key).size or 0)

    # listing and clean-up (scrub)

    def iter_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        check_prefix(prefix)
        list_prefix = KEY_PREFIX + (f"{prefix[:2]}/{prefix}" if len(prefix) >= 2 else prefix)
        with _vendor_errors(f"listing {list_prefix}"):
            for obj in self.client.list_objects(self.bucket, prefix=list_prefix, recursive=True):
                sha256 = sha256_from_key(obj.object_name or "")
                if sha256 is None:
                    continue
                modified = obj.last_modified or datetime.now(UTC)
                yield BlobInfo(sha256, int(obj.size or 0), modified.astimezone(UTC))

    def delete_unreferenced(self, sha256: str, *, older_than: datetime) -> bool:
        if self.object_lock:
            return False  # write-once by the bucket's own rules; a delete would only hide the object
        key = blob_key(sha256)
        with _vendor_errors(sha256):
            try:
                st = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _NOT_FOUND_CODES:
                    return False
                raise
            if st.last_modified is None or st.last_modified >= older_than:
                return False
            self.client.remove_object(self.bucket, key)
        return True

    def remove_stale_temp(self, *, older_than: datetime) -> int:
        return 0  # puts spool to anonymous local files and write nothing temporary to the bucket


class _Body:
    """The body of a GET, read in pieces, with the client's errors turned into BlobError."""

    def __init__(self, response: object, sha256: str) -> None:
        self._response = response
        self._sha256 = sha256

    def read(self, size: int) -> bytes:
        with _vendor_errors(self._sha256):
            return self._response.read(size)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        with contextlib.suppress(*_VENDOR_ERRORS):
            self._response.close()  # type: ignore[attr-defined]


def _is_not_found(exc: Exception) -> bool:
    if isinstance(exc, S3Error):
        return exc.code in _NOT_FOUND_CODES
    if isinstance(exc, InvalidResponseError):  # a 404 whose body minio cannot parse (rclone's text/xml)
        return getattr(exc, "_code", None) == 404 and "NoSuchBucket" not in str(exc)
    return False


@contextlib.contextmanager
def _vendor_errors(what: str) -> Iterator[None]:
    """Turn the S3 client's errors into BlobNotFound / BlobError."""
    try:
        yield
    except _VENDOR_ERRORS as exc:
        if _is_not_found(exc):
            raise BlobNotFound(f"The stored file {what} is missing.") from exc
        raise BlobError(f"The S3 store failed ({what}): {exc}") from exc
