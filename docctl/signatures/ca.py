"""The instance CA: created once by `docctl init`, it issues every user's signing certificate.

Its private key exists only as encrypted PKCS#8 under the instance secret; `load_ca_key` is the one way back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docctl.errors import KeyUnwrapFailed
from docctl.signatures.validity import start_of, years_after


@dataclass(frozen=True)
class InstanceCA:
    """The CA as stored: its self-signed certificate (public) and its private key encrypted under the instance
    secret (PKCS#8 PEM)."""

    certificate_pem: bytes
    encrypted_key_pem: bytes


def ca_subject(name: str) -> x509.Name:
    """The CA's distinguished name: CN="docctl instance CA <name>"."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"docctl instance CA {name}")])


def create_instance_ca(name: str, secret: bytes, *, at: datetime, valid_years: int = 30) -> InstanceCA:
    """A new ECDSA P-256 CA named `name`, valid from `at` for `valid_years`: self-signed, basicConstraints CA:TRUE
    with pathlen 0 (it signs user certificates only), keyUsage keyCertSign and cRLSign, with its subject key
    identifier. The private key is returned only encrypted under `secret`."""
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the instance secret must be non-empty bytes")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = ca_subject(name)
    not_before = start_of(at)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(years_after(not_before, valid_years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    return InstanceCA(certificate.public_bytes(serialization.Encoding.PEM), encrypted)


def load_ca_key(ca: InstanceCA, secret: bytes) -> ec.EllipticCurvePrivateKey:
    """The CA's private key, decrypted with `secret`; `KeyUnwrapFailed` if the secret is wrong, the key is damaged,
    or it is not the key of `ca.certificate_pem`."""
    try:
        key = serialization.load_pem_private_key(ca.encrypted_key_pem, password=secret)
    except (ValueError, TypeError):
        raise KeyUnwrapFailed("The instance CA key could not be decrypted with this instance secret.") from None
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
        raise KeyUnwrapFailed("The instance CA key does not belong to the instance CA certificate.")
    return key
