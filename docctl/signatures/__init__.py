"""Electronic signatures, the pure cryptography (DESIGN.md "Electronic signatures"; 21 CFR Part 11 Subpart C).

No database and no web here: services store what these functions return and pass it back in.

- `ca`: the instance CA, its key encrypted under the instance secret.
- `keys`: a user's ECDSA P-256 key pair, the private key wrapped under a key derived from the user's password.
- `certs`: the X.509 certificate the instance CA issues for a user key; reading certificates back.
- `manifest`: the stable v1 signature manifest (canonical JSON) that is what a person signs.
- `sign`: ECDSA P-256 / SHA-256 over the manifest bytes.
- `verify`: every check a stored signature must pass, each raising `SignatureInvalid(reason)`.
- `export`: a bundle an inspector verifies with the `openssl` command line alone.
"""

from __future__ import annotations

from docctl.signatures.ca import InstanceCA, create_instance_ca, load_ca_key
from docctl.signatures.certs import certificate_info, issue_user_certificate
from docctl.signatures.export import openssl_bundle
from docctl.signatures.keys import WrappedKey, fingerprint, generate_user_key, rewrap, unwrap
from docctl.signatures.manifest import build_manifest, parse_manifest
from docctl.signatures.sign import sign_manifest
from docctl.signatures.verify import verify_certificate, verify_manifest_signature, verify_signature

__all__ = [
    "InstanceCA",
    "WrappedKey",
    "build_manifest",
    "certificate_info",
    "create_instance_ca",
    "fingerprint",
    "generate_user_key",
    "issue_user_certificate",
    "load_ca_key",
    "openssl_bundle",
    "parse_manifest",
    "rewrap",
    "sign_manifest",
    "unwrap",
    "verify_certificate",
    "verify_manifest_signature",
    "verify_signature",
]
