"""The signed audit-trail review (MHRA-6.13/EMA-6.2.2): QA states a range of the trail, what was reviewed and the
findings, and signs "Audit trail review completed" with user ID and password; the record names a signed checkpoint
covering the range, verifies with the openssl command line, and is readable (never creatable) by inspectors."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from docctl.clock import rfc3339
from docctl.db.models import AuditCheckpoint, AuditEvent, AuditReview
from docctl.signatures import review as review_format
from tests.fixtures.workflow import make_ready
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, api_token, csrf_from, login, page_csrf

OPENSSL = shutil.which("openssl")
REQ = "MHRA-6.13/EMA-6.2.2"


@pytest.fixture
def team(any_env):
    env = any_env
    env.user("insp", "inspector")
    env.user("root", "admin")
    env.user("worker", "staff")
    for name in ("qa1", "qa2"):
        make_ready(env.db, env.config, env.user(name, "qa", full_name=f"{name.upper()} Reviewer",
                                                time_zone="Europe/Berlin").id, at=env.clock.now())
    env.clock.advance(timedelta(minutes=5))  # the events so far are now in the past, inside a default range
    return env


def api(env, who):
    client = env.client()
    return client, api_token(client, who)


def complete(env, who="qa1", **body):
    client, headers = api(env, who)
    payload = {"findings": "No findings", "username": who, "password": STRONG, **body}
    return client.post("/api/v1/audit/reviews", headers=headers, json=payload)


def reviews(env):
    with env.db.read() as s:
        return list(s.scalars(select(AuditReview).order_by(AuditReview.seq_to)))


def _openssl(*args, cwd):
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.req(REQ, "P11-70", "A11-14a")
@pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")
def test_qa_completes_a_review_and_the_signed_record_verifies_with_openssl(team, tmp_path: Path):
    env = team
    head = last_seq(env.db)
    created = complete(env, findings="Two failed logins by worker; explained (typo), no action.",
                       scope=["trail", "failed-logins-signatures"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["from_seq"], body["to_seq"]) == (1, head)
    assert body["meaning"] == "Audit trail review completed" and body["printed_name"] == "QA1 Reviewer"
    assert body["checkpoint"]["tree_size"] >= head
    assert [s["report"] for s in body["scope"]] == ["trail", "failed-logins-signatures"]
    assert body["scope"][0]["events"] == head

    # the checkpoint was made for the review (nothing covered the range) and signs the trail's root there
    with env.db.read() as s:
        checkpoint = s.scalars(select(AuditCheckpoint).where(
            AuditCheckpoint.tree_size == body["checkpoint"]["tree_size"])).one()
        assert checkpoint.made_by == "review" and checkpoint.root.hex() == body["checkpoint"]["root"]

    # the audit event: who, the range, the checkpoint, the findings and the manifest's hash
    events = [e for e in events_since(env.db, head) if e["action"] == "audit:review"]
    assert len(events) == 1
    event = events[0]
    assert event["actor"]["username"] == "qa1" and event["subject"] == {
        "type": "audit_review", "id": body["id"], "label": f"events 1-{head}"}
    assert event["after"]["range"]["from_seq"] == 1 and event["after"]["range"]["to_seq"] == head
    assert event["after"]["checkpoint"] == body["checkpoint"]
    assert event["after"]["findings"] == body["findings"]
    assert event["after"]["manifest_sha256"] == body["manifest_sha256"]
    assert event["at"] == body["signed_at"]

    # anyone who reads the trail sees it verified; the manifest is the v1 review type and says what the record says
    client, headers = api(env, "insp")
    detail = client.get(f"/api/v1/audit/reviews/{body['id']}", headers=headers).json()
    assert detail["verification"]["valid"] is True, detail["verification"]
    manifest = detail["manifest"]
    assert manifest["type"] == "docctl.audit_review" and manifest["v"] == 1
    assert manifest["range"]["to_seq"] == head and manifest["findings"] == body["findings"]
    assert manifest["signer"]["name"] == "QA1 Reviewer" and manifest["meaning"] == "Audit trail review completed"
    assert manifest["statement"].startswith("I understand that my electronic signature")

    # offline: the bundle verifies with the openssl binary alone, and a changed byte does not
    bundle = client.get(f"/api/v1/audit/reviews/{body['id']}/bundle.zip", headers=headers)
    assert bundle.status_code == 200
    zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path)
    folder = tmp_path / f"audit-review-{body['id']}"
    epoch = str(int(review_format.review_signed_at(manifest).timestamp()))
    chain = _openssl("verify", "-attime", epoch, "-CAfile", "ca.pem", "signer.pem", cwd=folder)
    assert chain.returncode == 0 and "signer.pem: OK" in chain.stdout, chain.stderr
    good = _openssl("dgst", "-sha256", "-verify", "signer-pubkey.pem", "-signature", "signature.der",
                    "manifest.json", cwd=folder)
    assert good.returncode == 0 and "Verified OK" in good.stdout, good.stderr
    (folder / "manifest.json").write_bytes((folder / "manifest.json").read_bytes().replace(b"Two", b"Six"))
    bad = _openssl("dgst", "-sha256", "-verify", "signer-pubkey.pem", "-signature", "signature.der",
                   "manifest.json", cwd=folder)
    assert bad.returncode != 0 and "Verification failure" in bad.stdout
    assert "openssl verify -attime" in (folder / "VERIFY.txt").read_text()


@pytest.mark.req(REQ, "P11-50a")
def test_the_review_form_signs_and_the_record_shows_name_time_with_zone_and_meaning(team):
    env = team
    client = login(env.client(), "qa1")
    env.clock.advance(timedelta(minutes=1))  # the login is in the past too: the range ends at the form's "now"
    form = client.get("/audit/reviews/new")
    assert form.status_code == 200, form.text
    assert "Failed logins and signatures" in form.text and "Audit trail review completed" in form.text
    assert 'name="to_seq"' in form.text and "/audit?" in form.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text))
    head = last_seq(env.db)
    assert fields["from_seq"] == "1" and int(fields["to_seq"]) == head  # showing the form writes nothing
    env.clock.advance(timedelta(minutes=1))
    signed = client.post("/audit/reviews", data={
        **fields, "scope": ["trail", "lockouts"], "findings": "", "no_findings": "yes",
        "meaning": "Audit trail review completed", "username": "qa1", "password": STRONG}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    [review] = reviews(env)
    assert signed.headers["location"] == f"/audit/reviews/{review.id}?signed=1"
    assert review.findings == "No findings" and review.signed_at == env.clock.now()
    assert (review.seq_from, review.seq_to) == (1, head)

    # the manifestation, on screen, for an inspector: printed name, date and time with zone, meaning
    inspector = login(env.client(), "insp")
    page = inspector.get(f"/audit/reviews/{review.id}")
    assert page.status_code == 200
    assert "QA1 Reviewer" in page.text and "Audit trail review completed" in page.text
    local = review.signed_at.isoformat(sep=" ", timespec="seconds")
    assert f"{local} (UTC)" in page.text  # in the inspector's zone, with its offset and name
    assert "does not verify" not in page.text and "verified" in page.text
    listing = inspector.get("/audit/reviews")
    assert listing.status_code == 200 and "QA1 Reviewer" in listing.text and "No findings" in listing.text
    assert "Review the trail" not in listing.text  # the inspector is not offered the form
    event = [e for e in events_since(env.db, head) if e["action"] == "audit:review"][0]
    assert event["at"] == rfc3339(review.signed_at)


@pytest.mark.req(REQ, "P11-200a1", "P11-300d")
def test_a_wrong_password_signs_nothing_is_recorded_and_counts_towards_lockout(team):
    env = team
    client, headers = api(env, "qa1")  # one token: issuing another is a successful login, which resets the count
    start = last_seq(env.db)
    for attempt in range(env.settings.lockout_threshold):
        refused = client.post("/api/v1/audit/reviews", headers=headers, json={
            "findings": "No findings", "username": "qa1", "password": f"wrong-{attempt}"})
        assert refused.status_code == 401, refused.text
    assert reviews(env) == []
    failed = [e for e in events_since(env.db, start) if e["action"] == "signature:failed"]
    assert len(failed) == env.settings.lockout_threshold
    assert failed[0]["actor"]["username"] == "qa1" and "audit-trail review" in failed[0]["after"]["detail"]
    assert failed[-1]["after"]["failed_attempts"] == env.settings.lockout_threshold
    assert "user:locked" in [e["action"] for e in events_since(env.db, start)]
    # another person's user ID with one's own password is refused the same way
    other = complete(env, "qa2", username="qa1")
    assert other.status_code == 401 and reviews(env) == []


@pytest.mark.req(REQ, "P11-200a1")
def test_the_page_refuses_a_wrong_password_in_place(team):
    env = team
    client = login(env.client(), "qa1")
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', client.get(
        "/audit/reviews/new").text))
    start = last_seq(env.db)
    refused = client.post("/audit/reviews", data={**fields, "scope": "trail", "findings": "ok",
                                                  "meaning": "Audit trail review completed", "username": "qa1",
                                                  "password": "not-it"})
    assert refused.status_code == 422 and "The attempt was recorded" in refused.text
    assert "signature:failed" in [e["action"] for e in events_since(env.db, start)] and reviews(env) == []


@pytest.mark.req(REQ, "MHRA-6.16", "P11-10d")
def test_only_qa_creates_reviews_and_inspectors_read_them(team):
    env = team
    assert complete(env).status_code == 201
    [review] = reviews(env)
    for who, role in (("insp", "inspector"), ("worker", "staff"), ("root", "admin")):
        client, headers = api(env, who)
        refused = client.post("/api/v1/audit/reviews", headers=headers,
                              json={"findings": "No findings", "username": who, "password": STRONG})
        assert refused.status_code == 403, (role, refused.text)
        browser = login(env.client(), who)
        csrf = page_csrf(browser)
        page = browser.post("/audit/reviews", data={"from_seq": 1, "to_seq": 2, "until": "2026-11-21T09:00:00Z",
                                                    "findings": "x", "username": who, "password": STRONG,
                                                    "csrf_token": csrf})
        assert page.status_code == 403, role
        assert browser.get("/audit/reviews/new").status_code == 403, role
    assert len(reviews(env)) == 1
    client, headers = api(env, "insp")
    assert [r["id"] for r in client.get("/api/v1/audit/reviews", headers=headers).json()] == [str(review.id)]
    assert client.get(f"/api/v1/audit/reviews/{review.id}", headers=headers).status_code == 200
    staff, staff_headers = api(env, "worker")
    assert staff.get("/api/v1/audit/reviews", headers=staff_headers).status_code == 403


@pytest.mark.req(REQ)
def test_a_double_submit_gives_one_record_and_a_clear_409(team):
    env = team
    until = env.clock.now().isoformat()
    first = complete(env, until=until)
    second = complete(env, until=until)
    assert first.status_code == 201 and second.status_code == 409, second.text
    assert "already reviewed" in second.text
    # the same range stated explicitly (from the start of the trail) is the same review
    explicit = complete(env, since=(env.clock.now() - timedelta(days=1)).isoformat(), until=until)
    assert explicit.status_code == 409 and "already signed the review of audit events 1-" in explicit.text
    assert len(reviews(env)) == 1
    # the same form posted twice from the page
    client = login(env.client(), "qa2")
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', client.get(
        f"/audit/reviews/new?from_seq=1&until={env.clock.now().date().isoformat()}").text))
    data = {**fields, "scope": "trail", "findings": "Checked", "meaning": "Audit trail review completed",
            "username": "qa2", "password": STRONG}
    assert client.post("/audit/reviews", data=data, follow_redirects=False).status_code == 303
    again = client.post("/audit/reviews", data=data, follow_redirects=False)
    assert again.status_code == 409 and "already signed" in again.text
    assert len(reviews(env)) == 2


@pytest.mark.req(REQ)
def test_findings_are_required_and_no_findings_is_an_explicit_answer(team):
    env = team
    for findings in ("", "   "):
        refused = complete(env, findings=findings)
        assert refused.status_code == 422, refused.text
    assert complete(env, scope=[]).status_code == 422
    assert complete(env, scope=["everything"]).status_code == 422
    assert complete(env, meaning="Approved").status_code == 422
    assert reviews(env) == []
    assert complete(env, findings="No findings").status_code == 201


@pytest.mark.req(REQ)
def test_the_range_defaults_to_after_the_last_review(team):
    env = team
    first = complete(env).json()
    env.clock.advance(timedelta(hours=1))
    env.user("newcomer", "staff")  # new activity after the first review
    env.clock.advance(timedelta(minutes=1))
    second = complete(env, "qa2")
    assert second.status_code == 201, second.text
    body = second.json()
    assert body["from_seq"] == first["to_seq"] + 1 and body["since"] == first["until"]
    with env.db.read() as s:
        created = s.scalars(select(AuditEvent.seq).where(AuditEvent.action == "user:create")
                            .order_by(AuditEvent.seq.desc())).first()
    assert body["from_seq"] <= created <= body["to_seq"]
    # the form proposes the same range
    client = login(env.client(), "qa1")
    env.clock.advance(timedelta(minutes=1))
    form = client.get("/audit/reviews/new").text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    assert int(fields["from_seq"]) == body["to_seq"] + 1
    # a stale form (the range changed under it) signs nothing
    stale = client.post("/audit/reviews", data={**fields, "to_seq": int(fields["to_seq"]) - 1, "scope": "trail",
                                                "findings": "x", "meaning": "Audit trail review completed",
                                                "username": "qa1", "password": STRONG})
    assert stale.status_code == 409 and "reload the form" in stale.text
    assert len(reviews(env)) == 2


@pytest.mark.req(REQ, "P11-70")
def test_reviews_are_append_only_and_a_moved_signature_does_not_verify(env):
    make_ready(env.db, env.config, env.user("qa1", "qa").id, at=env.clock.now())
    env.clock.advance(timedelta(minutes=1))
    assert complete(env).status_code == 201
    env.clock.advance(timedelta(minutes=1))
    env.user("another", "staff")
    env.clock.advance(timedelta(minutes=1))
    assert complete(env).status_code == 201
    first, second = reviews(env)
    with pytest.raises(DBAPIError, match="append-only"), env.db.unit_of_work() as s:
        s.execute(AuditReview.__table__.update().values(findings="edited").where(AuditReview.id == first.id))
    with pytest.raises(DBAPIError, match="append-only"), env.db.unit_of_work() as s:
        s.execute(AuditReview.__table__.delete().where(AuditReview.id == first.id))
    # someone with the database file moves the first review's manifest and signature onto the second
    with env.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_reviews_no_update")
        conn.exec_driver_sql("UPDATE audit_reviews SET manifest = ?, signature = ?, manifest_sha256 = ? WHERE id = ?",
                             (first.manifest, first.signature, first.manifest_sha256, second.id.hex))
    client, headers = api(env, "qa1")
    result = client.get(f"/api/v1/audit/reviews/{second.id}", headers=headers).json()["verification"]
    assert result["valid"] is False
    assert {c["check"]: c["ok"] for c in result["checks"]}["bound to this record"] is False
    assert "does not verify" in login(env.client(), "qa1").get("/audit/reviews").text


def test_csrf_token_is_in_the_review_form(team):
    client = login(team.client(), "qa1")
    assert csrf_from(client.get("/audit/reviews/new").text)


@pytest.mark.req(REQ)
def test_a_range_stated_by_its_first_event_starts_when_that_event_was_recorded(team):
    env = team
    body = complete(env, from_seq=3).json()
    with env.db.read() as s:
        third = s.scalars(select(AuditEvent.at).where(AuditEvent.seq == 3)).one()
    assert body["from_seq"] == 3 and body["since"] == rfc3339(third)
