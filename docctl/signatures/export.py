"""An offline verification bundle: the signed bytes, the signature, the certificates and the `openssl` commands
that check them without docctl (P11-70, the inspector's independent check)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from docctl.signatures.certs import load_certificate
from docctl.signatures.manifest import parse_manifest, signed_at

COMMANDS = (
    "openssl verify -CAfile ca.pem signer.pem",
    "openssl x509 -in signer.pem -pubkey -noout > signer-pubkey.pem",
    "openssl dgst -sha256 -verify signer-pubkey.pem -signature signature.der manifest.json",
)


def _instructions(manifest: dict) -> str:
    epoch = int(signed_at(manifest).timestamp())
    signer, revision = manifest["signer"], manifest["revision"]
    return "\n".join([
        "docctl electronic signature: offline verification with the openssl command line",
        "",
        f"Signed by {signer['name']} ({signer['username']}) at {manifest['signed_at']},"
        f" meaning \"{manifest['meaning']}\",",
        f"document {manifest['document']['number']} version {revision['version']},"
        f" content SHA-256 {revision['content_sha256']}.",
        "",
        "Run in this directory:",
        "",
        *(f"  {command}" for command in COMMANDS),
        "",
        "Expected: the first prints \"signer.pem: OK\" (the certificate was issued by the docctl instance CA in",
        "ca.pem), the second writes the signer's public key from the certificate (signer-pubkey.pem is included",
        "too and must be identical), the third prints \"Verified OK\" (signature.der is the signer's signature over",
        "exactly the bytes of manifest.json). Any changed byte makes the last command print \"Verification failure\".",
        "",
        "If the certificate has expired since, check it at the signing time instead:",
        "",
        f"  openssl verify -attime {epoch} -CAfile ca.pem signer.pem",
        "",
        "The manifest binds the signature to the revision's content: the signed document's original file must have",
        "the content_sha256 above (`openssl dgst -sha256 <file>` or `sha256sum <file>`).",
        "",
    ])


def openssl_bundle(
    directory: Path, *, manifest: bytes, signature_der: bytes, cert_pem: bytes, ca_certificate_pem: bytes
) -> dict[str, Path]:
    """Write manifest.json (the exact signed bytes), signature.der, signer.pem, signer-pubkey.pem, ca.pem and
    VERIFY.txt into `directory` (created if needed; files of these names are replaced). Returns the paths by file
    name. The manifest must be a canonical v1 manifest (SignatureInvalid otherwise); nothing is verified here."""
    parsed = parse_manifest(manifest)
    public_key_pem = load_certificate(cert_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    contents = {
        "manifest.json": manifest,
        "signature.der": signature_der,
        "signer.pem": cert_pem,
        "signer-pubkey.pem": public_key_pem,
        "ca.pem": ca_certificate_pem,
        "VERIFY.txt": _instructions(parsed).encode("utf-8"),
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in contents.items():
        path = directory / name
        path.write_bytes(data)
        paths[name] = path
    return paths
