"""Checking a stored signature, as anyone may (P11-70): the manifest is canonical and names this revision and its
signer, the ECDSA signature matches it, the certificate chains to the instance CA and was valid when signing, and
the revision's stored content still has the signed hash."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
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


def verify_many(session: Session, signature_ids: list[uuid.UUID]) -> dict[uuid.UUID, Verification]:
    """The same checks as `verify` (without re-reading the stored content) for many signatures, with one query
    and the CA read once: for pages listing signatures and for whole-trail checks."""
    results: dict[uuid.UUID, Verification] = {}
    ca = signing_keys.instance_ca(session)
    rows = session.execute(
        select(Signature.id, Signature.manifest, Signature.manifest_sha256, Signature.signature, Signature.signer_id,
               SigningKey.certificate_pem, Revision.id, Revision.document_id, Revision.source_sha256)
        .join(SigningKey, SigningKey.id == Signature.signing_key_id)
        .join(Revision, Revision.id == Signature.revision_id)
        .where(Signature.id.in_(signature_ids))
    ).all()
    for sig_id, manifest, digest, signature, signer_id, cert_pem, revision_id, document_id, content in rows:
        result = Verification()
        results[sig_id] = result
        if ca is None:
            result.add("instance CA present", False, "the instance CA is missing")
            continue
        result.add("manifest digest", hashlib.sha256(manifest).hexdigest() == digest)
        try:
            m = signatures.verify_signature(manifest, signature, cert_pem.encode(), ca.certificate_pem,
                                            expected_content_sha256=content)
        except SignatureInvalid as exc:
            result.add("signature, certificate chain and signed content hash", False, exc.reason)
            continue
        result.manifest = m
        result.add("signature, certificate chain and signed content hash", True)
        result.add("bound to this revision", m["revision"]["id"] == str(revision_id)
                   and m["document"]["id"] == str(document_id))
        result.add("signer", m["signer"]["id"] == str(signer_id))
    return results
