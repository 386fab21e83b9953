"""Choose the blob store from `DOCCTL_BLOBSTORE_URL`.

- `file:///absolute/path`: LocalBlobStore.
- `s3://bucket?endpoint=host:port&access_key=...&secret_key=...&secure=false&region=us-east-1`: S3BlobStore.
  Optional: `create_bucket=true|false` (default true), `part_size_mb=8` (5 to 512), `spool_dir=/path`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from minio import Minio

from docctl.blobstore.base import BlobStore
from docctl.blobstore.local import LocalBlobStore
from docctl.blobstore.s3 import DEFAULT_PART_SIZE, S3BlobStore
from docctl.errors import ConfigurationError

_S3_PARAMS = frozenset(
    ["endpoint", "access_key", "secret_key", "secure", "region", "create_bucket", "part_size_mb", "spool_dir"]
)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def blobstore_from_url(url: str) -> BlobStore:
    """The store a URL names; ConfigurationError (never showing the secret) if the URL is not usable."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _local(parts.netloc, parts.path)
    if parts.scheme == "s3":
        return _s3(parts.netloc, parts.path, parts.query)
    raise ConfigurationError(
        f"DOCCTL_BLOBSTORE_URL must start with file:// or s3://, not {parts.scheme or 'nothing'!r}"
    )


def _local(netloc: str, path: str) -> LocalBlobStore:
    if netloc not in {"", "localhost"}:
        raise ConfigurationError(f"a file:// blob store URL names no host (got {netloc!r}); use file:///path")
    root = Path(unquote(path))
    if not path or not root.is_absolute():
        raise ConfigurationError("a file:// blob store URL needs an absolute path: file:///path/to/blobs")
    return LocalBlobStore(root)


def _s3(bucket: str, path: str, query: str) -> S3BlobStore:
    if not bucket or path not in {"", "/"}:
        raise ConfigurationError("an s3:// blob store URL is s3://BUCKET?endpoint=host:port&...")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigurationError(f"{bucket!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    try:
        raw = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigurationError("the s3:// blob store URL's query string cannot be parsed") from exc
    unknown = sorted(set(raw) - _S3_PARAMS)
    if unknown:
        raise ConfigurationError(f"unknown s3:// blob store parameter(s): {', '.join(unknown)}")
    params = {name: values[-1] for name, values in raw.items()}
    endpoint = params.get("endpoint", "")
    if not endpoint or "/" in endpoint:
        raise ConfigurationError("an s3:// blob store URL needs endpoint=host:port")
    access_key, secret_key = params.get("access_key", ""), params.get("secret_key", "")
    if not access_key or not secret_key:
        raise ConfigurationError("an s3:// blob store URL needs both access_key and secret_key")
    part_mb = params.get("part_size_mb", str(DEFAULT_PART_SIZE // (1024 * 1024)))
    if not part_mb.isdigit() or not 5 <= int(part_mb) <= 512:
        raise ConfigurationError("part_size_mb must be a whole number from 5 to 512")
    try:
        client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=_flag(params, "secure", default=True),
            region=params.get("region") or "us-east-1",
        )
    except ValueError as exc:
        raise ConfigurationError(f"the s3:// blob store endpoint is not usable: {exc}") from exc
    return S3BlobStore(
        client,
        bucket,
        create_bucket=_flag(params, "create_bucket", default=True),
        part_size=int(part_mb) * 1024 * 1024,
        spool_dir=params.get("spool_dir") or None,
    )


def _flag(params: dict[str, str], name: str, *, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {value!r}")
