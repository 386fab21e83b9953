"""The evidence package's layout (`docctl.evidence_package` v1, docs/architecture.md): member names, the signed
package manifest, `MANIFEST.sha256` and the README. Pure: no database, no I/O.

Members (paths inside the zip, always `/`-separated, ASCII):

    README.txt                 how to check the package, with `docctl verify-package` and by hand with openssl
    MANIFEST.sha256            `sha256sum -c` lines for every member but itself, manifest.json and manifest.sig
    manifest.json              canonical JSON: what, when, by whom, by what, the checkpoint, every member's hash
    manifest.sig               the instance CA key's ECDSA P-256 / SHA-256 signature (DER) over manifest.json
    ca.pem                     the instance CA certificate
    checkpoint.json/.sig       the signed checkpoint the audit events are proven against (the exact signed bytes)
    document.json              (document scope) the document, its revisions, signatures, training, in electronic form
    records.json               (time-range scope) the signatures and training records made in the range
    record.pdf                 the same for people: metadata, every signature manifestation, training, audit trail
    revisions/<v>/original.<ext>, revisions/<v>/rendition.pdf   the stored bytes of every revision
    controlled-copy.<ext>      the effective revision stamped as a controlled copy (when one is effective)
    signatures/<id>/...        manifest.json, signature.der, signer.pem, signer-pubkey.pem, ca.pem, VERIFY.txt
    training/records.json, training/records.csv
    audit/events.jsonl         per event: seq, canonical (the hashed text), leaf_hash, leaf_index, proof, tree_size
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes

PACKAGE_TYPE = "docctl.evidence_package"
VERSION = 1
README = "README.txt"
SUMS = "MANIFEST.sha256"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
CA = "ca.pem"
CHECKPOINT = "checkpoint.json"
CHECKPOINT_SIG = "checkpoint.sig"
DOCUMENT = "document.json"
RECORDS = "records.json"
RECORD_PDF = "record.pdf"
EVENTS = "audit/events.jsonl"
TRAINING_JSON = "training/records.json"
TRAINING_CSV = "training/records.csv"
SIGNATURE_FILES = ("manifest.json", "signature.der", "signer.pem", "signer-pubkey.pem", "ca.pem", "VERIFY.txt")
# not in MANIFEST.sha256: the file itself and the two that sign it (manifest.json lists MANIFEST.sha256)
NOT_IN_SUMS = frozenset({SUMS, MANIFEST, MANIFEST_SIG})
# "$ " in the README marks a command to run from the unpacked package's directory (a test runs them all)
COMMAND_PREFIX = "    $ "


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def revision_member(version: str, name: str) -> str:
    return f"revisions/{version}/{name}"


def signature_member(signature_id: str, name: str) -> str:
    return f"signatures/{signature_id}/{name}"


def sums_text(files: Iterable[tuple[str, str]]) -> bytes:
    """`sha256sum` lines ("<hex>  <path>") for (path, sha256) pairs, in the given order."""
    return "".join(f"{digest}  {path}\n" for path, digest in files if path not in NOT_IN_SUMS).encode("ascii")


def ca_fingerprint(ca_pem: bytes) -> str:
    """The CA certificate's SHA-256 fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it."""
    digest = x509.load_pem_x509_certificate(ca_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


CONTENTS = [
    "Contents:",
    "",
    f"  {README:<34} this file",
    f"  {SUMS:<34} SHA-256 of every member but itself, manifest.json and manifest.sig (sha256sum -c)",
    f"  {MANIFEST:<34} when, by whom, by what; the checkpoint; path, SHA-256 and size of every member",
    f"  {MANIFEST_SIG:<34} the instance CA's ECDSA P-256 signature over manifest.json (DER)",
    f"  {CA:<34} the instance CA certificate",
    f"  {CHECKPOINT} + {CHECKPOINT_SIG:<17} the signed checkpoint of the audit trail (exact signed bytes)",
    f"  {DOCUMENT} or {RECORDS:<19} the records in electronic form (document, revisions, signatures)",
    f"  {RECORD_PDF:<34} the same for people, with the audit trail: the certified copy",
    "  revisions/<version>/original.*     each revision's original file as stored",
    "  revisions/<version>/rendition.*    its PDF rendition, when separate from the original",
    "  controlled-copy.*                  the effective revision, stamped as a controlled copy",
    "  signatures/<id>/                   manifest.json, signature.der, signer.pem, signer-pubkey.pem, ca.pem,",
    "                                     VERIFY.txt: one electronic signature, checkable with openssl alone",
    f"  {TRAINING_JSON}, {TRAINING_CSV}   training assignments and records",
    f"  {EVENTS:<34} the audit events with their inclusion proofs",
]


def readme(*, scope: str, made_at: str, made_by: str, generator: str, tree_size: int, root: str, fingerprint: str,
           signature: tuple[str, int] | None) -> bytes:
    """How a person checks the package: with docctl, then by hand with sha256sum and openssl alone. `signature`:
    one signature's id and signing time (Unix seconds), for the worked openssl example."""
    lines = [
        f"docctl evidence package ({PACKAGE_TYPE} v{VERSION})",
        "",
        f"Scope: {scope}",
        f"Made at {made_at} by {made_by} with {generator}.",
        f"Audit events are proven against the signed checkpoint at tree size {tree_size}, root {root}.",
        f"Instance CA certificate (ca.pem) SHA-256 fingerprint: {fingerprint}",
        "Compare this fingerprint with the one your organisation published for the docctl instance: every other",
        "check trusts ca.pem.",
        "",
        *CONTENTS,
        "",
        "1. With docctl (no server, no database needed):",
        "",
        "       docctl verify-package THIS-FILE.zip",
        "",
        "   It checks every member's size and SHA-256 against manifest.json, that nothing is missing or added, the",
        "   CA's signature on manifest.json and on checkpoint.json, every audit event's leaf hash and inclusion",
        "   proof against the checkpoint, every electronic signature (manifest, signer certificate issued by ca.pem,",
        "   the signed content hash equal to the revision's file here) and document.json against the members.",
        "",
        "2. By hand, after unpacking the zip (e.g. `unzip THIS-FILE.zip -d evidence && cd evidence`):",
        "",
        "   The SHA-256 of every member (each line must say OK):",
        "",
        f"{COMMAND_PREFIX}sha256sum -c MANIFEST.sha256",
        "",
        "   The CA's fingerprint, and its public key; then the CA's signature over the package manifest (which",
        "   lists MANIFEST.sha256 with its hash) and over the checkpoint (each must say \"Verified OK\"):",
        "",
        f"{COMMAND_PREFIX}openssl x509 -in ca.pem -noout -fingerprint -sha256",
        f"{COMMAND_PREFIX}openssl x509 -in ca.pem -pubkey -noout > ca-pubkey.pem",
        f"{COMMAND_PREFIX}openssl dgst -sha256 -verify ca-pubkey.pem -signature manifest.sig manifest.json",
        f"{COMMAND_PREFIX}openssl dgst -sha256 -verify ca-pubkey.pem -signature checkpoint.sig checkpoint.json",
        "",
    ]
    if signature:
        d = f"signatures/{signature[0]}"
        lines += [
            "   One electronic signature (every signatures/<id>/VERIFY.txt says the same for its own): the signer's",
            "   certificate was issued by the instance CA and valid at the signing time (\"OK\"), and the signature",
            "   is over exactly manifest.json (\"Verified OK\"); the manifest's content_sha256 is the SHA-256 of the",
            "   revision's original file:",
            "",
            f"{COMMAND_PREFIX}openssl verify -attime {signature[1]} -CAfile ca.pem {d}/signer.pem",
            f"{COMMAND_PREFIX}openssl x509 -in {d}/signer.pem -pubkey -noout > signer-pubkey.pem",
            f"{COMMAND_PREFIX}openssl dgst -sha256 -verify signer-pubkey.pem -signature {d}/signature.der "
            f"{d}/manifest.json",
            "",
        ]
    lines += [
        "   An audit event: audit/events.jsonl holds, per line, the event's canonical JSON text (\"canonical\"), its",
        "   leaf hash SHA-256(0x00 || canonical as UTF-8) and its RFC 6962 audit path (\"proof\") to the",
        "   checkpoint's root; `docctl verify-package` recomputes each (RFC 9162 section 2.1.3.2 by hand).",
        "",
        "record.pdf is the human-readable certified copy; document.json (or records.json) and the files under",
        "revisions/ are the electronic copy; manifest.json says when, by whom and by what this copy was made.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def readme_commands(text: str) -> list[str]:
    """The commands the README tells a person to run, in order."""
    return [line[len(COMMAND_PREFIX):] for line in text.splitlines() if line.startswith(COMMAND_PREFIX)]
