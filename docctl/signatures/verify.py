"""Verifying a stored signature: small named checks, each raising SignatureInvalid(reason), composed in
`verify_signature`. Parsed certificates and the result of each certificate-under-CA signature check are cached
by PEM bytes (both are immutable facts about those bytes); the time-dependent checks run every time."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.errors import SignatureInvalid
from docctl.signatures.certs import load_certificate, subject_value
from docctl.signatures.manifest import parse_manifest, signed_at

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _certificate(cert_pem: bytes, what: str) -> x509.Certificate:
    try:
        return load_certificate(cert_pem)
    except (ValueError, TypeError):
        raise SignatureInvalid(f"{what} certificate cannot be read") from None


@lru_cache(maxsize=4096)
def _signer_key(cert_pem: bytes) -> ec.EllipticCurvePublicKey | None:
    key = _certificate(cert_pem, "signer").public_key()
    return key if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1) else None


def _key_identifier(certificate: x509.Certificate, kind: type) -> bytes | None:
    try:
        value = certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    return value.digest if kind is x509.SubjectKeyIdentifier else value.key_identifier


@lru_cache(maxsize=4096)
def _issuance_problem(cert_pem: bytes, ca_certificate_pem: bytes) -> str | None:
    """Why `cert_pem` was not issued by the CA, or None: the time-independent part of verify_certificate."""
    certificate = _certificate(cert_pem, "signer")
    ca = _certificate(ca_certificate_pem, "CA")
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        if not constraints.ca or not ca_usage.key_cert_sign:
            return "the CA certificate is not a CA"
    except x509.ExtensionNotFound:
        return "the CA certificate is not a CA"
    if certificate.issuer != ca.subject:
        return "certificate was not issued by this CA (issuer name differs)"
    ca_ski = _key_identifier(ca, x509.SubjectKeyIdentifier)
    if ca_ski is None or _key_identifier(certificate, x509.AuthorityKeyIdentifier) != ca_ski:
        return "certificate was not issued by this CA (authority key identifier differs)"
    try:
        ca_key, algorithm = ca.public_key(), certificate.signature_hash_algorithm
        if not isinstance(ca_key, ec.EllipticCurvePublicKey) or algorithm is None:
            return "certificate signature algorithm is not supported"
        ca_key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(algorithm))
    except UnsupportedAlgorithm:
        return "certificate signature algorithm is not supported"
    except InvalidSignature:
        return "certificate was not issued by this CA (its signature does not verify)"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "certificate does not allow signing (keyUsage or basicConstraints missing)"
    if constraints.ca or not (usage.digital_signature or usage.content_commitment):
        return "certificate does not allow signing"
    return None


def verify_certificate(cert_pem: bytes, ca_certificate_pem: bytes, *, at: datetime) -> None:
    """The signer's certificate was issued by this CA (the CA's signature over it, issuer = CA subject, AKI = CA
    SKI), allows signing (keyUsage digitalSignature or nonRepudiation, not a CA), and it and the CA were both
    valid at `at`, the signing time."""
    problem = _issuance_problem(cert_pem, ca_certificate_pem)
    if problem:
        raise SignatureInvalid(problem)
    certificate = load_certificate(cert_pem)
    if at < certificate.not_valid_before_utc:
        raise SignatureInvalid("certificate was not yet valid at the signing time")
    if at > certificate.not_valid_after_utc:
        raise SignatureInvalid("certificate had expired at the signing time")
    ca = load_certificate(ca_certificate_pem)
    if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc:
        raise SignatureInvalid("the CA certificate was not valid at the signing time")


def verify_manifest_signature(manifest: bytes, signature_der: bytes, cert_pem: bytes) -> None:
    """`signature_der` is the certificate's key's ECDSA P-256 / SHA-256 signature over exactly `manifest`."""
    key = _signer_key(cert_pem)
    if key is None:
        raise SignatureInvalid("signer key is not ECDSA P-256")
    try:
        key.verify(signature_der, manifest, _ECDSA_SHA256)
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureInvalid("signature does not match the manifest and signer certificate") from None


def verify_signer(manifest: dict, cert_pem: bytes) -> None:
    """The certificate's UID is the manifest's signer id: the signer named in the manifest holds the key."""
    if subject_value(load_certificate(cert_pem), "user_id") != manifest["signer"]["id"]:
        raise SignatureInvalid("certificate belongs to another user than the manifest's signer")


def verify_content(manifest: dict, expected_content_sha256: str) -> None:
    """The revision's stored content still has the hash that was signed."""
    if manifest["revision"]["content_sha256"] != expected_content_sha256:
        raise SignatureInvalid("the revision's content does not have the signed hash")


def verify_signature(
    manifest: bytes,
    signature_der: bytes,
    cert_pem: bytes,
    ca_certificate_pem: bytes,
    *,
    expected_content_sha256: str | None = None,
) -> dict:
    """Every check, in order: the manifest is canonical v1; the certificate was issued by the CA and valid at the
    manifest's signed_at; the signature is over these bytes by that certificate's key; the certificate's UID is the
    signer; and (when given) the content hash is the one stored now. Returns the parsed manifest."""
    parsed = parse_manifest(manifest)
    verify_certificate(cert_pem, ca_certificate_pem, at=signed_at(parsed))
    verify_manifest_signature(manifest, signature_der, cert_pem)
    verify_signer(parsed, cert_pem)
    if expected_content_sha256 is not None:
        verify_content(parsed, expected_content_sha256)
    return parsed
