"""Signing: ECDSA P-256 / SHA-256 over the canonical manifest bytes, DER-encoded (what `openssl dgst` verifies)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.signatures.manifest import parse_manifest


def sign_manifest(private_key: ec.EllipticCurvePrivateKey, manifest: bytes) -> bytes:
    """The DER signature of `manifest` by `private_key` (a P-256 key, just unwrapped). Only a well-formed canonical
    v1 manifest is signed: anything else raises SignatureInvalid, so nothing is signed that could not verify."""
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
        raise TypeError("signing keys are ECDSA P-256")
    parse_manifest(manifest)
    return private_key.sign(manifest, ec.ECDSA(hashes.SHA256()))
