"""The trail of one record, on its own page and as a filter: a document (with its revisions, signatures and
training), a revision, a user account and a signature (P11-10e.7: viewable per record); the trail of a retired
document stays (P11-10e.6); keyset pages both ways."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from docctl.db.models import AuditEvent, Document, Revision, Signature, TrainingAssignment
from docctl.domain.lifecycle import Step
from docctl.services import accounts, approvals, audit_trail, documents, revisions
from docctl.services.principal import Principal
from tests.fixtures import training as tr
from tests.fixtures.workflow import make_ready
from tests.web.conftest import api_token, login
from tests.web.test_checkpoints import add_events, tick


def seqs_in(html: str, seqs: set[int]) -> set[int]:
    return {seq for seq in seqs if f'<td class="num">{seq}</td>' in html}


def document_events(env, number: str) -> set[int]:
    """Independently of the filter: every event whose subject is the document, one of its revisions or one of
    its training assignments (their ids read from the tables)."""
    with env.db.read() as s:
        doc = s.scalars(select(Document).where(Document.number == number)).one()
        mine = {str(doc.id)} | {str(r) for r in s.scalars(select(Revision.id).where(Revision.document_id == doc.id))}
        mine |= {str(a) for a in s.scalars(select(TrainingAssignment.id)
                                           .where(TrainingAssignment.document_id == doc.id))}
        rows = s.execute(select(AuditEvent.seq, AuditEvent.subject_id)).all()
    return {seq for seq, subject_id in rows if subject_id in mine}


def setup_two_documents(env):
    tr.approvers(env)
    make_ready(env.db, env.config, env.user("cra", "staff").id, at=env.clock.now())
    env.user("insp", "inspector")
    first, v1 = tr.upload(env, title="Monitoring visits")
    tr.publish(env, first, v1)
    other, ov = tr.upload(env, title="Unrelated")
    tr.publish(env, other, ov)
    tr.function(env, "CRA", first)
    tr.grant(env, "cra", "CRA")
    assert tr.acknowledge(env, "cra", tr.open_assignment(env, "cra", first).id) is not None
    _, v2 = tr.upload(env, first)
    return first, v1, v2, other


@pytest.mark.req("P11-10e.7")
def test_a_documents_trail_holds_its_revisions_signatures_and_training_and_nothing_else(any_env):
    env = any_env
    number, v1, v2, other = setup_two_documents(env)
    expected = document_events(env, number)
    unrelated = document_events(env, other)
    assert len(expected) > 15 and unrelated and not expected & unrelated
    client = login(env.client(), "insp")
    page = client.get(f"/audit?document={number}&limit=500")
    assert page.status_code == 200
    assert seqs_in(page.text, expected | unrelated) == expected
    assert f"{len(expected):,} events" in page.text
    # the same filter through the API and the CSV export
    headers = api_token(env.client(), "insp")
    api = env.client().get(f"/api/v1/audit?document={number}&limit=500", headers=headers).json()
    assert {e["seq"] for e in api["events"]} == expected
    csv_text = client.get(f"/audit/export.csv?document={number}").text
    assert {int(line.split(",")[0]) for line in csv_text.splitlines()[1:]} == expected
    # the document page shows its newest ten and links to the whole
    doc_page = client.get(f"/documents/{number}")
    assert "Audit trail of this document" in doc_page.text and f"/audit?document={number}" in doc_page.text
    assert seqs_in(doc_page.text, expected) == set(sorted(expected)[-10:])


@pytest.mark.req("P11-10e.7")
def test_revision_user_and_signature_pages_carry_their_trails(env):
    number, v1, v2, _ = setup_two_documents(env)
    client = login(env.client(), "insp")
    with env.db.read() as s:
        d, r1 = revisions.get_revision(s, principal=Principal.operator(), number=number, version=v1)
        sigs = approvals.signatures_of(s, r1.id)
        rev_events = set(s.scalars(select(AuditEvent.seq).where(AuditEvent.subject_id == str(r1.id))))
        ack = s.scalars(select(Signature).where(Signature.assignment_id.is_not(None))).first()
        sig_events = {seq for seq, c in s.execute(select(AuditEvent.seq, AuditEvent.canonical))
                      if str(sigs[0].id).encode() in c}
    page = client.get(f"/documents/{number}/revisions/{v1}")
    assert f"Audit trail of version {v1}" in page.text
    assert seqs_in(page.text, rev_events) == set(sorted(rev_events)[-10:])
    assert f'href="/signatures/{sigs[0].id}"' in page.text
    # the signature's own page: manifestation, checks, the manifest, its trail
    sig_page = client.get(f"/signatures/{sigs[0].id}")
    assert sig_page.status_code == 200
    assert sigs[0].printed_name in sig_page.text and sigs[0].meaning in sig_page.text
    assert "✔ valid" in sig_page.text and sigs[0].manifest_sha256 in sig_page.text
    assert sig_events and seqs_in(sig_page.text, sig_events) == sig_events
    trail = client.get(f"/audit?signature={sigs[0].id}")
    assert seqs_in(trail.text, set(range(1, 500))) == sig_events
    assert client.get(f"/signatures/{sigs[0].id}/bundle.zip").headers["content-type"] == "application/zip"
    ack_page = client.get(f"/signatures/{ack.id}")
    assert "Read and understood" in ack_page.text and "signature:create" in ack_page.text
    # staff read the signature but not its trail
    staff = login(env.client(), "cra")
    assert staff.get(f"/signatures/{sigs[0].id}").status_code == 200
    assert "Audit trail of this signature" not in staff.get(f"/signatures/{sigs[0].id}").text
    # a user account's page: events about the account
    admin = env.user("boss", "admin")
    user_page = login(env.client(), "boss").get(f"/admin/users/{admin.id}")
    assert "Audit trail of this account" in user_page.text and "user:create" in user_page.text


@pytest.mark.req("P11-10e.6")
def test_retiring_a_document_and_running_the_scheduler_purges_nothing_of_its_trail(env):
    number, v1, v2, _ = setup_two_documents(env)
    before = document_events(env, number)
    with env.db.read() as s:
        total_before = s.scalar(select(func.count()).select_from(AuditEvent))
    with env.db.unit_of_work() as s:  # the lifecycle's retire step (obsolete), as document control would
        d = documents.get_document(s, number, for_update=True)
        revisions.apply_step(s, actor=Principal.operator().actor, document=d, revision=revisions.find(d, v1),
                             step=Step.RETIRE, reason="replaced by another process", at=env.clock.now())
    env.clock.advance(timedelta(days=400))
    tick(env)  # the scheduler: the only background job; nothing in docctl deletes audit events
    after = document_events(env, number)
    assert before < after  # every earlier event is still there, and the retirement was added
    with env.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) > total_before
    with env.db.read() as s:  # a year on (the inspector's password has expired by now: read through the service)
        page = audit_trail.events(s, principal=Principal.of(accounts.find_user(s, "insp")),
                                  filters=audit_trail.TrailFilter(document=number), limit=500)
    assert {e.seq for e in page.entries} == after
    assert "revision:retire" in {e.action for e in page.entries}


def test_keyset_pages_both_ways(env):
    env.user("insp", "inspector")
    add_events(env, 120)
    client = login(env.client(), "insp")
    first = client.get("/audit?action=config:change&limit=50")
    assert "Older events" in first.text and "Newer events" not in first.text
    with env.db.read() as s:
        seqs = list(s.scalars(select(AuditEvent.seq).where(AuditEvent.action == "config:change")
                              .order_by(AuditEvent.seq.desc())))
    second = client.get(f"/audit?action=config:change&limit=50&before={seqs[49]}")
    assert seqs_in(second.text, set(seqs)) == set(seqs[50:100])
    assert "Newer events" in second.text and f"after={seqs[50]}" in second.text
    back = client.get(f"/audit?action=config:change&limit=50&after={seqs[50]}")
    assert seqs_in(back.text, set(seqs)) == set(seqs[:50])
    assert "Newer events" not in back.text and "Older events" in back.text
