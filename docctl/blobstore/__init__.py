"""Content-addressed, write-once blob storage: a small protocol with a local and an S3 implementation."""

from docctl.blobstore.base import BlobInfo, BlobReader, BlobRef, BlobStore, blob_key, check_sha256
from docctl.blobstore.factory import blobstore_from_url
from docctl.blobstore.local import LocalBlobStore
from docctl.blobstore.s3 import S3BlobStore

__all__ = [
    "BlobInfo",
    "BlobReader",
    "BlobRef",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_key",
    "blobstore_from_url",
    "check_sha256",
]
