"""Streaming stored blobs to the client, verified as they go."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

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


def zip_download(files: Mapping[str, Path], folder: str) -> Response:
    """Small files (an openssl bundle) as `<folder>.zip`, each under `<folder>/` inside it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files.values():
            z.write(path, f"{folder}/{path.name}")
    return Response(out.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{folder}.zip"'})
