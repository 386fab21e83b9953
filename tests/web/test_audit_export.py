"""Exporting the audit trail as CSV: every event up to a signed checkpoint, streamed, the export itself recorded."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from sqlalchemy import func, select

from docctl.audit import log
from docctl.audit.tags import Tag
from docctl.db.models import AuditCheckpoint, AuditEvent
from docctl.services import audit_export, checkpoints
from docctl.services.audit_trail import TrailFilter
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import api_token, login

HEADER = ["seq", "at_utc", "actor_username", "actor_name", "action", "subject_type", "subject_id", "subject_label",
          "reason", "before", "after", "ip", "user_agent", "leaf_hash", "root"]


def parse(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text[1:], newline=""))
    header = next(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def stored(env) -> dict[int, AuditEvent]:
    with env.db.read() as s:
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        s.expunge_all()
    return {r.seq: r for r in rows}


def checkpoint_count(env) -> int:
    with env.db.read() as s:
        return s.scalar(select(func.count()).select_from(AuditCheckpoint))


@pytest.mark.req("P11-10e.7", "P11-10b")
def test_api_export_is_every_event_through_a_checkpoint(any_env):
    env = any_env
    env.user("insp", "inspector")
    for n in range(5):
        env.clock.advance(timedelta(seconds=1))
        env.user(f"user{n}", "staff")
    headers = api_token(env.client(), "insp")
    before = checkpoint_count(env)
    response = env.client().get("/api/v1/audit/export.csv", headers=headers)
    rows = parse(response)
    size = int(response.headers["x-docctl-checkpoint-tree-size"])
    root = response.headers["x-docctl-checkpoint-root"]
    day = env.clock.now().astimezone(UTC).date().isoformat()
    assert response.headers["content-disposition"] == f'attachment; filename="audit-trail-{size}-{day}.csv"'
    # a checkpoint was made for the export, of the trail as it was (the token:issue just before included)
    assert checkpoint_count(env) == before + 1
    with env.db.read() as s:
        cp = checkpoints.latest(s)
        assert (cp.tree_size, cp.root.hex(), cp.made_by) == (size, root, "export")
    events = stored(env)
    # every event 1..tree size, in order, nothing after it
    assert [int(r["seq"]) for r in rows] == list(range(1, size + 1))
    assert events[size].action == str(Tag.TOKEN_ISSUE)
    for row in rows:
        e = events[int(row["seq"])]
        assert row["leaf_hash"] == sha256(b"\x00" + e.canonical).hexdigest()  # the exact bytes that were hashed
        assert row["root"] == e.root.hex()
        event = json.loads(e.canonical)
        assert (row["at_utc"], row["action"], row["actor_username"], row["actor_name"]) == (
            event["at"], event["action"], event["actor"]["username"], event["actor"]["name"])
        assert (row["subject_type"], row["subject_id"], row["subject_label"]) == (
            event["subject"]["type"], event["subject"]["id"], event["subject"]["label"])
        assert row["reason"] == (event["reason"] or "")
        assert (json.loads(row["after"]) if row["after"] else None) == event["after"]
        assert (json.loads(row["before"]) if row["before"] else None) == event["before"]
        assert row["ip"] == ((event["request"] or {}).get("ip") or "")
    assert rows[-1]["root"] == root
    # after the checkpoint: its own event, then the export naming it
    after = events_since(env.db, size)
    assert [e["action"] for e in after] == ["audit:checkpoint", "audit:export"]
    export = after[-1]
    assert export["actor"]["username"] == "insp"
    assert export["subject"] == {"type": "audit_checkpoint", "id": str(cp.id), "label": f"tree size {size}"}
    assert export["after"] == {"format": "csv", "filters": {},
                               "checkpoint": {"id": str(cp.id), "tree_size": size, "root": root, "made": True}}


@pytest.mark.req("P11-10e.7")
def test_nothing_new_reuses_the_latest_checkpoint(env):
    env.user("insp", "inspector")
    headers = api_token(env.client(), "insp")
    with env.db.unit_of_work() as s:
        made = checkpoints.make_checkpoint(s, env.app.state.docctl.blobs, at=env.clock.now(), made_by="on demand",
                                           secret=env.settings.secret_key.get_secret_value().encode())
        size, root = made.tree_size, made.root.hex()
    count = checkpoint_count(env)
    response = env.client().get("/api/v1/audit/export.csv", headers=headers)
    rows = parse(response)
    assert checkpoint_count(env) == count
    assert response.headers["x-docctl-checkpoint-tree-size"] == str(size)
    assert response.headers["x-docctl-checkpoint-root"] == root
    assert int(rows[-1]["seq"]) == size and rows[-1]["root"] == root
    export = events_since(env.db, last_seq(env.db) - 1)[0]
    assert export["action"] == "audit:export"
    assert export["after"]["checkpoint"] == {"id": str(made.id), "tree_size": size, "root": root, "made": False}
    # the first export's event is new: the next export checkpoints it
    second = env.client().get("/api/v1/audit/export.csv", headers=headers)
    assert int(second.headers["x-docctl-checkpoint-tree-size"]) > size
    assert parse(second)[-1]["action"] == "audit:export"
    assert checkpoint_count(env) == count + 1


@pytest.mark.req("P11-10e.7")
def test_filters(any_env):
    env = any_env
    env.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    env.user("insp", "inspector")
    env.user("early", "staff")
    env.clock.set(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    env.user("late", "staff")
    headers = api_token(env.client(), "insp")
    client = env.client()
    created = parse(client.get("/api/v1/audit/export.csv", headers=headers, params={"action": "user:create"}))
    assert [r["subject_label"] for r in created][-2:] == ["early", "late"]
    assert {r["action"] for r in created} == {"user:create"}
    users = parse(client.get("/api/v1/audit/export.csv", headers=headers, params={"action": "user:"}))
    assert {r["action"] for r in users} >= {"user:create", "user:password_change"}
    assert all(r["action"].startswith("user:") for r in users)
    mine = parse(client.get("/api/v1/audit/export.csv", headers=headers, params={"actor": "insp"}))
    assert mine and {r["actor_username"] for r in mine} == {"insp"}
    assert "audit:export" in {r["action"] for r in mine}  # the earlier exports, now checkpointed
    dated = parse(client.get("/api/v1/audit/export.csv", headers=headers,
                             params={"since": "2026-03-04T00:00:00Z", "action": "user:create"}))
    assert [r["subject_label"] for r in dated] == ["late"]
    # the export's event records the filters
    export = events_since(env.db, last_seq(env.db) - 1)[0]
    assert export["after"]["filters"] == {"action": "user:create", "since": "2026-03-04T00:00:00.000000Z"}


@pytest.mark.req("P11-10e.7")
def test_page_export_with_the_page_filters(env):
    env.user("qa1", "qa")
    env.user("bob", "staff")
    client = login(env.client(), "qa1")
    page = client.get("/audit", params={"action": "user:create"})
    assert 'href="/audit/export.csv?action=user%3Acreate"' in page.text and "Export CSV" in page.text
    response = client.get("/audit/export.csv", params={"action": "user:create", "until": "2099-01-01"})
    rows = parse(response)
    assert rows and {r["action"] for r in rows} == {"user:create"}
    assert "bob" in {r["subject_label"] for r in rows}
    export = events_since(env.db, last_seq(env.db) - 1)[0]
    assert export["action"] == "audit:export" and export["actor"]["username"] == "qa1"
    assert export["after"]["filters"]["action"] == "user:create"
    assert export["request"]["user_agent"]


@pytest.mark.req("P11-10e.7")
def test_staff_cannot_export(env):
    env.user("bob", "staff")
    start = last_seq(env.db)
    assert env.client().get("/api/v1/audit/export.csv", headers=api_token(env.client(), "bob")).status_code == 403
    assert login(env.client(), "bob").get("/audit/export.csv").status_code == 403
    assert "audit:export" not in [e["action"] for e in events_since(env.db, start)]


@pytest.mark.req("P11-10e.7")
def test_formula_cells_are_neutralised(env):
    env.user("insp", "inspector")
    with env.db.unit_of_work() as s:
        log.append(s, Tag.CONFIG_CHANGE, actor=log.SYSTEM, subject=log.Subject("test", "1", "@label"),
                   at=env.clock.now(), reason='=HYPERLINK("http://evil","x")', after={"k": "-1"})
    rows = parse(env.client().get("/api/v1/audit/export.csv", headers=api_token(env.client(), "insp")))
    row = next(r for r in rows if r["subject_type"] == "test")
    assert row["reason"] == "'" + '=HYPERLINK("http://evil","x")'
    assert row["subject_label"] == "'@label"
    assert row["after"] == '{"k":"-1"}'


def test_generator_reads_in_batches(env):
    """Keyset batches: a batch size that does not divide the trail yields the same lines as one big batch."""
    with env.db.unit_of_work() as s:
        log.append_many(s, [log.Entry(Tag.CONFIG_CHANGE, log.SYSTEM, log.Subject("test", str(i)), env.clock.now())
                            for i in range(23)])
    size = last_seq(env.db)
    small = list(audit_export.iter_audit_csv(env.db.read, filters=TrailFilter(), through_seq=size - 1, batch=4))
    big = "".join(audit_export.iter_audit_csv(env.db.read, filters=TrailFilter(), through_seq=size - 1))
    assert "".join(small) == big
    assert len(small) == 1 + -(-(size - 1) // 4)
    assert big.count("\r\n") == size  # header + events 1..size-1
