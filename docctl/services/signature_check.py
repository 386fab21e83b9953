"""Checking a stored signature, as anyone may (P11-70): the manifest is canonical and names this revision and its
signer, the ECDSA signature matches it, the certificate chains to the instance CA and was valid when signing, and
the revision's stored content still has the signed hash."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from docctl import signatures
from docctl.blobstore.base import BlobStore
from docctl.db.models import Revision, Signature, SigningKey
from docctl.errors import BlobError, NotFound, SignatureInvalid
from docctl.services import signing_keys


@dataclass
class Verification:
    ok: bool = True
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))
        self.ok = self.ok and ok

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.ok, "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in self.checks]}


def get(session: Session, signature_id: uuid.UUID) -> tuple[Signature, SigningKey, Revision]:
    sig = session.get(Signature, signature_id)
    if sig is None:
        raise NotFound("No such signature.")
    key = session.get(SigningKey, sig.signing_key_id)
    revision = session.get(Revision, sig.revision_id)
    assert key is not None and revision is not None
    return sig, key, revision


def verify(session: Session, store: BlobStore | None, signature_id: uuid.UUID) -> Verification:
    """Every check, each recorded by name; `store` given: also re-read the stored content and check its hash."""
    sig, key, revision = get(session, signature_id)
    result = Verification()
    ca = signing_keys.instance_ca(session)
    if ca is None:
        result.add("instance CA present", False, "the instance CA is missing")
        return result
    result.add("manifest digest", hashlib.sha256(sig.manifest).hexdigest() == sig.manifest_sha256,
               "the stored manifest matches its recorded SHA-256")
    try:
        manifest = signatures.verify_signature(sig.manifest, sig.signature, key.certificate_pem.encode(),
                                               ca.certificate_pem, expected_content_sha256=revision.source_sha256)
        result.manifest = manifest
        result.add("signature, certificate chain and signed content hash", True,
                   "ECDSA P-256 over the canonical manifest; certificate issued by the instance CA")
    except SignatureInvalid as exc:
        result.add("signature, certificate chain and signed content hash", False, exc.reason)
        try:
            result.manifest = signatures.parse_manifest(sig.manifest)
        except SignatureInvalid:
            return result
    m = result.manifest
    result.add("bound to this revision", m.get("revision", {}).get("id") == str(revision.id)
               and m.get("document", {}).get("id") == str(revision.document_id), "manifest names this revision")
    result.add("signer", m.get("signer", {}).get("id") == str(sig.signer_id), "manifest names the signer")
    if store is not None:
        try:
            store.verify(revision.source_sha256)
            result.add("stored content", True, f"the stored file still has SHA-256 {revision.source_sha256}")
        except BlobError as exc:
            result.add("stored content", False, exc.message)
    return result
