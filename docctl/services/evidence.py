"""Evidence packages (`docctl.evidence_package` v1, docs/architecture.md): a zip of a document's records (or of
what was signed and trained in a time range) that `docctl verify-package` checks with no database and no server.

Three transactions, like the CSV export and the controlled copy:
1. read: gather the records (`evidence_records`) and stamp the controlled copy of the effective revision (slow,
   no lock held);
2. write: checkpoint the trail (`made_by="export"`, or take the latest when nothing is new), record the
   controlled copy as a print, and append `evidence:export` naming the checkpoint; the package covers exactly the
   audit events that checkpoint commits to (seq <= tree size), each with its inclusion proof;
3. read: the events and their proofs; then the zip is written to a temporary file, blobs streamed through in
   chunks (verified by the blob store as they are read), and its manifest signed by the instance CA key.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

import docctl
from docctl.audit import log
from docctl.audit.canonical import canonical_json
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.clock import rfc3339
from docctl.db.models import AuditEvent
from docctl.db.session import Database
from docctl.domain.policy import Permission
from docctl.errors import ConfigurationError, InvalidInput, NotFound
from docctl.evidence import layout, record_pdf
from docctl.services import checkpoints, copies, documents, evidence_records, revisions, signing_keys
from docctl.services.evidence_records import Records
from docctl.services.principal import Principal
from docctl.signatures import load_ca_key, openssl_bundle

GENERATOR = f"docctl {docctl.__version__}"
_BATCH = 500


@dataclass(frozen=True)
class Package:
    path: Path  # the zip; the caller removes `path.parent` when it has sent it
    filename: str
    tree_size: int
    root: bytes


@dataclass
class _Made:
    """What the write transaction fixed: the checkpoint, the CA, the export event."""

    tree_size: int
    root: bytes
    at: str
    body: bytes
    signature: bytes
    ca_pem: bytes
    ca_key: ec.EllipticCurvePrivateKey
    seq: int = 0


@dataclass
class _Job:
    principal: Principal
    at: datetime
    scope: dict[str, Any]
    title: str
    records: Records
    workdir: Path
    copy: copies.Copy | None = None
    copy_revision: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    span: tuple[datetime, datetime] | None = None  # the time range of a range package


def document_package(db: Database, store: BlobStore, *, principal: Principal, number: str, secret: bytes, zone: str,
                     base_url: str, at: datetime, request: RequestInfo | None = None) -> Package:
    """The evidence package of one document. Needs AUDIT_READ, and DOCUMENTS_READ_ALL for the revisions in work
    and retired (administrators hold the first only: they are not given documents' content)."""
    principal.require(Permission.AUDIT_READ)
    principal.require(Permission.DOCUMENTS_READ_ALL)
    workdir = Path(tempfile.mkdtemp(prefix="docctl-evidence-"))
    job: _Job | None = None
    try:
        with db.read() as s:
            d, records = evidence_records.for_document(s, number)
            job = _Job(principal, at, {"document": {"id": str(d.id), "number": d.number, "title": d.title}},
                       f"{d.number} {d.title}", records, workdir)
            effective = revisions.current(d)
            if effective is not None:
                job.copy = copies.make_copy(s, store, principal=principal, document=d, revision=effective,
                                            zone=zone, base_url=base_url, at=at)
                job.copy_revision = {"id": str(effective.id), "version": effective.version}
        with db.unit_of_work() as s:
            made = _record(s, store, job, secret=secret, request=request)
        return _finish(db, store, job, made, f"evidence-{number}-{made.tree_size}.zip")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        if job is not None and job.copy is not None:
            shutil.rmtree(job.copy.path.parent, ignore_errors=True)


def range_package(db: Database, store: BlobStore, *, principal: Principal, since: datetime, until: datetime,
                  secret: bytes, at: datetime, request: RequestInfo | None = None) -> Package:
    """The audit events in [since, until) with their proofs, and the signatures and training records made then."""
    principal.require(Permission.AUDIT_READ)
    if until <= since:
        raise InvalidInput("The end of the range must be after its start.")
    workdir = Path(tempfile.mkdtemp(prefix="docctl-evidence-"))
    try:
        with db.read() as s:
            records = evidence_records.for_range(s, since, until)
        scope = {"since": rfc3339(since), "until": rfc3339(until)}
        job = _Job(principal, at, scope, f"Audit records from {scope['since']} to {scope['until']}", records,
                   workdir, span=(since, until))
        with db.unit_of_work() as s:
            made = _record(s, store, job, secret=secret, request=request)
        name = f"evidence-{since.date().isoformat()}-{until.date().isoformat()}-{made.tree_size}.zip"
        return _finish(db, store, job, made, name)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _record(session: Session, store: BlobStore, job: _Job, *, secret: bytes, request: RequestInfo | None
            ) -> _Made:
    """Checkpoint, the controlled copy's print record, and `evidence:export` naming the checkpoint."""
    row = checkpoints.make_checkpoint(session, store, secret=secret, at=job.at, made_by="export", request=request)
    made_now = row is not None
    row = row or checkpoints.latest(session)
    if row is None:
        raise NotFound("The audit trail is empty: there is nothing to prove.")
    ca = signing_keys.instance_ca(session)
    if ca is None:
        raise ConfigurationError("there is no instance CA to sign the package: run `docctl init`")
    if job.copy is not None and job.copy_revision is not None:
        d = documents.get_document(session, job.scope["document"]["number"])
        copies.record_copy(session, principal=job.principal, document=d,
                           revision=revisions.find(d, job.copy_revision["version"]), copy=job.copy, at=job.at,
                           request=request)
    if "document" in job.scope:
        subject = Subject("document", job.scope["document"]["id"], job.scope["document"]["number"])
    else:
        subject = Subject("audit_checkpoint", str(row.id), f"tree size {row.tree_size}")
    appended = log.append(
        session, Tag.EVIDENCE_EXPORT, actor=job.principal.actor, subject=subject, at=job.at, request=request,
        after={"format": layout.PACKAGE_TYPE, "scope": job.scope, "controlled_copy": job.copy is not None,
               "checkpoint": {"id": str(row.id), "tree_size": row.tree_size, "root": row.root.hex(),
                              "made": made_now}})
    return _Made(row.tree_size, row.root, rfc3339(row.at), row.body, row.signature, ca.certificate_pem,
                 load_ca_key(ca, secret), appended.seq)


# --- audit events with proofs ----------------------------------------------------------------------------------


def _event_seqs(session: Session, job: _Job, tree_size: int) -> list[int]:
    if job.span is not None:
        return list(session.scalars(select(AuditEvent.seq).where(
            AuditEvent.at >= job.span[0], AuditEvent.at < job.span[1], AuditEvent.seq <= tree_size
        ).order_by(AuditEvent.seq)))
    seqs: set[int] = set()
    for kind, ids in job.records.subjects:
        for i in range(0, len(ids), _BATCH):
            seqs.update(session.scalars(select(AuditEvent.seq).where(
                AuditEvent.subject_type == kind, AuditEvent.subject_id.in_(ids[i:i + _BATCH]),
                AuditEvent.seq <= tree_size)))
    return sorted(seqs)


def _event_lines(db: Database, job: _Job, tree_size: int) -> Iterator[bytes]:
    """One JSON line per event (seq order) with its RFC 6962 proof; keeps the parsed events for record.pdf."""
    with db.read() as s:
        seqs = _event_seqs(s, job, tree_size)
    for i in range(0, len(seqs), _BATCH):
        with db.read() as s:
            rows = s.execute(select(AuditEvent.seq, AuditEvent.canonical).where(
                AuditEvent.seq.in_(seqs[i:i + _BATCH])).order_by(AuditEvent.seq)).all()
            for seq, canonical in rows:
                proof = checkpoints.inclusion_proof(s, seq, tree_size)
                text = canonical.decode("utf-8")
                job.events.append(json.loads(text))
                yield (json.dumps({"seq": seq, "canonical": text, "leaf_hash": proof.leaf_hash.hex(),
                                   "leaf_index": seq - 1, "proof": [p.hex() for p in proof.path],
                                   "tree_size": tree_size}, ensure_ascii=False, sort_keys=True) + "\n"
                       ).encode("utf-8")


# --- the zip ---------------------------------------------------------------------------------------------------


class _Zip:
    """Members written in order, each hashed as it is written; manifest.json lists them all."""

    def __init__(self, path: Path, at: datetime) -> None:
        self.zf = zipfile.ZipFile(path, "w", allowZip64=True)
        self.date_time = at.timetuple()[:6]
        self.files: list[dict[str, Any]] = []

    def add(self, path: str, chunks: Iterable[bytes], what: str, *, deflate: bool = True) -> dict[str, Any]:
        info = zipfile.ZipInfo(path, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        h, size = sha256(), 0
        with self.zf.open(info, "w", force_zip64=True) as out:
            for chunk in chunks:
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        entry = {"path": path, "sha256": h.hexdigest(), "size": size, "what": what}
        if path not in layout.NOT_IN_SUMS - {layout.SUMS}:
            self.files.append(entry)
        return entry

    def blob(self, store: BlobStore, path: str, sha: str, what: str) -> None:
        def chunks() -> Iterator[bytes]:
            with store.open(sha) as reader:
                while chunk := reader.read(1024 * 1024):
                    yield chunk
        self.add(path, chunks(), what, deflate=not path.endswith(".pdf"))

    def close(self) -> None:
        self.zf.close()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            yield chunk


def _training_csv(records: Records) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["record_id", "username", "name", "revision_id", "version", "method", "result", "performed_on",
                     "performed_at", "recorded_at", "trainer", "signature_id", "note"])
    for r in records.records:
        person, trainer = r.get("person") or {}, r.get("trainer") or {}
        writer.writerow([r["id"], person.get("username"), person.get("name"), r["revision_id"], r["version"],
                         r["method"], r["result"], r["performed_on"], r["performed_at"], r["recorded_at"],
                         trainer.get("name") or "", r["signature_id"] or "", r["note"]])
    return buffer.getvalue().encode("utf-8")


def _signatures(z: _Zip, job: _Job, ca_pem: bytes) -> None:
    for files in job.records.signature_files:
        bundle = openssl_bundle(job.workdir / "sig" / files.id, manifest=files.manifest,
                                signature_der=files.signature, cert_pem=files.cert_pem, ca_certificate_pem=ca_pem)
        for name in layout.SIGNATURE_FILES:
            z.add(layout.signature_member(files.id, name), [bundle[name].read_bytes()], f"signature {name}")


def _write_members(z: _Zip, db: Database, store: BlobStore, job: _Job, made: _Made) -> None:
    records = job.records
    first = records.signatures[0] if records.signatures else None
    example = (first["id"], int(datetime.fromisoformat(first["signed_at"]).timestamp())) if first else None
    z.add(layout.README, [layout.readme(
        scope=job.title, made_at=rfc3339(job.at), made_by=job.principal.actor.username, generator=GENERATOR,
        tree_size=made.tree_size, root=made.root.hex(), fingerprint=layout.ca_fingerprint(made.ca_pem),
        signature=example)], "how to check this package")
    z.add(layout.CA, [made.ca_pem], "the instance CA certificate")
    z.add(layout.CHECKPOINT, [made.body], "the signed checkpoint (exact bytes)")
    z.add(layout.CHECKPOINT_SIG, [made.signature], "the instance CA's signature over checkpoint.json (DER)")
    z.add(layout.EVENTS, _event_lines(db, job, made.tree_size), "audit events with inclusion proofs")
    z.add(layout.TRAINING_JSON, [canonical_json({"assignments": records.assignments, "records": records.records})],
          "training assignments and records")
    z.add(layout.TRAINING_CSV, [_training_csv(records)], "training records as CSV")
    _signatures(z, job, made.ca_pem)
    for path, sha in records.blobs:
        z.blob(store, path, sha, "a revision's stored file")
    copy_entry = None
    if job.copy is not None and job.copy_revision is not None:
        ext = job.copy.path.suffix
        entry = z.add(f"controlled-copy{ext}", _file_chunks(job.copy.path), "the effective revision's controlled "
                      "copy", deflate=ext != ".pdf")
        copy_entry = {"path": entry["path"], "sha256": entry["sha256"], "size": entry["size"],
                      "revision_id": job.copy_revision["id"], "version": job.copy_revision["version"]}
    if records.document is not None:
        z.add(layout.DOCUMENT, [canonical_json({
            "v": 1, "type": "docctl.evidence_document", "document": records.document, "history": records.history,
            "revisions": records.revisions, "signatures": records.signatures, "controlled_copy": copy_entry})],
            "the document, its revisions and signatures (electronic copy)")
    else:
        z.add(layout.RECORDS, [canonical_json({"v": 1, "type": "docctl.evidence_records", **job.scope,
                                               "signatures": records.signatures})],
              "the signatures made in the range (electronic copy)")
    z.add(layout.RECORD_PDF, [record_pdf.render_record(record_pdf.RecordInfo(
        title=job.title, made_at=rfc3339(job.at), made_by=f"{job.principal.actor.name} "
        f"({job.principal.actor.username})", generator=GENERATOR,
        checkpoint=f"tree size {made.tree_size}, root {made.root.hex()}", document=records.document,
        revisions=records.revisions, signatures=records.signatures, records=records.records, events=job.events))],
        "the certified copy for people (PDF)", deflate=False)


def _finish(db: Database, store: BlobStore, job: _Job, made: _Made, filename: str) -> Package:
    path = job.workdir / filename
    z = _Zip(path, job.at)
    try:
        _write_members(z, db, store, job, made)
        z.add(layout.SUMS, [layout.sums_text((f["path"], f["sha256"]) for f in z.files)], "sha256sum -c list")
        manifest = canonical_json({
            "v": layout.VERSION, "type": layout.PACKAGE_TYPE, "made_at": rfc3339(job.at),
            "made_by": job.principal.actor.as_json(), "generator": GENERATOR, "scope": job.scope,
            "checkpoint": {"tree_size": made.tree_size, "root": made.root.hex(), "at": made.at},
            "audit_event": {"action": str(Tag.EVIDENCE_EXPORT), "seq": made.seq}, "files": z.files})
        z.add(layout.MANIFEST, [manifest], "")
        z.add(layout.MANIFEST_SIG, [made.ca_key.sign(manifest, ec.ECDSA(hashes.SHA256()))], "")
    finally:
        z.close()
    shutil.rmtree(job.workdir / "sig", ignore_errors=True)
    return Package(path, filename, made.tree_size, made.root)
