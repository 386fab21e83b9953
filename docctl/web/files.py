"""Streaming stored blobs to the client, verified as they go."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from docctl.blobstore.base import BlobStore


def blob_response(store: BlobStore, sha256: str, media_type: str, filename: str, *, inline: bool) -> StreamingResponse:
    """The blob's bytes in bounded memory. The hash is checked as the bytes go; if the stored file was altered the
    stream is cut before its end, so the client never receives a complete altered file."""
    size = store.stat(sha256)

    def chunks() -> Iterator[bytes]:
        # one chunk is held back until the next read succeeds: the read that reaches the end verifies the hash,
        # so a mismatch raises before the last bytes are sent
        with store.open(sha256) as reader:
            held = reader.read(256 * 1024)
            while held:
                following = reader.read(256 * 1024)
                yield held
                held = following

    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
        "Content-Length": str(size),
        "X-Content-SHA256": sha256,
    }
    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
