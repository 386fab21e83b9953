"""The signature manifest, v1 (DESIGN.md "Formats that must stay stable"): the exact bytes a person signs.

`{"v":1,"type":"docctl.signature","document":{"id","number","title"},"revision":{"id","version","content_sha256",
"rendition_sha256"},"meaning","signer":{"id","username","name","title"},"signed_at","statement","task_id"}` as
canonical JSON. Ids are strings; `signed_at` is RFC 3339 UTC with microseconds and `Z`; `rendition_sha256` and
`task_id` may be null. These bytes are pinned by known-answer vectors (tests/vectors/manifest_v1.json): a change
here breaks every stored signature.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from docctl.audit.canonical import canonical_json
from docctl.clock import rfc3339
from docctl.errors import SignatureInvalid

TYPE = "docctl.signature"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
# Every field and whether it may be null: the shape parse_manifest insists on.
_SHAPE: dict[str, object] = {
    "v": int,
    "type": str,
    "document": {"id": str, "number": str, "title": str},
    "revision": {"id": str, "version": str, "content_sha256": str, "rendition_sha256": (str, None)},
    "meaning": str,
    "signer": {"id": str, "username": str, "name": str, "title": str},
    "signed_at": str,
    "statement": str,
    "task_id": (str, None),
}


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"manifest field {name} must be a string, not {type(value).__name__}")
    return value


def _sha256(name: str, value: object) -> str:
    if not (isinstance(value, str) and _SHA256.fullmatch(value)):
        raise ValueError(f"manifest field {name} must be 64 lower-case hex digits")
    return value


def build_manifest(
    *, document_id, number, title, revision_id, version, content_sha256, rendition_sha256, meaning,
    signer_id, username, name, signer_title, signed_at: datetime, statement, task_id,
) -> bytes:
    """The canonical v1 manifest bytes. Ids (UUIDs or strings) are written as strings; every other field must
    already be a string (hashes as 64 lower-case hex); `rendition_sha256` and `task_id` may be None."""
    value = {
        "v": 1,
        "type": TYPE,
        "document": {"id": str(document_id), "number": _text("number", number), "title": _text("title", title)},
        "revision": {
            "id": str(revision_id),
            "version": _text("version", version),
            "content_sha256": _sha256("content_sha256", content_sha256),
            "rendition_sha256": None if rendition_sha256 is None else _sha256("rendition_sha256", rendition_sha256),
        },
        "meaning": _text("meaning", meaning),
        "signer": {
            "id": str(signer_id),
            "username": _text("username", username),
            "name": _text("name", name),
            "title": _text("signer_title", signer_title),
        },
        "signed_at": rfc3339(signed_at),
        "statement": _text("statement", statement),
        "task_id": None if task_id is None else str(task_id),
    }
    return canonical_json(value)


def _shape_ok(value: object, shape: object) -> bool:
    if isinstance(shape, dict):
        return isinstance(value, dict) and set(value) == set(shape) and all(
            _shape_ok(value[key], sub) for key, sub in shape.items()
        )
    if isinstance(shape, tuple):
        return value is None or isinstance(value, shape[0])
    return type(value) is shape


def parse_manifest(data: bytes) -> dict:
    """The manifest as a dict, after checking that it is JSON, v 1 of type docctl.signature, canonical (these exact
    bytes come back from re-canonicalising), and of the v1 shape. Raises SignatureInvalid(reason)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("manifest is not JSON") from None
    if not isinstance(value, dict) or type(value.get("v")) is not int or value["v"] != 1:
        raise SignatureInvalid("manifest version is not 1")
    if value.get("type") != TYPE:
        raise SignatureInvalid(f"manifest type is not {TYPE}")
    try:
        canonical = canonical_json(value)
    except TypeError:
        canonical = None
    if canonical != data:
        raise SignatureInvalid("manifest is not canonical")
    if not _shape_ok(value, _SHAPE):
        raise SignatureInvalid("manifest does not have the v1 fields")
    revision = value["revision"]
    if not _SHA256.fullmatch(revision["content_sha256"]) or not (
        revision["rendition_sha256"] is None or _SHA256.fullmatch(revision["rendition_sha256"])
    ):
        raise SignatureInvalid("manifest hashes are not SHA-256 hex")
    try:
        if not _RFC3339.fullmatch(value["signed_at"]):
            raise ValueError("format")
        signed_at(value)
    except ValueError:
        raise SignatureInvalid("manifest signed_at is not RFC 3339 UTC with microseconds") from None
    return value


def signed_at(manifest: dict) -> datetime:
    """The signing time of a parsed manifest, as an aware UTC datetime."""
    return datetime.strptime(manifest["signed_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
