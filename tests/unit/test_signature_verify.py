"""Verifying a signature: the happy path and each named failure, plus the certificates the CA issues."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docctl.errors import SignatureInvalid
from docctl.signatures import (
    certificate_info,
    fingerprint,
    issue_user_certificate,
    sign_manifest,
    unwrap,
    verify_certificate,
    verify_signature,
)
from tests.fixtures.signatures import CONTENT, PASSWORD, make_ca, make_manifest, make_signer

ISSUED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SIGNED = ISSUED + timedelta(days=3, microseconds=123)


@pytest.fixture(scope="module")
def world():
    ca, ca_key = make_ca(ISSUED)
    signer = make_signer(ca, ca_key, at=ISSUED)
    return ca, ca_key, signer


def _signed(signer, **kwargs):
    manifest = make_manifest(signer, signed_at=kwargs.pop("signed_at", SIGNED), **kwargs)
    return manifest, signer.sign(manifest)


def _reissue(cert_pem: bytes, signing_key, **changes) -> bytes:
    """A copy of `cert_pem` with builder fields changed, signed by `signing_key`: forgeries for the checks."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    builder = (x509.CertificateBuilder().subject_name(changes.get("subject", cert.subject))
               .issuer_name(changes.get("issuer", cert.issuer)).public_key(cert.public_key())
               .serial_number(cert.serial_number).not_valid_before(cert.not_valid_before_utc)
               .not_valid_after(cert.not_valid_after_utc))
    for ext in changes.get("extensions", cert.extensions):
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_happy_path(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer)
    parsed = verify_signature(manifest, signature, signer.cert_pem, ca.certificate_pem, expected_content_sha256=CONTENT)
    assert parsed["signer"]["id"] == str(signer.user_id)
    assert parsed["signed_at"] == "2026-11-24T09:00:00.000123Z"
    for _ in range(3):  # cached paths give the same answer
        assert verify_signature(manifest, signature, signer.cert_pem, ca.certificate_pem) == parsed


def test_bad_signature(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer)
    other_manifest, other_signature = _signed(signer, meaning="Reviewed")
    for bad in (other_signature, signature[:-1], b"", b"\x30\x00", bytes(len(signature))):
        with pytest.raises(SignatureInvalid, match="signature does not match"):
            verify_signature(manifest, bad, signer.cert_pem, ca.certificate_pem)


def test_tampered_manifest(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer)
    tampered = manifest.replace(b'"number":"SOP-001"', b'"number":"SOP-002"')
    assert tampered != manifest
    with pytest.raises(SignatureInvalid, match="signature does not match"):
        verify_signature(tampered, signature, signer.cert_pem, ca.certificate_pem)


def test_non_canonical_manifest(world) -> None:
    ca, _, signer = world
    manifest, _ = _signed(signer)
    spaced = manifest.replace(b'","', b'", "', 1)
    signature = unwrap(signer.key, PASSWORD).sign(spaced, ec.ECDSA(hashes.SHA256()))  # signed as is, bypassing
    with pytest.raises(SignatureInvalid, match="manifest is not canonical"):
        verify_signature(spaced, signature, signer.cert_pem, ca.certificate_pem)
    with pytest.raises(SignatureInvalid, match="manifest is not canonical"):  # and sign_manifest refuses it
        sign_manifest(unwrap(signer.key, PASSWORD), spaced)


def test_certificate_from_another_ca(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer)
    for name in ("test", "elsewhere"):  # same CA name (only the key differs) and another name
        other_ca, other_key = make_ca(ISSUED, name=name)
        outsider = make_signer(other_ca, other_key, at=ISSUED, user_id=signer.user_id)
        manifest, signature = _signed(outsider)
        with pytest.raises(SignatureInvalid, match="not issued by this CA"):
            verify_signature(manifest, signature, outsider.cert_pem, ca.certificate_pem)
        verify_signature(manifest, signature, outsider.cert_pem, other_ca.certificate_pem)  # fine under its own


def test_forged_certificate_naming_the_ca(world) -> None:
    """Issuer name and authority key identifier copied from the real CA, signed by another key."""
    ca, _, signer = world
    forged = _reissue(signer.cert_pem, ec.generate_private_key(ec.SECP256R1()))
    manifest, signature = _signed(signer)
    with pytest.raises(SignatureInvalid, match="its signature does not verify"):
        verify_signature(manifest, signature, forged, ca.certificate_pem)


@pytest.mark.parametrize(
    ("signed_at", "reason"),
    [(ISSUED - timedelta(seconds=1), "not yet valid at the signing time"),
     (ISSUED + timedelta(days=366), "expired at the signing time")],
)
def test_certificate_not_valid_at_signing_time(world, signed_at: datetime, reason: str) -> None:
    ca, ca_key, _ = world
    short = make_signer(ca, ca_key, at=ISSUED, valid_years=1)
    manifest, signature = _signed(short, signed_at=signed_at)
    with pytest.raises(SignatureInvalid, match=reason):
        verify_signature(manifest, signature, short.cert_pem, ca.certificate_pem)
    verify_certificate(short.cert_pem, ca.certificate_pem, at=ISSUED)  # the edges are inside
    verify_certificate(short.cert_pem, ca.certificate_pem, at=ISSUED + timedelta(days=365))


def test_uid_mismatch(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer, signer_id=uuid.uuid4())  # signer's key, another user's id
    with pytest.raises(SignatureInvalid, match="another user"):
        verify_signature(manifest, signature, signer.cert_pem, ca.certificate_pem)


def test_certificate_that_cannot_sign(world) -> None:
    ca, ca_key, signer = world
    cert = x509.load_pem_x509_certificate(signer.cert_pem)
    usage = x509.KeyUsage(False, False, True, False, False, False, False, False, False)  # keyEncipherment only
    extensions = [x509.Extension(e.oid, e.critical, usage if isinstance(e.value, x509.KeyUsage) else e.value)
                  for e in cert.extensions]
    encrypt_only = _reissue(signer.cert_pem, ca_key, extensions=extensions)
    manifest, signature = _signed(signer)
    with pytest.raises(SignatureInvalid, match="does not allow signing"):
        verify_signature(manifest, signature, encrypt_only, ca.certificate_pem)


def test_ca_that_is_not_a_ca(world) -> None:
    ca, _, signer = world
    manifest, signature = _signed(signer)
    with pytest.raises(SignatureInvalid, match="not a CA"):
        verify_signature(manifest, signature, signer.cert_pem, signer.cert_pem)
    with pytest.raises(SignatureInvalid, match="cannot be read"):
        verify_signature(manifest, signature, b"not a certificate", ca.certificate_pem)


def test_user_certificate(world) -> None:
    ca, ca_key, signer = world
    cert = x509.load_pem_x509_certificate(signer.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem)
    uid = cert.subject.get_attributes_for_oid(x509.ObjectIdentifier("0.9.2342.19200300.100.1.1"))
    assert uid[0].value == str(signer.user_id)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == signer.name
    assert cert.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == signer.title
    assert cert.issuer == ca_cert.subject
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    other = make_signer(ca, ca_key, at=ISSUED)
    assert cert.serial_number != x509.load_pem_x509_certificate(other.cert_pem).serial_number
    info = certificate_info(signer.cert_pem)
    assert info["subject"] == {"common_name": signer.name, "user_id": str(signer.user_id), "title": signer.title,
                               "username": signer.username}
    assert info["serial"] == format(cert.serial_number, "x")
    assert (info["not_before"], info["not_after"]) == ("2026-11-21T09:00:00.000000Z", "2036-11-21T09:00:00.000000Z")
    assert info["public_key_fingerprint"] == fingerprint(signer.key.public_key_pem)
    assert info["fingerprint"] == cert.fingerprint(hashes.SHA256()).hex()


def test_user_certificate_never_outlives_the_ca(world) -> None:
    ca, ca_key, signer = world
    late = ISSUED + timedelta(days=365 * 25)
    cert = issue_user_certificate(ca, ca_key, signer.key.public_key_pem, user_id=signer.user_id, username="x",
                                  full_name="X", title="", at=late)
    ca_end = x509.load_pem_x509_certificate(ca.certificate_pem).not_valid_after_utc
    assert x509.load_pem_x509_certificate(cert).not_valid_after_utc == ca_end
    assert certificate_info(cert)["subject"]["title"] is None
    with pytest.raises(ValueError):  # X.509 limits a common name to 64 characters
        issue_user_certificate(ca, ca_key, signer.key.public_key_pem, user_id=signer.user_id, username="x",
                               full_name="N" * 65, title="", at=ISSUED)
