"""Checkpoints of the audit trail (signed tree heads) and inclusion proofs against them.

`make_checkpoint` reads the log head under its lock, signs `{"v":1,"type":"docctl.checkpoint","tree_size","root",
"at"}` with the instance CA key, writes body and signature to the blob store (bytes first, then the `blobs` row, as
everywhere), stores the `audit_checkpoints` row and appends an `audit:checkpoint` event. That event is itself after
the checkpoint (seq tree_size + 1); it does not count as "something new" for the next checkpoint, so an idle system
does not make a checkpoint of its own checkpoint events forever.

`check_consistency` re-checks every stored checkpoint (signature, fields, the root stored with the event at
seq == tree_size, increasing sizes, and optionally the blob store copy). `inclusion_proof` computes the RFC 6962
audit path for one event from the cached hashes of complete aligned subtrees (`audit_subtrees`, docctl.audit.tiles)
and at most two runs of 256 leaf hashes: O(log tree_size) reads and hashes per proof.

The cache is filled by `make_checkpoint` (a write transaction holding the log head's lock, run by the scheduler,
on demand and by exports) for the checkpoint's tree size, so every checkpoint's proofs find their subtrees cached;
the first checkpoint after upgrading hashes the whole trail once, later ones only the events since the last. A proof
(a read-only GET) never writes: what it finds missing it computes in memory for that request only.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from docctl.audit import checkpoints as checkpoint_format
from docctl.audit import log, merkle, tiles
from docctl.audit.canonical import canonical_json
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.clock import rfc3339
from docctl.db.models import AuditCheckpoint, AuditEvent, AuditHead, AuditSubtree
from docctl.domain.policy import Permission
from docctl.errors import AuditTampered, BlobError, ConfigurationError, InvalidInput, NotFound, SignatureInvalid
from docctl.services import signing_keys
from docctl.services.principal import Principal
from docctl.services.storage import record_blob
from docctl.signatures import load_ca_key

RECORD_TYPE = "docctl.checkpoint_record"
MADE_BY = ("scheduler", "on demand", "export", "review")


def blob_document(body: bytes, signature: bytes) -> bytes:
    """The copy written to the blob store: the checkpoint as signed (text) and its DER signature (base64)."""
    return canonical_json(
        {"v": 1, "type": RECORD_TYPE, "body": body.decode("utf-8"), "signature": base64.b64encode(signature).decode()}
    )


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def events_since_checkpoint(session: Session, last: AuditCheckpoint | None) -> bool:
    """Whether an event other than a checkpoint's own was appended after `last` (or at all, without one)."""
    after = last.tree_size if last is not None else 0
    return session.scalars(
        select(AuditEvent.seq).where(AuditEvent.seq > after, AuditEvent.action != str(Tag.AUDIT_CHECKPOINT)).limit(1)
    ).first() is not None


def make_checkpoint(
    session: Session,
    store: BlobStore,
    *,
    secret: bytes,
    at: datetime,
    made_by: str,
    principal: Principal | None = None,
    request: RequestInfo | None = None,
    force: bool = False,
) -> AuditCheckpoint | None:
    """A signed checkpoint of the trail as it is now, or None when nothing was appended since the last one
    (`force`: also when only checkpoint events were, as a signed review needs one covering every event it names).

    `principal` (a person asking for one) must hold USERS_MANAGE; the scheduler and exports pass none and are
    recorded as the system."""
    if made_by not in MADE_BY:
        raise ValueError(f"made_by is one of {MADE_BY}")
    if principal is not None:
        principal.require(Permission.USERS_MANAGE)
    log.lock_head(session)
    head = session.execute(select(AuditHead.size, AuditHead.root).where(AuditHead.id == 1)).one_or_none()
    if head is None:
        raise ConfigurationError("the audit log head is missing: run `docctl migrate`, then `docctl audit verify`")
    last = latest(session)
    if head.size == 0 or (last is not None and last.tree_size == head.size) or (
            not force and not events_since_checkpoint(session, last)):
        return None
    ca = signing_keys.instance_ca(session)
    if ca is None:
        raise ConfigurationError("there is no instance CA to sign checkpoints: run `docctl init`")
    fill_subtrees(session, head.size)
    body = checkpoint_format.checkpoint_bytes(head.size, head.root, at)
    signature = checkpoint_format.sign_checkpoint(load_ca_key(ca, secret), body)
    ref = store.put(io.BytesIO(blob_document(body, signature)))
    record_blob(session, ref, media_type="application/json", backend=store.name, at=at)
    row = AuditCheckpoint(tree_size=head.size, root=head.root, at=at, body=body, signature=signature,
                          blob_sha256=ref.sha256, made_by=made_by)
    session.add(row)
    session.flush()
    log.append(
        session, Tag.AUDIT_CHECKPOINT, actor=principal.actor if principal is not None else log.SYSTEM,
        subject=Subject("audit_checkpoint", str(row.id), f"tree size {head.size}"), at=at, request=request,
        after={"tree_size": head.size, "root": head.root.hex(), "blob_sha256": ref.sha256, "made_by": made_by},
    )
    return row


def check_consistency(session: Session, store: BlobStore | None = None, *,
                      on_checked: Callable[[], None] | None = None) -> list[str]:
    """Every problem with the stored checkpoints, in order; empty when all check out.

    Each checkpoint's signature verifies with the instance CA certificate, its columns agree with its signed body,
    its root is the root stored with event `tree_size` (which `docctl audit verify` recomputes from the leaves, so
    consecutive checkpoints are consistent when both hold), sizes increase with time, the stored trail gives an RFC
    6962 consistency proof from the checkpoint before, and (given the store) the blob store copy holds the same
    body and signature. `on_checked` is called after each checkpoint (a progress bar)."""
    problems: list[str] = []
    rows = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.at, AuditCheckpoint.tree_size)))
    if not rows:
        return problems
    ca = signing_keys.instance_ca(session)
    if ca is None:
        return [f"{len(rows)} checkpoints but no instance CA certificate to verify them"]
    roots = dict(session.execute(
        select(AuditEvent.seq, AuditEvent.root).where(AuditEvent.seq.in_([r.tree_size for r in rows]))
    ).all())
    previous: AuditCheckpoint | None = None
    cache = _StoredSubtrees(session)  # one read-through cache: consecutive proofs share most subtrees
    for row in rows:
        name = f"checkpoint at tree size {row.tree_size} ({rfc3339(row.at)})"
        try:
            parsed = checkpoint_format.verify_checkpoint(row.body, row.signature, ca.certificate_pem)
        except SignatureInvalid as exc:
            problems.append(f"{name}: {exc.reason}")
            parsed = None
        if parsed is not None and (parsed["tree_size"], parsed["root"], parsed["at"]) != (
            row.tree_size, row.root.hex(), rfc3339(row.at)
        ):
            problems.append(f"{name}: the stored size, root or time differ from the signed checkpoint")
        stored_root = roots.get(row.tree_size)
        if stored_root is None:
            problems.append(f"{name}: there is no audit event {row.tree_size}")
        elif stored_root != row.root or (parsed is not None and parsed["root"] != stored_root.hex()):
            problems.append(f"{name}: its root differs from the root stored with audit event {row.tree_size}")
        if previous is not None and row.tree_size <= previous.tree_size:
            problems.append(f"{name}: the tree size does not increase after the checkpoint at "
                            f"{previous.tree_size} ({rfc3339(previous.at)})")
        elif previous is not None and _consistency_path(session, cache, previous, row) is None:
            problems.append(f"{name}: the stored trail gives no consistency proof from the checkpoint at "
                            f"{previous.tree_size} ({rfc3339(previous.at)}): history before it was changed")
        if store is not None:
            try:
                copy = store.read_bytes(row.blob_sha256)
            except BlobError as exc:
                problems.append(f"{name}: the blob store copy {row.blob_sha256} cannot be read: {exc.message}")
            else:
                if copy != blob_document(row.body, row.signature):
                    problems.append(f"{name}: the blob store copy differs from the stored checkpoint")
        previous = row
        if on_checked is not None:
            on_checked()
    return problems


@dataclass(frozen=True)
class InclusionProof:
    checkpoint: AuditCheckpoint
    seq: int
    leaf_hash: bytes
    path: list[bytes]

    @property
    def leaf_index(self) -> int:
        return self.seq - 1

    def as_json(self) -> dict:
        return {"seq": self.seq, "leaf_index": self.leaf_index, "leaf_hash": self.leaf_hash.hex(),
                "tree_size": self.checkpoint.tree_size, "root": self.checkpoint.root.hex(),
                "path": [node.hex() for node in self.path]}


class _StoredSubtrees:
    """The `audit_subtrees` rows as a tiles cache. New hashes are kept in memory, and written by `save` only."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.new: dict[tuple[int, int], bytes] = {}
        self.read: dict[tuple[int, int], bytes | None] = {}

    def get(self, level: int, index: int) -> bytes | None:
        found = self.new.get((level, index))
        if found is None:
            if (level, index) not in self.read:
                self.read[(level, index)] = self.session.scalars(
                    select(AuditSubtree.hash).where(AuditSubtree.level == level, AuditSubtree.idx == index)
                ).first()
            found = self.read[(level, index)]
        return found

    def put(self, level: int, index: int, value: bytes) -> None:
        self.new[(level, index)] = value

    def save(self) -> int:
        if self.new:
            self.session.execute(
                insert(AuditSubtree), [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in self.new.items()]
            )
        saved, self.new = len(self.new), {}
        return saved


def _consistency_path(session: Session, cache: _StoredSubtrees, older: AuditCheckpoint, newer: AuditCheckpoint
                      ) -> list[bytes] | None:
    """The RFC 6962 consistency proof from `older` to `newer` computed from the stored trail (the cached subtrees,
    else the leaves alone), once it checks against both checkpoints' roots; None when the trail gives none."""
    leaves = _leaf_reader(session)
    for subtrees in (cache, tiles.MemoryCache()):
        try:
            path = tiles.Tiles(leaves, subtrees).consistency(older.tree_size, newer.tree_size)
            merkle.verify_consistency(older.tree_size, newer.tree_size, older.root, newer.root, path)
        except (ValueError, AuditTampered):
            continue
        return path
    return None


def _leaf_reader(session: Session):  # type: ignore[no-untyped-def]
    def leaves(lo: int, hi: int) -> list[bytes]:
        """Leaf hashes of events lo+1..hi; AuditTampered when some are missing."""
        found = list(session.scalars(
            select(AuditEvent.leaf_hash).where(AuditEvent.seq > lo, AuditEvent.seq <= hi).order_by(AuditEvent.seq)
        ))
        if len(found) != hi - lo:
            raise AuditTampered(lo + len(found) + 1, "events are missing below the checkpoint's tree size")
        return found

    return leaves


def fill_subtrees(session: Session, tree_size: int) -> int:
    """Cache every complete aligned subtree of events 1..tree_size not cached yet; returns how many were added.
    Called by `make_checkpoint` in its write transaction, under the log head's lock (so never concurrently)."""
    cache = _StoredSubtrees(session)
    tiles.Tiles(_leaf_reader(session), cache).fill(tree_size)
    return cache.save()


def inclusion_proof(session: Session, seq: int, tree_size: int | None = None) -> InclusionProof:
    """The audit path of event `seq` against the checkpoint of `tree_size`, or the latest checkpoint when none is
    given. NotFound for an unknown event or when no checkpoint covers it yet.

    O(log tree_size) reads and hashes when the checkpoint's subtrees are cached (`make_checkpoint` caches them);
    whatever is missing is computed in memory, not stored (this runs in read-only requests). The recomputed root
    is checked against the checkpoint's, so a proof is never served from altered leaves or cache rows; when the
    cached hashes are wrong the proof is recomputed from the leaves alone (O(tree_size)) before giving up."""
    leaf = session.scalars(select(AuditEvent.leaf_hash).where(AuditEvent.seq == seq)).first() if seq >= 1 else None
    if leaf is None:
        raise NotFound(f"There is no audit event {seq}.")
    if tree_size is None:
        checkpoint = latest(session)
        if checkpoint is None or checkpoint.tree_size < seq:
            raise NotFound(f"No checkpoint covers audit event {seq} yet; one is made within minutes, or on demand.")
    else:
        checkpoint = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size)).first()
        if checkpoint is None:
            raise NotFound(f"There is no checkpoint at tree size {tree_size}.")
        if tree_size < seq:
            raise InvalidInput(f"The checkpoint at tree size {tree_size} does not cover audit event {seq}.")
    leaves = _leaf_reader(session)
    for cache in (_StoredSubtrees(session), tiles.MemoryCache()):
        path = tiles.Tiles(leaves, cache).path(seq - 1, checkpoint.tree_size)
        if merkle.root_from_inclusion_proof(leaf, seq - 1, checkpoint.tree_size, path) == checkpoint.root:
            return InclusionProof(checkpoint, seq, leaf, path)
    raise AuditTampered(seq, "the stored leaf hashes do not lead to the checkpoint's root",
                        checkpoint.root.hex(), "another root")


@dataclass(frozen=True)
class ConsistencyProof:
    first: AuditCheckpoint
    second: AuditCheckpoint
    path: list[bytes]

    def as_json(self) -> dict:
        return {"first": {"tree_size": self.first.tree_size, "root": self.first.root.hex()},
                "second": {"tree_size": self.second.tree_size, "root": self.second.root.hex()},
                "path": [node.hex() for node in self.path]}


def _checkpoint_at(session: Session, tree_size: int) -> AuditCheckpoint:
    row = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size)).first()
    if row is None:
        raise NotFound(f"There is no checkpoint at tree size {tree_size}.")
    return row


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """The RFC 6962 consistency proof that the checkpoint of tree size `first` is a prefix of the one of `second`
    (the latest when None): whoever holds both signed checkpoints can check, without the log, that nothing before
    `first` was changed or removed. Checked against both signed roots before it is returned; O(log n) reads when
    the subtrees are cached, else recomputed from the leaves (AuditTampered when even they do not agree)."""
    older = _checkpoint_at(session, first)
    newer = latest(session) if second is None else _checkpoint_at(session, second)
    assert newer is not None  # there is at least `older`
    if newer.tree_size < older.tree_size:
        raise InvalidInput(f"The second checkpoint ({newer.tree_size}) must not be older than the first "
                           f"({older.tree_size}).")
    path = _consistency_path(session, _StoredSubtrees(session), older, newer)
    if path is not None:
        return ConsistencyProof(older, newer, path)
    raise AuditTampered(older.tree_size, f"the stored leaves do not show the checkpoint at {older.tree_size} is a "
                        f"prefix of the checkpoint at {newer.tree_size}", newer.root.hex(), "another tree")


def checkpoint_json(row: AuditCheckpoint, ca_certificate_pem: bytes | None) -> dict:
    """What the API returns for a checkpoint: the signed body parsed, its signature, the CA certificate."""
    return {"checkpoint": json.loads(row.body), "body": row.body.decode("utf-8"),
            "signature": base64.b64encode(row.signature).decode(),
            "ca_certificate": ca_certificate_pem.decode() if ca_certificate_pem else None,
            "blob_sha256": row.blob_sha256, "made_by": row.made_by, "checkpoint_id": str(row.id)}

