"""A signature's own page: its manifestation, what was signed (the manifest), the certificate, every check re-run
now, the openssl bundle, and the trail of events naming it. Readable by whoever may read the signed revision."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from cryptography.hazmat.primitives import hashes
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from docctl.domain.policy import Permission
from docctl.services import audit_trail, revisions, signature_check, signing_keys
from docctl.signatures.certs import load_certificate
from docctl.web.deps import Caller, Require, State
from docctl.web.render import render
from docctl.web.routes.approvals_api import bundle_response

router = APIRouter(prefix="/signatures")

Reader = Annotated[Caller, Depends(Require(Permission.DOCUMENTS_READ))]


@router.get("/{signature_id}")
def signature_page(request: Request, signature_id: uuid.UUID, state: State, caller: Reader) -> Response:
    with state.db.read() as s:
        sig, key, r = signature_check.get(s, signature_id)
        d, r = revisions.get_revision(s, principal=caller.principal, number=r.document.number, version=r.version)
        checked = signature_check.verify(s, state.blobs, signature_id)
        ca = signing_keys.instance_ca(s)
        ca_cert = load_certificate(ca.certificate_pem) if ca is not None else None
        ca_fingerprint = ca_cert.fingerprint(hashes.SHA256()).hex(":") if ca_cert is not None else ""
        cert = load_certificate(key.certificate_pem.encode())
        trail = audit_trail.record_trail(s, principal=caller.principal,
                                         filters=audit_trail.TrailFilter(signature=str(sig.id)))
    certificate = {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                   "serial": format(cert.serial_number, "x"), "not_before": cert.not_valid_before_utc,
                   "not_after": cert.not_valid_after_utc, "ca_fingerprint": ca_fingerprint,
                   "key_fingerprint": key.fingerprint}
    manifest = json.dumps(json.loads(sig.manifest), indent=2, ensure_ascii=False)
    return render(request, "pages/signature.html", caller=caller, sig=sig, document=d, revision=r, checked=checked,
                  certificate=certificate, manifest=manifest, trail=trail, trail_title="Audit trail of this signature",
                  trail_url=f"/audit?signature={sig.id}")


@router.get("/{signature_id}/bundle.zip")
def signature_bundle(signature_id: uuid.UUID, state: State, caller: Reader) -> Response:
    """The manifest, signature, certificates and the openssl commands that check them, as a zip."""
    return bundle_response(state, caller, signature_id)
