"""The audit-trail review manifest v1 (docctl.audit_review) against hand-written known-answer bytes
(tests/vectors/audit_review_v1.json), its strict parsing, and signing and verification with the same keys and
certificates as revision signatures."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docctl.errors import SignatureInvalid
from docctl.signatures import review, unwrap
from tests.fixtures.signatures import PASSWORD, make_ca, make_signer

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "audit_review_v1.json").read_text(encoding="utf-8"))
CASES = VECTORS["cases"]


def _inputs(case: dict) -> dict:
    inputs = dict(case["inputs"])
    for name in ("since", "until", "signed_at"):
        inputs[name] = None if inputs[name] is None else datetime.fromisoformat(inputs[name])
    inputs["root"] = bytes.fromhex(inputs["root"])
    inputs["scope"] = [tuple(pair) for pair in inputs["scope"]]
    return inputs


@pytest.mark.req("MHRA-6.13/EMA-6.2.2", "A11-14a")
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_known_answer_bytes(case: dict) -> None:
    expected = case["manifest"].encode("utf-8")
    assert hashlib.sha256(expected).hexdigest() == case["sha256"]
    assert review.build_review_manifest(**_inputs(case)) == expected
    parsed = review.parse_review_manifest(expected)
    assert parsed["meaning"] == "Audit trail review completed" and parsed["type"] == "docctl.audit_review"


def test_parsing_refuses_anything_but_a_canonical_v1_review() -> None:
    good = CASES[0]["manifest"].encode("utf-8")
    value = json.loads(good)
    broken = {
        "not canonical": json.dumps(value, indent=1).encode(),
        "type": good.replace(b"docctl.audit_review", b"docctl.signature"),
        "version": good.replace(b'"v":1', b'"v":2'),
        "meaning": good.replace(b"review completed", b"review skipped!!"),
        "range outside the checkpoint": good.replace(b'"to_seq":42', b'"to_seq":45'),
        "a float": good.replace(b'"events":42', b'"events":4.2'),
    }
    for what, data in broken.items():
        with pytest.raises(SignatureInvalid):
            review.parse_review_manifest(data)
        assert what


def test_a_review_signature_verifies_and_any_change_breaks_it() -> None:
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    ca, ca_key = make_ca(at)
    signer = make_signer(ca, ca_key, at=at, username="qa1")
    private = unwrap(signer.key, PASSWORD)
    inputs = {**_inputs(CASES[0]), "signer_id": signer.user_id, "username": "qa1",
              "signed_at": at + timedelta(minutes=1)}
    manifest = review.build_review_manifest(**inputs)
    signature = review.sign_review(private, manifest)
    parsed = review.verify_review(manifest, signature, signer.cert_pem, ca.certificate_pem)
    assert parsed["signer"]["id"] == str(signer.user_id)
    with pytest.raises(SignatureInvalid):
        review.verify_review(manifest.replace(b"No findings", b"No Findings"), signature, signer.cert_pem,
                             ca.certificate_pem)
    # a revision signature's key cannot be passed off for another signer named in the manifest
    other = review.build_review_manifest(**{**inputs, "signer_id": "00000000-0000-0000-0000-000000000001"})
    with pytest.raises(SignatureInvalid, match="another user"):
        review.verify_review(other, review.sign_review(private, other), signer.cert_pem,
                             ca.certificate_pem)
