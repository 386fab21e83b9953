"""The record checks of `verify_package`: audit events against the checkpoint, electronic signatures against the
CA and the revisions' files, and document.json / records.json against the members. Pure, like `verify`."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

from docctl.audit import merkle
from docctl.audit.canonical import canonical_json
from docctl.errors import SignatureInvalid
from docctl.evidence import layout, zipread
from docctl.evidence.package import Package
from docctl.evidence.zipread import MemberUnreadable
from docctl.signatures.certs import load_certificate
from docctl.signatures.manifest import parse_manifest, signed_at
from docctl.signatures.verify import verify_certificate, verify_manifest_signature, verify_signer

MAX_LINE = 16 * 1024 * 1024
EVENT_KEYS = {"seq", "canonical", "leaf_hash", "leaf_index", "proof", "tree_size"}


@dataclass
class Context:
    pkg: Package
    manifest: dict
    checkpoint: dict | None
    revisions: dict[str, dict] = field(default_factory=dict)  # document.json's revisions by id
    signatures: dict[str, dict] = field(default_factory=dict)  # document.json's / records.json's by id
    subjects: set[tuple[str, str]] | None = None  # (type, id) an event may be about; None: any (range scope)

    @property
    def scope(self) -> dict:
        scope = self.manifest.get("scope")
        return scope if isinstance(scope, dict) else {}


# --- document.json / records.json ------------------------------------------------------------------------------


def _file_matches(ctx: Context, owner: str, path: Any, sha256: Any, size: Any = None) -> bool:
    """The member `path` exists with the SHA-256 (and size) that `owner` says; a problem naming both otherwise."""
    pkg = ctx.pkg
    if not isinstance(path, str) or not pkg.has(path):
        pkg.problem(owner, f"names a file {path!r} that is not in the package")
        return False
    found = pkg.digest(path)
    if found is None:
        return False
    if found[0] != sha256 or (size is not None and found[1] != size):
        pkg.problem(path, f"its SHA-256 or size is not what {owner} records ({sha256})")
        return False
    return True


def _revisions(ctx: Context, data: dict) -> None:
    names = layout.DOCUMENT
    referenced: set[str] = set()
    for r in data.get("revisions") or []:
        files = r.get("files") or {}
        ctx.revisions[str(r.get("id"))] = r
        _file_matches(ctx, names, files.get("original"), r.get("source_sha256"), r.get("source_size"))
        referenced.add(files.get("original"))
        if files.get("rendition"):
            _file_matches(ctx, names, files["rendition"], r.get("rendition_sha256"))
            referenced.add(files["rendition"])
    for name in ctx.pkg.infos:
        if name.startswith("revisions/") and name not in referenced:
            ctx.pkg.problem(name, "is not the original or rendition of any revision in document.json")
    copy = data.get("controlled_copy")
    if copy:
        _file_matches(ctx, names, copy.get("path"), copy.get("sha256"), copy.get("size"))
        if str(copy.get("revision_id")) not in ctx.revisions:
            ctx.pkg.problem(names, "the controlled copy names a revision it does not hold")


def _training_subjects(ctx: Context) -> set[tuple[str, str]]:
    training = ctx.pkg.canonical(layout.TRAINING_JSON) if ctx.pkg.has(layout.TRAINING_JSON) else None
    if not isinstance(training, dict):
        return set()
    out = set()
    for a in training.get("assignments") or []:
        out.add(("training_assignment", str(a.get("id"))))
        if ctx.revisions and str(a.get("revision_id")) not in ctx.revisions:
            ctx.pkg.problem(layout.TRAINING_JSON, f"assignment {a.get('id')} is on a revision not in the package")
    return out


def check_records(ctx: Context) -> None:
    """document.json (document scope) or records.json (time range) against the manifest and the members."""
    pkg = ctx.pkg
    by_document = "document" in ctx.scope
    name = layout.DOCUMENT if by_document else layout.RECORDS
    data = pkg.canonical(name)
    if not isinstance(data, dict):
        return
    if by_document:
        document = data.get("document") or {}
        if (document.get("id"), document.get("number")) != (ctx.scope["document"].get("id"),
                                                          ctx.scope["document"].get("number")):
            pkg.problem(name, "describes another document than manifest.json's scope")
        _revisions(ctx, data)
        ctx.subjects = {("document", str(document.get("id")))} | {("revision", i) for i in ctx.revisions}
        ctx.subjects |= _training_subjects(ctx)
    elif (data.get("since"), data.get("until")) != (ctx.scope.get("since"), ctx.scope.get("until")):
        pkg.problem(name, "covers another time range than manifest.json's scope")
    for s in data.get("signatures") or []:
        ctx.signatures[str(s.get("id"))] = s
        if not by_document and not ctx.scope["since"] <= str(s.get("signed_at")) < ctx.scope["until"]:
            pkg.problem(name, f"signature {s.get('id')} was not made in the package's time range")
    dirs = {n.split("/")[1] for n in pkg.infos if n.startswith("signatures/") and n.count("/") == 2}
    for missing in sorted(set(ctx.signatures) - dirs):
        pkg.problem(f"signatures/{missing}/", f"{name} lists this signature but the package does not hold it")
    for extra in sorted(dirs - set(ctx.signatures)):
        pkg.problem(f"signatures/{extra}/", f"is not listed in {name}")
    pkg.report.checked.append(f"{name}: {len(ctx.revisions)} revisions, {len(ctx.signatures)} signatures; "
                              "its files are the members with the recorded hashes")


# --- audit events ----------------------------------------------------------------------------------------------


def _event_problem(ctx: Context, line: dict, previous: int) -> str | None:
    """Why one audit/events.jsonl line does not check out, or None."""
    checkpoint = ctx.checkpoint or {}
    if set(line) != EVENT_KEYS:
        return "does not have the fields seq, canonical, leaf_hash, leaf_index, proof, tree_size"
    seq, text = line["seq"], line["canonical"]
    if not isinstance(seq, int) or not isinstance(text, str) or not isinstance(line["proof"], list):
        return "has fields of the wrong type"
    if seq <= previous:
        return "events are not in increasing seq order"
    if line["tree_size"] != checkpoint.get("tree_size") or seq > line["tree_size"] or line["leaf_index"] != seq - 1:
        return "its tree size or leaf index is not the checkpoint's"
    data = text.encode("utf-8")
    leaf = merkle.leaf_hash(data)
    if leaf.hex() != line["leaf_hash"]:
        return "the leaf hash is not SHA-256(0x00 || canonical)"
    try:
        event = json.loads(text)
        if canonical_json(event) != data or event.get("seq") != seq:
            return "canonical is not the canonical JSON of event seq"
        merkle.verify_inclusion(leaf, seq - 1, line["tree_size"], [bytes.fromhex(p) for p in line["proof"]],
                                bytes.fromhex(checkpoint["root"]))
    except (ValueError, TypeError) as exc:
        return f"does not check out: {exc}"
    return _relevance_problem(ctx, event)


def _relevance_problem(ctx: Context, event: dict) -> str | None:
    subject = event.get("subject") or {}
    if ctx.subjects is not None and (subject.get("type"), subject.get("id")) not in ctx.subjects:
        return "is not about the document, its revisions or its training assignments"
    since, until = ctx.scope.get("since"), ctx.scope.get("until")
    if "document" not in ctx.scope and not (since <= event.get("at", "") < until):
        return "is outside the package's time range"
    return None


def check_events(ctx: Context) -> None:
    """Each line of audit/events.jsonl: leaf hash, canonical text and RFC 6962 proof against the checkpoint."""
    pkg, name = ctx.pkg, layout.EVENTS
    if not pkg.has(name):
        pkg.problem(name, "missing from the zip")
        return
    count, previous = 0, 0
    try:
        stream = io.BufferedReader(_ChunkReader(zipread.chunks(pkg.zf, pkg.infos[name])))
        for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), start=1):
            if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                pkg.problem(name, f"line {number} is too long or not terminated")
                return
            try:
                line = json.loads(raw)
            except ValueError:
                pkg.problem(name, f"line {number} is not JSON")
                continue
            problem = _event_problem(ctx, line, previous) if isinstance(line, dict) else "is not an object"
            if problem:
                pkg.problem(name, f"line {number} (seq {line.get('seq') if isinstance(line, dict) else '?'}): "
                                  f"{problem}")
                continue
            previous, count = line["seq"], count + 1
    except MemberUnreadable as exc:
        pkg.problem(name, str(exc))
        return
    pkg.report.checked.append(f"{count} audit events: leaf hash, canonical JSON and RFC 6962 inclusion proof "
                              f"against the checkpoint root")


class _ChunkReader(io.RawIOBase):
    """A raw stream over an iterator of chunks (so a member is read line by line, never whole)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        return n


# --- signatures ------------------------------------------------------------------------------------------------


def _signature_problem(ctx: Context, sig_id: str, files: dict[str, bytes]) -> tuple[str, str] | None:
    """(file, why) for the first check one signature fails, or None."""
    base = f"signatures/{sig_id}/"
    try:
        manifest = parse_manifest(files["manifest.json"])
    except SignatureInvalid as exc:
        return "manifest.json", str(exc)
    if files["ca.pem"] != ctx.pkg.ca_pem:
        return "ca.pem", "is not the package's ca.pem"
    try:
        verify_certificate(files["signer.pem"], ctx.pkg.ca_pem, at=signed_at(manifest))
    except (SignatureInvalid, ValueError) as exc:
        return "signer.pem", str(exc)
    try:
        verify_manifest_signature(files["manifest.json"], files["signature.der"], files["signer.pem"])
    except SignatureInvalid as exc:
        return "signature.der", f"{exc} (manifest.json)"
    try:
        verify_signer(manifest, files["signer.pem"])
    except SignatureInvalid as exc:
        return "signer.pem", str(exc)
    public = load_certificate(files["signer.pem"]).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if files["signer-pubkey.pem"] != public:
        return "signer-pubkey.pem", "is not the public key of signer.pem"
    return _binding_problem(ctx, sig_id, manifest, files, base)


def _binding_problem(ctx: Context, sig_id: str, manifest: dict, files: dict[str, bytes], base: str
                     ) -> tuple[str, str] | None:
    listed = ctx.signatures.get(sig_id) or {}
    if listed.get("manifest_sha256") != hashlib.sha256(files["manifest.json"]).hexdigest():
        return "manifest.json", "is not the manifest the records list for this signature"
    if "document" in ctx.scope:
        if manifest["document"]["id"] != ctx.scope["document"].get("id"):
            return "manifest.json", "signs another document"
        revision = ctx.revisions.get(manifest["revision"]["id"])
        if revision is None:
            return "manifest.json", "signs a revision the package does not hold"
        original = (revision.get("files") or {}).get("original")
        found = ctx.pkg.digest(original) if ctx.pkg.has(original) else None
        if found is None or found[0] != manifest["revision"]["content_sha256"]:
            return "manifest.json", f"its content_sha256 is not the SHA-256 of {original}"
        rendition = manifest["revision"]["rendition_sha256"]
        shown = (revision.get("files") or {}).get("rendition") or original
        found = ctx.pkg.digest(shown) if ctx.pkg.has(shown) else None
        if rendition is not None and (found is None or found[0] != rendition):
            return "manifest.json", f"its rendition_sha256 is not the SHA-256 of {shown}"
    return None


def check_signatures(ctx: Context) -> None:
    """Every signatures/<id>/ bundle: manifest, CA-issued certificate, signature, signer, content binding."""
    pkg = ctx.pkg
    ids = sorted({n.split("/")[1] for n in pkg.infos if n.startswith("signatures/") and n.count("/") == 2})
    good = 0
    for sig_id in ids:
        files: dict[str, bytes] = {}
        for name in layout.SIGNATURE_FILES:
            member = layout.signature_member(sig_id, name)
            data = pkg.read(member) if pkg.has(member) else None
            if data is None:
                if not pkg.has(member):
                    pkg.problem(member, "missing from the signature's bundle")
                break
            files[name] = data
        if len(files) != len(layout.SIGNATURE_FILES):
            continue
        found = _signature_problem(ctx, sig_id, files)
        if found:
            pkg.problem(layout.signature_member(sig_id, found[0]), found[1])
        else:
            good += 1
    pkg.report.checked.append(f"{good} of {len(ids)} electronic signatures: canonical v1 manifest, ECDSA signature "
                              "by the signer's certificate, certificate issued by ca.pem and valid when signing, "
                              "signer, and the signed content hash is the revision's file in the package")
