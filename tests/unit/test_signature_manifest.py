"""The signature manifest v1 against hand-written known-answer bytes (tests/vectors/manifest_v1.json), and the
binding of a signature to one revision's content (P11-70)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docctl.errors import SignatureInvalid
from docctl.signatures import build_manifest, parse_manifest, verify_signature
from tests.fixtures.signatures import CONTENT, make_ca, make_manifest, make_signer

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "manifest_v1.json").read_text(encoding="utf-8"))
CASES = VECTORS["cases"]
IDS = ("document_id", "revision_id", "signer_id", "task_id")


def _inputs(case: dict, *, ids_as_uuid: bool) -> dict:
    inputs = dict(case["inputs"])
    inputs["signed_at"] = datetime.fromisoformat(inputs["signed_at"])
    if ids_as_uuid:
        for name in IDS:
            if inputs[name] is not None:
                inputs[name] = uuid.UUID(inputs[name])
    return inputs


@pytest.mark.req("A11-14a")
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_known_answer_bytes(case: dict) -> None:
    expected = case["manifest"].encode("utf-8")
    assert hashlib.sha256(expected).hexdigest() == case["sha256"]  # the vector file is self-consistent
    for ids_as_uuid in (True, False):
        built = build_manifest(**_inputs(case, ids_as_uuid=ids_as_uuid))
        assert built == expected, built.decode("utf-8")
        assert hashlib.sha256(built).hexdigest() == case["sha256"]
    parsed = parse_manifest(expected)
    assert parsed["meaning"] == case["inputs"]["meaning"]
    assert parsed["statement"] == case["inputs"]["statement"]
    assert parsed["task_id"] == case["inputs"]["task_id"]


def test_vectors_cover_the_hard_cases() -> None:
    texts = [case["manifest"] for case in CASES]
    assert any("é" in t and "日本" in t for t in texts)
    assert any('\\"' in t and "\\\\" in t for t in texts)
    assert any('"task_id":null' in t for t in texts)


def _fields() -> dict:
    return _inputs(CASES[0], ids_as_uuid=True)


@pytest.mark.parametrize(
    "change",
    [{"content_sha256": "E3B0" + "0" * 60}, {"content_sha256": "ab"}, {"rendition_sha256": "x" * 64},
     {"version": 1.0}, {"title": None}, {"signed_at": datetime(2026, 1, 1)}, {"statement": b"bytes"}],
)
def test_build_refuses_bad_fields(change: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        build_manifest(**{**_fields(), **change})


def _reencode(value: dict, **dumps: object) -> bytes:
    return json.dumps(value, **dumps).encode("utf-8")


def _canonical_value() -> dict:
    return json.loads(CASES[1]["manifest"])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "manifest is not JSON"),
        (b"\xff\xfe{}", "manifest is not JSON"),
        (b"[1]", "manifest version is not 1"),
        (_reencode({**_canonical_value(), "v": 2}, sort_keys=True, separators=(",", ":")), "version is not 1"),
        (_reencode({**_canonical_value(), "v": True}, sort_keys=True, separators=(",", ":")), "version is not 1"),
        (_reencode({**_canonical_value(), "type": "x"}, sort_keys=True, separators=(",", ":")), "type is not"),
        (_reencode(_canonical_value(), sort_keys=True), "not canonical"),  # whitespace
        (_reencode(dict(reversed(_canonical_value().items())), separators=(",", ":"), ensure_ascii=False),
         "not canonical"),  # key order
        (_reencode(_canonical_value(), sort_keys=True, separators=(",", ":")), "not canonical"),  # \u escapes
        (CASES[0]["manifest"].encode()[:-1] + b',"v":1}', "not canonical"),  # duplicate key
        (CASES[0]["manifest"].encode() + b"\n", "not canonical"),
        (CASES[0]["manifest"].encode().replace(b'"v":1', b'"v":1.0'), "version is not 1"),
        (_reencode({**_canonical_value(), "extra": "x"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
         "v1 fields"),
        (_reencode({**_canonical_value(), "task_id": 5}, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
         "v1 fields"),
        (CASES[0]["manifest"].encode().replace(b'"meaning":"Approved",', b""), "v1 fields"),
        (CASES[0]["manifest"].encode().replace(b"09:00:00.123456Z", b"09:00:00Z"), "signed_at"),
        (CASES[0]["manifest"].encode().replace(b"2026-11-21T", b"2026-02-30T"), "signed_at"),
        (CASES[0]["manifest"].encode().replace(b'"e3b0', b'"E3B0'), "SHA-256"),
    ],
)
def test_parse_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        parse_manifest(data)


@pytest.fixture(scope="module")
def setup():
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    ca, ca_key = make_ca(at)
    return ca, make_signer(ca, ca_key, at=at), at + timedelta(hours=1)


@pytest.mark.req("A11-14a")
def test_meaning_and_statement_are_signed(setup) -> None:
    ca, signer, at = setup
    manifest = make_manifest(signer, signed_at=at, meaning="QA Approved")
    parsed = verify_signature(manifest, signer.sign(manifest), signer.cert_pem, ca.certificate_pem)
    assert parsed["meaning"] == "QA Approved"
    assert parsed["statement"].startswith("I approve this document")
    altered = manifest.replace(b'"meaning":"QA Approved"', b'"meaning":"Reviewed"')
    with pytest.raises(SignatureInvalid, match="signature does not match"):
        verify_signature(altered, signer.sign(manifest), signer.cert_pem, ca.certificate_pem)


@pytest.mark.req("P11-70")
def test_bound_to_the_content_hash(setup) -> None:
    ca, signer, at = setup
    manifest = make_manifest(signer, signed_at=at)
    signature = signer.sign(manifest)
    verify_signature(manifest, signature, signer.cert_pem, ca.certificate_pem, expected_content_sha256=CONTENT)
    changed = hashlib.sha256(b"the revision's original bytes, edited").hexdigest()
    with pytest.raises(SignatureInvalid, match="content does not have the signed hash"):
        verify_signature(manifest, signature, signer.cert_pem, ca.certificate_pem, expected_content_sha256=changed)


@pytest.mark.req("P11-70")
@pytest.mark.parametrize(
    "other",
    [{"revision_id": uuid.uuid4()}, {"document_id": uuid.uuid4()},
     {"content_sha256": hashlib.sha256(b"other content").hexdigest()}],
    ids=["another revision", "another document", "other content"],
)
def test_signature_cannot_move_to_another_record(setup, other: dict) -> None:
    ca, signer, at = setup
    signature = signer.sign(make_manifest(signer, signed_at=at))
    moved = make_manifest(signer, signed_at=at, **other)
    with pytest.raises(SignatureInvalid, match="signature does not match"):
        verify_signature(moved, signature, signer.cert_pem, ca.certificate_pem)
