"""Signed checkpoints of the audit trail (made by the scheduler and on demand) and inclusion proofs against them."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from hashlib import sha256

import pytest
from sqlalchemy import select

from docctl.audit import log, merkle
from docctl.audit.checkpoints import verify_checkpoint
from docctl.audit.tags import Tag
from docctl.db.models import AuditCheckpoint, AuditEvent, AuditHead
from docctl.errors import AuditTampered, NotFound
from docctl.services import checkpoints, signing_keys, system
from tests.web.conftest import api_token


def store_of(env):
    return env.app.state.docctl.blobs


def tick(env, *, store=True):
    with env.db.unit_of_work() as s:
        return system.tick(s, env.settings, env.config, at=env.clock.now(), store=store_of(env) if store else None)


def add_events(env, n: int) -> None:
    with env.db.unit_of_work() as s:
        log.append_many(s, [log.Entry(Tag.CONFIG_CHANGE, log.SYSTEM, log.Subject("test", str(i)), env.clock.now(),
                                      reason=f"filler {i}") for i in range(n)])


def head_size(env) -> int:
    with env.db.read() as s:
        return s.scalar(select(AuditHead.size).where(AuditHead.id == 1))


def ca_pem(env) -> bytes:
    with env.db.read() as s:
        return signing_keys.instance_ca(s).certificate_pem


def rfc6962_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """An independent verifier from RFC 6962's recursive definition: the path lists siblings from the leaf up, so
    its last node is the sibling at the top split (k = the largest power of two below size)."""
    if size == 1:
        assert not path, "proof too long"
        return leaf
    assert path, "proof too short"
    k = 1
    while k * 2 < size:
        k *= 2
    if index < k:
        return sha256(b"\x01" + rfc6962_root(leaf, index, k, path[:-1]) + path[-1]).digest()
    return sha256(b"\x01" + path[-1] + rfc6962_root(leaf, index - k, size - k, path[:-1])).digest()


@pytest.mark.req("P11-10e.4")
def test_the_scheduler_checkpoints_only_when_the_trail_grew(any_env):
    env = any_env
    assert tick(env, store=False).checkpoint is None  # without the blob store the tick makes none
    size = head_size(env)
    report = tick(env)
    assert report.checkpoint == size
    assert f"audit checkpoint signed at tree size {size}" in report.lines()
    with env.db.read() as s:
        row = checkpoints.latest(s)
        assert (row.tree_size, row.made_by) == (size, "scheduler")
        assert row.root == s.scalar(select(AuditEvent.root).where(AuditEvent.seq == size))
        event = json.loads(s.scalar(select(AuditEvent.canonical).where(AuditEvent.seq == size + 1)))
    # the checkpoint's own event follows it
    assert event["action"] == "audit:checkpoint" and event["after"]["tree_size"] == size
    add_events(env, 3)
    env.clock.advance(timedelta(minutes=1))
    assert tick(env).checkpoint is None  # grew, but the last checkpoint is younger than checkpoint_minutes
    env.clock.advance(timedelta(minutes=env.settings.checkpoint_minutes))
    assert tick(env).checkpoint == size + 4
    env.clock.advance(timedelta(minutes=10))
    assert tick(env).checkpoint is None  # only the checkpoint's own event since: nothing new to sign
    with env.db.read() as s:
        assert [r.tree_size for r in s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size))] == [
            size, size + 4]
        assert checkpoints.check_consistency(s, store_of(env)) == []


@pytest.mark.req("P11-10e.4")
def test_a_checkpoint_verifies_with_the_ca_certificate_and_its_blob_copy_matches(any_env):
    env = any_env
    env.user("boss", "admin")
    headers = api_token(env.client(), "boss")
    client = env.client()
    assert client.get("/api/v1/checkpoints/latest", headers=headers).status_code == 404
    made = client.post("/api/v1/checkpoints", headers=headers)
    assert made.status_code == 201, made.text
    latest = client.get("/api/v1/checkpoints/latest", headers=headers).json()
    assert latest["checkpoint"] == made.json()["checkpoint"]
    assert latest["made_by"] == "on demand"
    body, signature = latest["body"].encode(), base64.b64decode(latest["signature"])
    assert latest["ca_certificate"].encode() == ca_pem(env)
    parsed = verify_checkpoint(body, signature, latest["ca_certificate"].encode())
    assert parsed == latest["checkpoint"] and parsed["tree_size"] == made.json()["checkpoint"]["tree_size"]
    # the blob store copy holds the same body and signature as the row
    copy = json.loads(store_of(env).read_bytes(latest["blob_sha256"]))
    assert copy["type"] == "docctl.checkpoint_record"
    assert copy["body"].encode() == body and base64.b64decode(copy["signature"]) == signature
    with env.db.read() as s:
        row = checkpoints.latest(s)
        assert (row.body, row.signature, row.blob_sha256) == (body, signature, latest["blob_sha256"])
        assert sha256(checkpoints.blob_document(row.body, row.signature)).hexdigest() == row.blob_sha256
    # nothing new since (only the checkpoint's own event): the same checkpoint back, and no new event
    again = client.post("/api/v1/checkpoints", headers=headers)
    assert again.status_code == 200 and again.json()["made"] is False
    assert again.json()["checkpoint"] == latest["checkpoint"]


@pytest.mark.req("P11-10e.4")
def test_inclusion_proofs_lead_to_the_signed_root(any_env):
    env = any_env
    add_events(env, 37)
    env.user("auditor", "inspector")
    headers = api_token(env.client(), "auditor")
    client = env.client()
    assert client.get("/api/v1/audit/1/proof", headers=headers).status_code == 404  # no checkpoint yet
    tick(env)
    with env.db.read() as s:
        size = checkpoints.latest(s).tree_size
        leaves = {seq: leaf for seq, leaf in s.execute(select(AuditEvent.seq, AuditEvent.leaf_hash))}
    for seq in sorted({1, 2, 3, size // 2, size - 1, size}):
        response = client.get(f"/api/v1/audit/{seq}/proof", headers=headers)
        assert response.status_code == 200, response.text
        proof = response.json()
        assert (proof["seq"], proof["leaf_index"], proof["tree_size"]) == (seq, seq - 1, size)
        leaf, path = bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(p) for p in proof["path"]]
        assert leaf == leaves[seq]
        root = bytes.fromhex(proof["checkpoint"]["checkpoint"]["root"])
        assert proof["root"] == root.hex()
        assert merkle.root_from_inclusion_proof(leaf, seq - 1, size, path) == root
        assert rfc6962_root(leaf, seq - 1, size, path) == root
        verify_checkpoint(proof["checkpoint"]["body"].encode(), base64.b64decode(proof["checkpoint"]["signature"]),
                          ca_pem(env))
    # a proof against an earlier checkpoint, named by its size
    add_events(env, 5)
    env.clock.advance(timedelta(minutes=env.settings.checkpoint_minutes))
    tick(env)
    proof = client.get(f"/api/v1/audit/2/proof?tree_size={size}", headers=headers).json()
    assert proof["tree_size"] == size
    newer = client.get("/api/v1/audit/2/proof", headers=headers).json()
    assert newer["tree_size"] == size + 6
    # the checkpoint's own event and unknown events: 404 with a message
    beyond = client.get(f"/api/v1/audit/{size + 7}/proof", headers=headers)
    assert beyond.status_code == 404 and "No checkpoint covers" in beyond.text
    for seq in (0, 10_000):
        unknown = client.get(f"/api/v1/audit/{seq}/proof", headers=headers)
        assert unknown.status_code == 404 and "no audit event" in unknown.text
    assert client.get("/api/v1/audit/2/proof?tree_size=3", headers=headers).status_code == 404
    with env.db.read() as s, pytest.raises(NotFound):
        checkpoints.inclusion_proof(s, size + 7)
    # an inspector reads but cannot make checkpoints
    assert client.post("/api/v1/checkpoints", headers=headers).status_code == 403


@pytest.mark.req("P11-10e.4")
def test_a_changed_checkpoint_is_reported(env):
    add_events(env, 4)
    tick(env)
    add_events(env, 2)
    env.clock.advance(timedelta(minutes=env.settings.checkpoint_minutes))
    tick(env)
    with env.db.read() as s:
        assert checkpoints.check_consistency(s, store_of(env)) == []
        first, second = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)).all()
        first_id, second_id = first.id.hex, second.id.hex
        first_size, first_sig, first_body = first.tree_size, first.signature, first.body
    # behind the application's back (the triggers refuse it otherwise)
    with env.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_checkpoints_no_update")
        flipped = first_sig[:-1] + bytes([first_sig[-1] ^ 1])
        conn.exec_driver_sql("UPDATE audit_checkpoints SET signature = ? WHERE id = ?", (flipped, first_id))
    with env.db.read() as s:
        problems = checkpoints.check_consistency(s, store_of(env))
    assert any(f"tree size {first_size}" in p and "signature does not match" in p for p in problems), problems
    assert any("blob store copy differs" in p for p in problems), problems
    # a body re-written with another root (the signature no longer matches it, nor the stored event root)
    forged = json.dumps({**json.loads(first_body), "root": "00" * 32}, separators=(",", ":"), sort_keys=True).encode()
    with env.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_checkpoints SET signature = ?, body = ?, root = ? WHERE id = ?",
                             (first_sig, forged, b"\0" * 32, first_id))
        # and the second checkpoint moved below the first: sizes must increase with time
        conn.exec_driver_sql("UPDATE audit_checkpoints SET tree_size = 1 WHERE id = ?", (second_id,))
    with env.db.read() as s:
        problems = checkpoints.check_consistency(s)
    assert any(f"tree size {first_size}" in p and "signature does not match" in p for p in problems), problems
    assert any("root differs from the root stored with audit event" in p for p in problems), problems
    assert any("does not increase" in p for p in problems), problems


def rfc6962_consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """An independent check of a consistency proof, from RFC 6962 section 2.1.2's SUBPROOF recursion: rebuild both
    roots from the proof nodes (listed bottom-up, so consumed from the end)."""
    nodes = list(proof)

    def sub(m: int, n: int, complete: bool) -> tuple[bytes | None, bytes]:  # (old subtree root, new subtree root)
        if m == n:
            if complete:
                return None, old_root  # the old tree itself is this subtree
            node = nodes.pop()
            return node, node
        k = 1
        while k * 2 < n:
            k *= 2
        right = nodes.pop()
        if m <= k:
            old, new = sub(m, k, complete)
            return old, sha256(b"\x01" + new + right).digest()
        old, new = sub(m - k, n - k, False)
        return sha256(b"\x01" + right + old).digest(), sha256(b"\x01" + right + new).digest()

    old, new = sub(old_size, new_size, True)
    return not nodes and (old or old_root) == old_root and new == new_root


@pytest.mark.req("P11-10e.4")
def test_consistency_proofs_between_checkpoints(any_env):
    env = any_env
    env.user("auditor", "inspector")
    headers = api_token(env.client(), "auditor")
    client = env.client()
    sizes = []
    for n in (300, 1, 257, 40):  # across the 256-leaf tile boundary, with cached subtrees
        add_events(env, n)
        env.clock.advance(timedelta(minutes=env.settings.checkpoint_minutes))
        tick(env)
        with env.db.read() as s:
            sizes.append(checkpoints.latest(s).tree_size)
    assert sizes == sorted(set(sizes))
    for first in sizes:
        response = client.get(f"/api/v1/checkpoints/consistency?first={first}", headers=headers)
        assert response.status_code == 200, response.text
        proof = response.json()
        assert (proof["first"]["tree_size"], proof["second"]["tree_size"]) == (first, sizes[-1])
        path = [bytes.fromhex(p) for p in proof["path"]]
        old_root, new_root = bytes.fromhex(proof["first"]["root"]), bytes.fromhex(proof["second"]["root"])
        merkle.verify_consistency(first, sizes[-1], old_root, new_root, path)
        assert first == sizes[-1] or rfc6962_consistent(first, sizes[-1], old_root, new_root, path)
        for signed in (proof["first_checkpoint"], proof["second_checkpoint"]):
            verify_checkpoint(signed["body"].encode(), base64.b64decode(signed["signature"]), ca_pem(env))
    between = client.get(f"/api/v1/checkpoints/consistency?first={sizes[0]}&second={sizes[1]}", headers=headers)
    assert between.json()["second"]["tree_size"] == sizes[1]
    assert client.get(f"/api/v1/checkpoints/consistency?first={sizes[1]}&second={sizes[0]}",
                      headers=headers).status_code == 422
    assert client.get("/api/v1/checkpoints/consistency?first=5", headers=headers).status_code == 404
    with env.db.read() as s:
        assert checkpoints.check_consistency(s, store_of(env)) == []


@pytest.mark.req("P11-10e.4")
def test_rewritten_history_breaks_the_consistency_between_checkpoints(env):
    """An operator with database access rewrites an event below the first checkpoint and recomputes every leaf
    and stored root after it, so the event rows agree with each other: the signed checkpoints still hold the old
    roots, and no consistency proof from the first can be built from the rewritten trail."""
    add_events(env, 20)
    tick(env)
    with env.db.read() as s:
        first = checkpoints.latest(s).tree_size
    add_events(env, 20)
    env.clock.advance(timedelta(minutes=env.settings.checkpoint_minutes))
    tick(env)
    with env.db.read() as s:
        rows = s.execute(select(AuditEvent.seq, AuditEvent.canonical).order_by(AuditEvent.seq)).all()
    edited = rows[4].canonical.replace(b"filler", b"FILLER")
    assert edited != rows[4].canonical
    leaves = [merkle.leaf_hash(edited if seq == rows[4].seq else canonical) for seq, canonical in rows]
    with env.db.engine.begin() as conn:
        for trigger in ("audit_events_no_update", "audit_subtrees_no_update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.exec_driver_sql("DELETE FROM audit_subtrees")
        for i, (seq, _) in enumerate(rows):
            conn.exec_driver_sql("UPDATE audit_events SET canonical = ?, leaf_hash = ?, root = ? WHERE seq = ?",
                                 (edited if seq == rows[4].seq else rows[i].canonical, leaves[i],
                                  merkle.subtree_root(leaves[: i + 1]), seq))
    with env.db.read() as s:
        problems = checkpoints.check_consistency(s, store_of(env))
        with pytest.raises(AuditTampered):
            checkpoints.consistency_proof(s, first)
    assert any(f"no consistency proof from the checkpoint at {first}" in p for p in problems), problems
