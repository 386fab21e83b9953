"""`verify_package`: check an evidence package with no database, no settings and no server.

Every failure is a `Problem` naming the member (its path in the zip) and what is wrong; the `Report` also says
what was checked. Nothing is extracted: members are streamed from the zip (`zipread`, which refuses unsafe names,
duplicates, zip bombs and unreadable members). The checks, in order:

1. the package manifest (manifest.json, canonical JSON) is signed by the instance CA key (manifest.sig, ca.pem);
   the CA certificate's SHA-256 fingerprint is reported so a person can compare it with the published one;
2. every member has the size and SHA-256 manifest.json lists, none is missing or unlisted, and MANIFEST.sha256
   says the same;
3. the checkpoint is signed by the CA and is the one manifest.json names;
4. every audit event's leaf hash is SHA-256(0x00 || canonical bytes) and its RFC 6962 proof leads to the
   checkpoint root (`docctl.evidence.verify_records`);
5. every electronic signature verifies under its signer's certificate, which the CA issued, and its signed content
   (and rendition) hash is the hash of the revision's file in the package;
6. document.json (or records.json) agrees with the members.

Imports: the standard library, `cryptography` and docctl's pure format code (`docctl.audit.canonical`,
`docctl.audit.checkpoints`, `docctl.audit.merkle`, `docctl.signatures`), which imports no database or web code
(a test checks that in a fresh interpreter).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from os import PathLike
from typing import IO, Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.audit.checkpoints import verify_checkpoint
from docctl.errors import SignatureInvalid
from docctl.evidence import layout, verify_records
from docctl.evidence.package import NotAPackage, Package, Problem, Report

__all__ = ["NotAPackage", "Problem", "Report", "verify_package"]
T = TypeVar("T")


def verify_package(source: str | PathLike[str] | IO[bytes]) -> Report:
    """Every check; NotAPackage when `source` is not a readable zip at all."""
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise NotAPackage(f"not a zip file: {exc}") from None
    report = Report()
    with zf:
        pkg = Package(zf, report)
        manifest = _guarded(pkg, layout.MANIFEST, _package_manifest, pkg)
        if manifest is None:
            return report
        _guarded(pkg, layout.MANIFEST, _members, pkg, manifest)
        _guarded(pkg, layout.SUMS, _sums, pkg, manifest)
        checkpoint = _guarded(pkg, layout.CHECKPOINT, _checkpoint, pkg, manifest)
        context = verify_records.Context(pkg, manifest, checkpoint)
        scope = layout.DOCUMENT if "document" in context.scope else layout.RECORDS
        _guarded(pkg, scope, verify_records.check_records, context)
        if checkpoint is not None:
            _guarded(pkg, layout.EVENTS, verify_records.check_events, context)
        _guarded(pkg, "signatures/", verify_records.check_signatures, context)
    return report


def _guarded(pkg: Package, member: str, check: Callable[..., T], *args: Any) -> T | None:
    """Run one check; a member so malformed that a check breaks on it is a problem with that member, never a
    crash (the package is hostile input)."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - any failure on hostile input is reported, not raised
        pkg.problem(member, f"cannot be checked: {type(exc).__name__}: {exc}")
        return None


def _ca(pkg: Package) -> tuple[bytes, ec.EllipticCurvePublicKey] | None:
    pem = pkg.read(layout.CA)
    if pem is None:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        key = certificate.public_key()
    except ValueError:
        pkg.problem(layout.CA, "is not a PEM certificate with a readable public key")
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        pkg.problem(layout.CA, "the CA key is not ECDSA P-256")
        return None
    pkg.report.ca_fingerprint = layout.ca_fingerprint(pem)
    return pem, key


def _package_manifest(pkg: Package) -> dict | None:
    """manifest.json parsed, after its signature by the CA in ca.pem verified; None when it cannot be trusted."""
    ca = _ca(pkg)
    manifest = pkg.canonical(layout.MANIFEST)
    signature = pkg.read(layout.MANIFEST_SIG)
    if ca is None or manifest is None or signature is None:
        return None
    pkg.ca_pem = ca[0]
    data = pkg.read(layout.MANIFEST) or b""
    try:
        ca[1].verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        pkg.problem(layout.MANIFEST_SIG, "the instance CA's signature (ca.pem) does not match manifest.json")
        return None
    if not isinstance(manifest, dict) or manifest.get("type") != layout.PACKAGE_TYPE or manifest.get("v") != 1:
        pkg.problem(layout.MANIFEST, f"is not a {layout.PACKAGE_TYPE} v1 manifest")
        return None
    if not isinstance(manifest.get("files"), list) or not isinstance(manifest.get("checkpoint"), dict):
        pkg.problem(layout.MANIFEST, "has no files or checkpoint")
        return None
    pkg.report.scope = json.dumps(manifest.get("scope"), sort_keys=True)
    pkg.report.checked.append(
        f"manifest.json: signed by the instance CA in ca.pem (SHA-256 fingerprint {pkg.report.ca_fingerprint}); "
        f"made at {manifest.get('made_at')} by {(manifest.get('made_by') or {}).get('username')} "
        f"with {manifest.get('generator')}")
    return manifest


def _listed(pkg: Package, manifest: dict) -> dict[str, dict]:
    listed: dict[str, dict] = {}
    for entry in manifest["files"]:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or path in listed or path in (layout.MANIFEST, layout.MANIFEST_SIG):
            pkg.problem(layout.MANIFEST, f"lists a bad or repeated entry {entry!r}")
            continue
        listed[path] = entry
    return listed


def _members(pkg: Package, manifest: dict) -> None:
    """Every listed member is there with its size and hash; every member is listed."""
    listed = _listed(pkg, manifest)
    pkg.listed = listed
    good = 0
    for path, entry in listed.items():
        if not pkg.has(path):
            pkg.problem(path, "listed in manifest.json but missing from the zip")
            continue
        found = pkg.digest(path)
        if found is None:
            continue
        sha, size = found
        if size != entry.get("size"):
            pkg.problem(path, f"has {size} bytes, manifest.json lists {entry.get('size')}")
        elif sha != entry.get("sha256"):
            pkg.problem(path, f"SHA-256 {sha} differs from manifest.json's {entry.get('sha256')}")
        else:
            good += 1
    for name in pkg.infos:
        if name not in listed and name not in (layout.MANIFEST, layout.MANIFEST_SIG):
            pkg.problem(name, "is in the zip but not listed in manifest.json (added?)")
    pkg.report.checked.append(f"{good} of {len(listed)} listed members have the size and SHA-256 manifest.json "
                              "lists; every member of the zip is listed")


def _sums(pkg: Package, manifest: dict) -> None:
    """MANIFEST.sha256 (for `sha256sum -c`) says exactly what manifest.json says."""
    data = pkg.read(layout.SUMS)
    if data is None:
        return
    expected = layout.sums_text((e["path"], e.get("sha256")) for e in pkg.listed.values())
    if data != expected:
        pkg.problem(layout.SUMS, "does not list the same paths and SHA-256 sums as manifest.json")
    else:
        pkg.report.checked.append("MANIFEST.sha256 agrees with manifest.json")


def _checkpoint(pkg: Package, manifest: dict) -> dict | None:
    body, signature = pkg.read(layout.CHECKPOINT), pkg.read(layout.CHECKPOINT_SIG)
    if body is None or signature is None:
        return None
    try:
        parsed = verify_checkpoint(body, signature, pkg.ca_pem)
    except SignatureInvalid as exc:
        pkg.problem(layout.CHECKPOINT_SIG, f"checkpoint.json does not verify: {exc}")
        return None
    named = manifest["checkpoint"]
    if (named.get("tree_size"), named.get("root")) != (parsed["tree_size"], parsed["root"]):
        pkg.problem(layout.CHECKPOINT, "is not the checkpoint manifest.json names")
        return None
    pkg.report.checked.append(f"checkpoint.json: tree size {parsed['tree_size']}, root {parsed['root']}, "
                              f"at {parsed['at']}, signed by the instance CA")
    return parsed
