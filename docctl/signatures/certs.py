"""User certificates: the instance CA vouches that a public key belongs to one user (CN = full name, UID = user
id), and reading certificates back, parsed once per distinct PEM."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from docctl.clock import rfc3339
from docctl.signatures.ca import InstanceCA
from docctl.signatures.validity import start_of, years_after

# The subject attributes docctl writes, by the name certificate_info reports them under.
SUBJECT_FIELDS = {
    "common_name": NameOID.COMMON_NAME,
    "user_id": NameOID.USER_ID,  # UID, 0.9.2342.19200300.100.1.1
    "title": NameOID.TITLE,
    "username": NameOID.PSEUDONYM,
}
_DN_NAMES = {NameOID.TITLE: "title", NameOID.PSEUDONYM: "pseudonym"}


@lru_cache(maxsize=4096)
def load_certificate(cert_pem: bytes) -> x509.Certificate:
    """The parsed certificate (cached by PEM bytes: certificates are immutable). ValueError if it is not one."""
    return x509.load_pem_x509_certificate(cert_pem)


def subject_value(certificate: x509.Certificate, field: str) -> str | None:
    """The value of one of `SUBJECT_FIELDS` in the subject, or None when absent."""
    found = certificate.subject.get_attributes_for_oid(SUBJECT_FIELDS[field])
    return str(found[0].value) if found else None


def issue_user_certificate(
    ca: InstanceCA,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key_pem: bytes,
    *,
    user_id: uuid.UUID,
    username: str,
    full_name: str,
    title: str,
    at: datetime,
    valid_years: int = 10,
) -> bytes:
    """A PEM certificate for a user's P-256 public key, signed by the instance CA. Subject: CN = full name,
    UID = str(user_id), title (left out when empty), pseudonym = username. keyUsage digitalSignature and
    nonRepudiation (contentCommitment), basicConstraints CA:FALSE, AKI = the CA's SKI, a random serial. Valid from
    `at` for `valid_years`, never beyond the CA. ValueError for a name longer than X.509 allows (64 characters)."""
    public_key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("user keys are ECDSA P-256")
    ca_certificate = load_certificate(ca.certificate_pem)
    if ca_key.public_key() != ca_certificate.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, full_name),
        x509.NameAttribute(NameOID.USER_ID, str(uuid.UUID(str(user_id)))),
        x509.NameAttribute(NameOID.PSEUDONYM, username),
    ]
    if title:
        attributes.insert(1, x509.NameAttribute(NameOID.TITLE, title))
    ca_ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    not_before = start_of(at)
    not_after = min(years_after(not_before, valid_years), ca_certificate.not_valid_after_utc)
    if not_after <= not_before:
        raise ValueError("the instance CA has expired")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_info(cert_pem: bytes) -> dict:
    """What a person or the API shows about a certificate: subject fields (None when absent), issuer, serial
    (lower-case hex), validity (RFC 3339), the certificate's SHA-256 fingerprint (hex of the DER, as
    `openssl x509 -fingerprint -sha256` shows it without colons) and the public key's fingerprint."""
    certificate = load_certificate(cert_pem)
    der = certificate.public_bytes(serialization.Encoding.DER)
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        usage = certificate.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
        key_usage = [name for name in ("digital_signature", "content_commitment") if getattr(usage, name)]
    except x509.ExtensionNotFound:
        key_usage = []
    return {
        "subject": {field: subject_value(certificate, field) for field in SUBJECT_FIELDS},
        "subject_dn": certificate.subject.rfc4514_string(_DN_NAMES),
        "issuer_dn": certificate.issuer.rfc4514_string(_DN_NAMES),
        "serial": format(certificate.serial_number, "x"),
        "not_before": rfc3339(certificate.not_valid_before_utc),
        "not_after": rfc3339(certificate.not_valid_after_utc),
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "public_key_fingerprint": hashlib.sha256(spki).hexdigest(),
        "key_usage": key_usage,
    }
