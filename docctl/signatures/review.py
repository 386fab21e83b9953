"""The audit-trail review manifest, v1: the exact bytes QA signs when completing a review of the audit trail
(MHRA-6.13/EMA-6.2.2). A review is about a range of the trail, not a document revision, so it has its own type
beside the revision manifest (`docctl.signature`), which stays as it is:

`{"v":1,"type":"docctl.audit_review","range":{"from_seq","to_seq","since","until"},"checkpoint":{"tree_size",
"root"},"scope":[{"report","events"}],"findings","meaning","signer":{"id","username","name","title"},"signed_at",
"statement"}` as canonical JSON. Sequence numbers, tree size and event counts are integers; `since` and `until`
are RFC 3339 UTC with microseconds and `Z` (`since` may be null: from the start of the trail); `root` is 64
lower-case hex digits (the signed checkpoint that covers `to_seq`). Pinned by tests/vectors/audit_review_v1.json.

Signed and verified with the same keys, certificates and ECDSA P-256 / SHA-256 as revision signatures; the offline
bundle is checked with the same three `openssl` commands.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.audit.canonical import canonical_json
from docctl.clock import rfc3339
from docctl.errors import SignatureInvalid
from docctl.signatures.certs import load_certificate
from docctl.signatures.export import COMMANDS
from docctl.signatures.verify import verify_certificate, verify_manifest_signature, verify_signer

TYPE = "docctl.audit_review"
MEANING = "Audit trail review completed"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_TOP = {"v", "type", "range", "checkpoint", "scope", "findings", "meaning", "signer", "signed_at", "statement"}


def build_review_manifest(
    *, from_seq: int, to_seq: int, since: datetime | None, until: datetime, tree_size: int, root: bytes,
    scope: list[tuple[str, int]], findings: str, signer_id: object, username: str, name: str, signer_title: str,
    signed_at: datetime, statement: str,
) -> bytes:
    """The canonical v1 review manifest bytes. `scope` is (report name, events in the range) per report reviewed."""
    if not (1 <= from_seq <= to_seq <= tree_size):
        raise ValueError("the range must be 1 <= from_seq <= to_seq <= the checkpoint's tree size")
    if len(root) != 32:
        raise ValueError("the checkpoint root is 32 bytes")
    value = {
        "v": 1,
        "type": TYPE,
        "range": {"from_seq": from_seq, "to_seq": to_seq, "since": None if since is None else rfc3339(since),
                  "until": rfc3339(until)},
        "checkpoint": {"tree_size": tree_size, "root": root.hex()},
        "scope": [{"report": str(report), "events": int(count)} for report, count in scope],
        "findings": findings,
        "meaning": MEANING,
        "signer": {"id": str(signer_id), "username": username, "name": name, "title": signer_title},
        "signed_at": rfc3339(signed_at),
        "statement": statement,
    }
    for key in ("findings", "statement"):
        if not isinstance(value[key], str):
            raise TypeError(f"manifest field {key} must be a string")
    return canonical_json(value)


def _is_int(value: object) -> bool:
    return type(value) is int


def _time_ok(value: object) -> bool:
    if not (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def _shape_problem(m: dict) -> str | None:
    if set(m) != _TOP:
        return "manifest does not have the v1 review fields"
    r, c, s = m["range"], m["checkpoint"], m["signer"]
    if not (isinstance(r, dict) and set(r) == {"from_seq", "to_seq", "since", "until"}
            and _is_int(r["from_seq"]) and _is_int(r["to_seq"])
            and (r["since"] is None or _time_ok(r["since"])) and _time_ok(r["until"])):
        return "manifest range is not {from_seq, to_seq, since, until}"
    if not (isinstance(c, dict) and set(c) == {"tree_size", "root"} and _is_int(c["tree_size"])
            and isinstance(c["root"], str) and _SHA256.fullmatch(c["root"])):
        return "manifest checkpoint is not {tree_size, root}"
    if not 1 <= r["from_seq"] <= r["to_seq"] <= c["tree_size"]:
        return "manifest range is not inside its checkpoint"
    if not (isinstance(m["scope"], list) and all(
            isinstance(x, dict) and set(x) == {"report", "events"} and isinstance(x["report"], str)
            and _is_int(x["events"]) for x in m["scope"])):
        return "manifest scope is not a list of {report, events}"
    if not (isinstance(s, dict) and set(s) == {"id", "username", "name", "title"}
            and all(isinstance(v, str) for v in s.values())):
        return "manifest signer is not {id, username, name, title}"
    if not all(isinstance(m[k], str) for k in ("findings", "meaning", "statement")):
        return "manifest findings, meaning and statement are text"
    if m["meaning"] != MEANING:
        return f"manifest meaning is not {MEANING!r}"
    if not _time_ok(m["signed_at"]):
        return "manifest signed_at is not RFC 3339 UTC with microseconds"
    return None


def parse_review_manifest(data: bytes) -> dict:
    """The manifest as a dict after checking it is JSON, v 1 of type docctl.audit_review, canonical (these exact
    bytes come back from re-canonicalising) and of the v1 shape. Raises SignatureInvalid(reason)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("manifest is not JSON") from None
    if not isinstance(value, dict) or type(value.get("v")) is not int or value["v"] != 1:
        raise SignatureInvalid("manifest version is not 1")
    if value.get("type") != TYPE:
        raise SignatureInvalid(f"manifest type is not {TYPE}")
    try:
        canonical = canonical_json(value)
    except TypeError:
        canonical = None
    if canonical != data:
        raise SignatureInvalid("manifest is not canonical")
    problem = _shape_problem(value)
    if problem:
        raise SignatureInvalid(problem)
    return value


def review_signed_at(manifest: dict) -> datetime:
    return datetime.strptime(manifest["signed_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def sign_review(private_key: ec.EllipticCurvePrivateKey, manifest: bytes) -> bytes:
    """The DER signature of a well-formed review manifest (anything else raises SignatureInvalid)."""
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
        raise TypeError("signing keys are ECDSA P-256")
    parse_review_manifest(manifest)
    return private_key.sign(manifest, ec.ECDSA(hashes.SHA256()))


def verify_review(manifest: bytes, signature_der: bytes, cert_pem: bytes, ca_certificate_pem: bytes) -> dict:
    """Every check, in order, each raising SignatureInvalid: the manifest is a canonical v1 review; the certificate
    was issued by the CA and valid at signed_at; the signature is over these bytes by that key; the certificate's
    UID is the manifest's signer. Returns the parsed manifest."""
    parsed = parse_review_manifest(manifest)
    verify_certificate(cert_pem, ca_certificate_pem, at=review_signed_at(parsed))
    verify_manifest_signature(manifest, signature_der, cert_pem)
    verify_signer(parsed, cert_pem)
    return parsed


def _instructions(m: dict) -> str:
    epoch = int(review_signed_at(m).timestamp())
    r, c, signer = m["range"], m["checkpoint"], m["signer"]
    return "\n".join([
        "docctl audit-trail review: offline verification with the openssl command line",
        "",
        f"Signed by {signer['name']} ({signer['username']}) at {m['signed_at']}, meaning \"{m['meaning']}\",",
        f"over audit events {r['from_seq']} to {r['to_seq']} ({r['since'] or 'start of the trail'} to {r['until']}),",
        f"against the signed checkpoint of tree size {c['tree_size']}, root {c['root']}.",
        "",
        "Run in this directory:",
        "",
        *(f"  {command}" for command in COMMANDS),
        "",
        "Expected: the first prints \"signer.pem: OK\" (the certificate was issued by the docctl instance CA in",
        "ca.pem), the second writes the signer's public key, the third prints \"Verified OK\" (signature.der is the",
        "signer's signature over exactly the bytes of manifest.json). Any changed byte makes it print",
        "\"Verification failure\". If the certificate has expired since, check it at the signing time:",
        "",
        f"  openssl verify -attime {epoch} -CAfile ca.pem signer.pem",
        "",
        "The checkpoint root binds the review to the trail as it was: `docctl audit verify`, or an inclusion proof",
        "against that checkpoint, shows the reviewed events are the ones the trail still holds.",
        "",
    ])


def review_bundle(directory: Path, *, manifest: bytes, signature_der: bytes, cert_pem: bytes,
                  ca_certificate_pem: bytes) -> dict[str, Path]:
    """Write manifest.json, signature.der, signer.pem, signer-pubkey.pem, ca.pem and VERIFY.txt into `directory`
    (the same layout as a revision signature's bundle). Returns the paths by file name."""
    parsed = parse_review_manifest(manifest)
    public_key_pem = load_certificate(cert_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    contents = {"manifest.json": manifest, "signature.der": signature_der, "signer.pem": cert_pem,
                "signer-pubkey.pem": public_key_pem, "ca.pem": ca_certificate_pem,
                "VERIFY.txt": _instructions(parsed).encode("utf-8")}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for file_name, data in contents.items():
        path = directory / file_name
        path.write_bytes(data)
        paths[file_name] = path
    return paths
