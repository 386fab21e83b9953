"""Signed checkpoints (signed tree heads) of the audit trail, DESIGN.md "Formats that must stay stable".

A checkpoint is the canonical JSON `{"v":1,"type":"docctl.checkpoint","tree_size","root","at"}` (root as lower-case
hex of the RFC 6962 tree head over events 1..tree_size, `at` RFC 3339 UTC), signed with ECDSA P-256 / SHA-256 (DER)
by the instance CA key and verified with the instance CA certificate. Verifiable offline with
`openssl dgst -sha256 -verify ca-pub.pem -signature checkpoint.sig checkpoint.json`. Pure: no database, no I/O.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.audit.canonical import canonical_json
from docctl.clock import rfc3339
from docctl.errors import SignatureInvalid

CHECKPOINT_TYPE = "docctl.checkpoint"
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def checkpoint_bytes(tree_size: int, root: bytes, at: datetime) -> bytes:
    """The canonical bytes of a checkpoint over the first `tree_size` events whose tree head is `root`."""
    if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
        raise ValueError("tree size must be a non-negative integer")
    if len(root) != 32:
        raise ValueError("root must be 32 bytes")
    return canonical_json(
        {"v": 1, "type": CHECKPOINT_TYPE, "tree_size": tree_size, "root": root.hex(), "at": rfc3339(at)}
    )


def sign_checkpoint(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256 / SHA-256 over exactly `data`, DER-encoded."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("checkpoints are signed with a P-256 key")
    return private_key.sign(data, _ECDSA_SHA256)


def parse_checkpoint(data: bytes) -> dict:
    """The checkpoint's fields; SignatureInvalid unless `data` is a canonical v1 checkpoint."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("the checkpoint is not JSON") from None
    if not isinstance(parsed, dict) or set(parsed) != {"v", "type", "tree_size", "root", "at"}:
        raise SignatureInvalid("the checkpoint does not have the v1 fields")
    if parsed["v"] != 1 or parsed["type"] != CHECKPOINT_TYPE:
        raise SignatureInvalid("the checkpoint is not a docctl.checkpoint v1")
    size = parsed["tree_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise SignatureInvalid("the checkpoint's tree size is not a non-negative integer")
    if not isinstance(parsed["root"], str) or not _HEX64.fullmatch(parsed["root"]):
        raise SignatureInvalid("the checkpoint's root is not 64 lower-case hex digits")
    if not isinstance(parsed["at"], str) or not _RFC3339.fullmatch(parsed["at"]):
        raise SignatureInvalid("the checkpoint's time is not RFC 3339 UTC with microseconds")
    try:
        canonical = canonical_json(parsed)
    except TypeError:
        canonical = b""
    if canonical != data:
        raise SignatureInvalid("the checkpoint is not in canonical form")
    return parsed


def verify_checkpoint(data: bytes, signature: bytes, ca_certificate_pem: bytes) -> dict:
    """The checkpoint is canonical v1, the CA certificate was valid at its time, and `signature` is the instance CA
    key's signature over exactly these bytes. Returns the parsed checkpoint (root still hex)."""
    parsed = parse_checkpoint(data)
    try:
        certificate = x509.load_pem_x509_certificate(ca_certificate_pem)
    except (ValueError, TypeError):
        raise SignatureInvalid("the CA certificate cannot be read") from None
    at = datetime.strptime(parsed["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
        raise SignatureInvalid("the CA certificate was not valid at the checkpoint's time")
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureInvalid("the CA key is not ECDSA P-256")
    try:
        key.verify(signature, data, _ECDSA_SHA256)
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureInvalid("the checkpoint signature does not match the checkpoint and CA certificate") from None
    return parsed
