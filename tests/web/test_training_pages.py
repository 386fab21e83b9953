"""The training pages: My training, opening a revision and signing "read and understood" (the ceremony), offline
training recorded by a trainer, job functions with their holders and requirements, the HR file import and the
requirements grid. Real database, real blob store, real approvals making the revisions effective."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from docctl.db.models import Signature, TrainingAssignment, TrainingRecord, TrainingRequirement
from docctl.services import accounts, documents, revisions, training
from docctl.services.principal import Principal
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready, sign_all
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, api_token, login, page_csrf

HX = {"HX-Request": "true"}


# --- building the situation through the real services -----------------------------------------------------------


def ensure_signers(env) -> None:  # type: ignore[no-untyped-def]
    """A reviewer, an approver and QA, ready to sign, so revisions can be approved for real."""
    with env.db.read() as s:
        missing = [n for n in ("rev", "appr", "qa1") if accounts.find_user(s, n) is None]
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        if name in missing:
            make_ready(env.db, env.config, env.user(name, role).id, at=env.clock.now())


def make_effective(env, number: str | None = None, *, author: str = "dc", title: str = "Monitoring visits",  # type: ignore[no-untyped-def]
                   department: str = "CLIN", pages: int = 2) -> str:
    """A new SOP (or a new major version of `number`) uploaded, submitted and signed through every stage."""
    ensure_signers(env)
    client = env.client()
    headers = api_token(client, author)
    if number is None:
        created = client.post("/api/v1/documents", headers=headers,
                              json={"type": "SOP", "title": title, "department": department})
        assert created.status_code == 201, created.text
        number = created.json()["number"]
    uploaded = client.post(f"/api/v1/documents/{number}/revisions", headers=headers,
                           files={"file": ("a.pdf", make_pdf(pages), "application/pdf")},
                           data={"change": "major", "change_summary": "new version"})
    assert uploaded.status_code == 201, uploaded.text
    version = uploaded.json()["version"]
    submitted = client.post(f"/api/v1/documents/{number}/revisions/{version}/submit", headers=headers, json={})
    assert submitted.status_code == 200, submitted.text
    sign_all(env.db, env.config, number, version, at=env.clock.now())
    with env.db.read() as s:
        assert revisions.find(documents.get_document(s, number), version).state == "effective"
    return number


def require(env, code: str, number: str, *holders: str) -> None:  # type: ignore[no-untyped-def]
    """Job function `code` (created if need be) requires `number`, and `holders` hold it."""
    op, at = Principal.operator(), env.clock.now()
    with env.db.unit_of_work() as s:
        existing = {f.code for f in training.list_functions(s)}
        if code not in existing:
            training.create_function(s, principal=op, code=code, name=f"{code} staff", at=at)
        training.add_requirement(s, principal=op, code=code, number=number, reason="needed for the job", at=at)
    for username in holders:
        with env.db.unit_of_work() as s:
            training.grant_function(s, principal=op, username=username, code=code, reason="new in the role", at=at)


def assignment_of(env, username: str, number: str, state: str = "open") -> uuid.UUID:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        user = accounts.find_user(s, username)
        assert user is not None
        found = [a.id for a, r in training.my_assignments(s, user.id)
                 if r.document.number == number and a.state == state]
    assert len(found) == 1, found
    return found[0]


def training_task(env, trainee: str = "trainee", code: str = "CRA") -> tuple[str, uuid.UUID]:  # type: ignore[no-untyped-def]
    """An effective SOP that `trainee` must read: (number, their assignment)."""
    number = make_effective(env)
    require(env, code, number, trainee)
    return number, assignment_of(env, trainee, number)


@pytest.fixture
def team(any_env):
    env = any_env
    env.user("dc", "document_control")
    make_ready(env.db, env.config, env.user("trainer", "qa", full_name="Tess Trainer").id, at=env.clock.now())
    make_ready(env.db, env.config, env.user("trainee", "staff", full_name="Tom Trainee").id, at=env.clock.now())
    make_ready(env.db, env.config, env.user("other", "staff").id, at=env.clock.now())
    env.user("insp", "inspector")
    env.user("root", "admin")
    ensure_signers(env)
    return env


def _signatures(env, assignment_id) -> list[Signature]:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        return list(s.scalars(select(Signature).where(Signature.assignment_id == assignment_id)))


def _assignment(env, assignment_id) -> TrainingAssignment:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        return training.find_assignment(s, assignment_id)


def _records(env, assignment_id) -> list[TrainingRecord]:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        return list(s.scalars(select(TrainingRecord).where(TrainingRecord.assignment_id == assignment_id)))


def _ack(client, assignment_id, csrf, *, username="trainee", password=STRONG, headers=None, **extra):  # type: ignore[no-untyped-def]
    data = {"username": username, "password": password, "meaning": "Read and understood", "csrf_token": csrf, **extra}
    return client.post(f"/training/assignments/{assignment_id}/acknowledge", data=data, headers=headers or {},
                       follow_redirects=False)


# --- staff: the task, opening, signing --------------------------------------------------------------------------


@pytest.mark.req("TR-RU")
def test_staff_see_their_task_and_opening_it_records_a_view_but_completes_nothing(team):
    env = team
    number, aid = training_task(env)
    client = login(env.client(), "trainee")
    page = client.get("/training")
    assert page.status_code == 200 and number in page.text and "Monitoring visits" in page.text
    assert "Due" in page.text and f"/training/assignments/{aid}" in page.text
    dashboard = client.get("/")
    assert "My training" in dashboard.text and number in dashboard.text
    assert f"/training/assignments/{aid}" in dashboard.text

    before = client.get(f"/training/assignments/{aid}")
    assert before.status_code == 200
    assert "Open the document first" in before.text and "disabled" in before.text
    assert f'action="/training/assignments/{aid}/acknowledge"' not in before.text

    # the server refuses a signature before the document was opened, whatever the form says
    refused = _ack(client, aid, page_csrf(client, f"/training/assignments/{aid}"))
    assert refused.status_code == 409 and "Open the document and read it first" in refused.text
    assert _signatures(env, aid) == []

    start = last_seq(env.db)
    read = client.get(f"/training/assignments/{aid}/read")
    assert read.status_code == 200
    assert f"/training/assignments/{aid}/pages/1.png" in read.text
    assert f"/training/assignments/{aid}/pages/2.png" in read.text
    assert f'action="/training/assignments/{aid}/acknowledge"' in read.text
    views = [e for e in events_since(env.db, start) if e["action"] == "training:view"]
    assert len(views) == 1 and views[0]["subject"]["id"] == str(aid) and views[0]["actor"]["username"] == "trainee"
    assert [e["action"] for e in events_since(env.db, start)] == ["training:view"]  # nothing else happened
    a = _assignment(env, aid)
    assert a.opened_at == env.clock.now() and a.state == "open" and a.completed_at is None
    assert _signatures(env, aid) == [] and _records(env, aid) == []

    image = client.get(f"/training/assignments/{aid}/pages/1.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert client.get(f"/training/assignments/{aid}/pages/3.png").status_code == 404
    start = last_seq(env.db)
    pdf = client.get(f"/training/assignments/{aid}/document.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert [e["after"]["what"] for e in events_since(env.db, start) if e["action"] == "training:view"] == ["pdf"]
    assert _assignment(env, aid).state == "open"

    after = client.get(f"/training/assignments/{aid}")
    assert "Open the document first" not in after.text
    assert f'action="/training/assignments/{aid}/acknowledge"' in after.text


@pytest.mark.req("TR-RU", "P11-200a1")
def test_a_signature_needs_the_password_and_a_wrong_one_is_refused_and_recorded(team):
    env = team
    _, aid = training_task(env)
    client = login(env.client(), "trainee")
    client.get(f"/training/assignments/{aid}/read")
    csrf = page_csrf(client, f"/training/assignments/{aid}")

    missing = client.post(f"/training/assignments/{aid}/acknowledge",
                          data={"username": "trainee", "meaning": "Read and understood", "csrf_token": csrf})
    assert missing.status_code == 422
    empty = _ack(client, aid, csrf, password="")
    assert empty.status_code == 422
    start = last_seq(env.db)
    wrong = _ack(client, aid, csrf, password="not-my-password", headers=HX)
    assert wrong.status_code == 422
    assert "The user ID or password is incorrect. The attempt was recorded" in wrong.text
    assert "<html" not in wrong.text  # htmx: only the message, swapped into the form
    failed = [e for e in events_since(env.db, start) if e["action"] == "signature:failed"]
    assert len(failed) == 1 and failed[0]["actor"]["username"] == "trainee"
    someone_else = _ack(client, aid, csrf, username="other")
    assert someone_else.status_code == 422 and "incorrect" in someone_else.text
    no_meaning = client.post(f"/training/assignments/{aid}/acknowledge",
                             data={"username": "trainee", "password": STRONG, "csrf_token": csrf})
    assert no_meaning.status_code == 422 and "Read and understood" in no_meaning.text
    assert _signatures(env, aid) == [] and _assignment(env, aid).state == "open"


@pytest.mark.req("TR-RU")
def test_signing_completes_the_training_once_bound_to_the_content_hash(team):
    env = team
    number, aid = training_task(env)
    client = login(env.client(), "trainee")
    client.get(f"/training/assignments/{aid}/read")
    csrf = page_csrf(client, f"/training/assignments/{aid}")
    start = last_seq(env.db)
    signed = _ack(client, aid, csrf, headers=HX)
    assert signed.status_code == 200 and signed.headers["HX-Redirect"] == "/training?signed=1"
    assert [e["action"] for e in events_since(env.db, start)] == ["signature:create", "training:complete"]

    again = _ack(client, aid, csrf)
    assert again.status_code == 409 and "already completed" in again.text
    sigs = _signatures(env, aid)
    assert len(sigs) == 1
    sig = sigs[0]
    manifest = json.loads(sig.manifest)
    with env.db.read() as s:
        r = revisions.find(documents.get_document(s, number), "1.0")
        content, rendition = r.source_sha256, r.rendition_sha256
    assert sig.meaning == "Read and understood" and sig.signed_at == env.clock.now()
    assert manifest["revision"]["content_sha256"] == content and manifest["revision"]["rendition_sha256"] == rendition
    assert manifest["meaning"] == "Read and understood" and manifest["task_id"] == str(aid)
    assert manifest["signer"]["username"] == "trainee"
    a = _assignment(env, aid)
    assert a.state == "completed" and a.completed_at == env.clock.now()
    (record,) = _records(env, aid)
    assert record.method == "read_and_understood" and record.signature_id == sig.id and record.version == "1.0"

    mine = client.get("/training?signed=1")
    assert "read-and-understood signature was recorded" in mine.text and "Nothing to read" in mine.text
    assert "read and understood, signed" in mine.text
    page = client.get(f"/training/assignments/{aid}")
    assert "This training is complete" in page.text and "Tom Trainee" in page.text
    assert sig.manifest_sha256[:12] in page.text


@pytest.mark.req("TR-RU")
def test_nobody_sees_or_signs_someone_elses_training_and_readers_see_it_read_only(team):
    env = team
    _, aid = training_task(env)
    other = login(env.client(), "other")
    csrf = page_csrf(other)
    for path in ("", "/read", "/pages/1.png", "/document.pdf"):
        assert other.get(f"/training/assignments/{aid}{path}").status_code == 403, path
    refused = _ack(other, aid, csrf, username="other")
    assert refused.status_code == 403
    assert other.get("/training/assignments/" + str(uuid.uuid4())).status_code == 404

    inspector = login(env.client(), "insp")  # reads training records, never signs
    page = inspector.get(f"/training/assignments/{aid}")
    assert page.status_code == 200 and "Tom Trainee" in page.text and "only they can sign" in page.text
    assert "/acknowledge" not in page.text and "Record offline training" not in page.text
    assert inspector.get(f"/training/assignments/{aid}/read").status_code == 403
    start = last_seq(env.db)
    assert inspector.get(f"/training/assignments/{aid}/document.pdf").status_code == 200
    assert not [e for e in events_since(env.db, start) if e["action"] == "training:view"]  # not their training
    assert _ack(inspector, aid, page_csrf(inspector), username="insp").status_code == 403
    assert _assignment(env, aid).opened_at is None


def test_a_superseded_assignment_cannot_be_signed_and_points_to_the_new_one(team):
    env = team
    number, old = training_task(env)
    client = login(env.client(), "trainee")
    client.get(f"/training/assignments/{old}/read")
    csrf = page_csrf(client, f"/training/assignments/{old}")
    make_effective(env, number)  # version 2.0 takes effect
    new = assignment_of(env, "trainee", number)
    assert _assignment(env, old).state == "superseded"
    refused = _ack(client, old, csrf)
    assert refused.status_code == 409
    assert "Version 1.0 was superseded" in refused.text and "Read and sign the new version" in refused.text
    assert _signatures(env, old) == []
    page = client.get(f"/training/assignments/{old}")
    assert "Superseded" in page.text and f"/training/assignments/{new}" in page.text
    # a retired version is no longer readable for staff, even through the old training
    assert client.get(f"/training/assignments/{old}/read").status_code == 403
    listing = client.get("/training")
    assert "2.0" in listing.text and "superseded by version 2.0" in listing.text


# --- offline training -------------------------------------------------------------------------------------------


@pytest.mark.req("DI-ALCOA", "ISO-6.2e", "ISO-6.2c")
def test_offline_training_keeps_the_day_performed_and_the_real_entry_time(team):
    env = team
    _, aid = training_task(env)
    day_given = env.clock.now().date()
    env.clock.advance(timedelta(days=2, hours=3))
    entered = env.clock.now()

    staff = login(env.client(), "other")
    assert staff.get(f"/training/assignments/{aid}/offline").status_code == 403
    trainer = login(env.client(), "trainer")
    assignment_page = trainer.get(f"/training/assignments/{aid}")
    assert f"/training/assignments/{aid}/offline" in assignment_page.text
    form = trainer.get(f"/training/assignments/{aid}/offline")
    assert form.status_code == 200 and "Trainer sign-off" in form.text and "Tom Trainee" in form.text
    csrf = page_csrf(trainer, f"/training/assignments/{aid}/offline")

    def record(**fields):  # type: ignore[no-untyped-def]
        data = {"performed_on": day_given.isoformat(), "result": "passed", "note": "classroom session",
                "username": "trainer", "password": STRONG, "csrf_token": csrf, **fields}
        return trainer.post(f"/training/assignments/{aid}/offline", data=data, follow_redirects=False)

    future = record(performed_on=(entered.date() + timedelta(days=1)).isoformat())
    assert future.status_code == 422 and "in the future" in future.text
    assert record(performed_on="yesterday").status_code == 422
    start = last_seq(env.db)
    wrong = record(password="nope")
    assert wrong.status_code == 422 and "incorrect" in wrong.text
    assert [e["action"] for e in events_since(env.db, start)] == ["signature:failed"]

    failed = record(result="failed", note="could not explain the escalation path")
    assert failed.status_code == 303 and failed.headers["location"].endswith("?recorded=failed")
    assert _assignment(env, aid).state == "open"
    start = last_seq(env.db)
    passed = record()
    assert passed.status_code == 303
    assert _assignment(env, aid).state == "completed"
    records = sorted(_records(env, aid), key=lambda r: r.result)
    assert [r.result for r in records] == ["failed", "passed"]
    for r in records:
        assert r.method == "offline" and r.performed_on == day_given and r.recorded_at == entered
        assert r.performed_at < r.recorded_at and r.trainer_id is not None
    logged = next(e for e in events_since(env.db, start) if e["action"] == "training:record")
    assert logged["after"]["performed_on"] == day_given.isoformat() and logged["after"]["result"] == "passed"
    assert logged["after"]["recorded_at"].startswith(entered.strftime("%Y-%m-%dT%H:%M:%S"))

    for change in (delete(TrainingRecord), update(TrainingRecord).values(note="edited afterwards")):
        with pytest.raises(DBAPIError), env.db.unit_of_work() as s:  # the evidence is append-only
            s.execute(change.where(TrainingRecord.id == records[0].id))
    assert [r.note for r in sorted(_records(env, aid), key=lambda r: r.result)] == [records[0].note, records[1].note]

    page = trainer.get(f"/training/assignments/{aid}?recorded=passed")
    assert "recorded as passed" in page.text and day_given.isoformat() in page.text
    assert "Tess Trainer" in page.text and "Offline training" in page.text
    again = record()
    assert again.status_code == 409 and "already completed" in again.text


def test_a_trainer_cannot_record_their_own_training(team):
    env = team
    number = make_effective(env)
    require(env, "CRA", number, "trainer")
    aid = assignment_of(env, "trainer", number)
    client = login(env.client(), "trainer")
    page = client.get(f"/training/assignments/{aid}/offline")
    assert "cannot record their own training" in page.text
    response = client.post(f"/training/assignments/{aid}/offline", data={
        "performed_on": env.clock.now().date().isoformat(), "result": "passed", "username": "trainer",
        "password": STRONG, "csrf_token": page_csrf(client, f"/training/assignments/{aid}/offline")})
    assert response.status_code == 403 and _assignment(env, aid).state == "open"


# --- job functions ----------------------------------------------------------------------------------------------


def test_job_functions_are_created_edited_granted_revoked_with_reasons(env):
    env.user("dc", "document_control")
    env.user("worker", "staff")
    number = make_effective(env)
    client = login(env.client(), "dc")
    csrf = page_csrf(client, "/training/functions")

    def post(path, **data):  # type: ignore[no-untyped-def]
        return client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)

    created = post("/training/functions", code="dm", name="Data manager", description="Handles the data")
    assert created.status_code == 303 and created.headers["location"] == "/training/functions/DM?done=created"
    duplicate = post("/training/functions", code="DM", name="Again")
    assert duplicate.status_code == 409 and "exists already" in duplicate.text
    bad = post("/training/functions", code="1x", name="Bad")
    assert bad.status_code == 422 and "function code" in bad.text
    listing = client.get("/training/functions")
    assert "/training/functions/DM" in listing.text and "Data manager" in listing.text

    no_reason = post("/training/functions/DM", name="Data management", description="", active="true")
    assert no_reason.status_code == 422 and "A reason is required" in no_reason.text
    assert post("/training/functions/DM", name="Data management", active="true", reason="renamed").status_code == 303
    assert post("/training/functions/DM/requirements", number=number, reason="").status_code == 422
    assert post("/training/functions/DM/requirements", number="SOP-NOPE-999", reason="x").status_code == 404
    added = post("/training/functions/DM/requirements", number=number, reason="data entry rules")
    assert added.status_code == 303 and added.headers["location"].endswith("done=required")
    by_type = post("/training/functions/DM/requirements", type_code="WI", department="clin", reason="all WIs")
    assert by_type.status_code == 303
    assert post("/training/functions/DM/requirements", reason="nothing named").status_code == 422

    assert post("/training/functions/DM/grant", username="worker", reason="").status_code == 422
    assert post("/training/functions/DM/grant", username="nobody", reason="x").status_code == 404
    granted = post("/training/functions/DM/grant", username="worker", reason="joined the data team")
    assert granted.status_code == 303
    aid = assignment_of(env, "worker", number)
    assert post("/training/functions/DM/grant", username="worker", reason="again").status_code == 409

    page = client.get("/training/functions/DM?done=granted")
    assert "Data management" in page.text and "Worker Tester" in page.text and "joined the data team" in page.text
    assert number in page.text and "every WI in CLIN" in page.text and "was granted" in page.text

    with env.db.read() as s:
        reqs = training.requirements_of(s, training.get_function(s, "DM").id)
        direct = next(r.id for r in reqs if r.document_id is not None)
    assert post(f"/training/functions/DM/requirements/{direct}/remove", reason="").status_code == 422
    assert post(f"/training/functions/CRA/requirements/{direct}/remove", reason="x").status_code == 404
    removed = post(f"/training/functions/DM/requirements/{direct}/remove", reason="not needed after all")
    assert removed.status_code == 303
    assert _assignment(env, aid).state == "cancelled"
    assert post(f"/training/functions/DM/requirements/{direct}/remove", reason="again").status_code == 404

    revoked = post("/training/functions/DM/revoke", username="worker", reason="left the team")
    assert revoked.status_code == 303
    assert post("/training/functions/DM/revoke", username="worker", reason="again").status_code == 409
    assert post("/training/functions/DM", name="Data management", reason="retired").status_code == 303
    assert "inactive" in client.get("/training/functions/DM").text
    assert client.get("/training/functions/NOPE").status_code == 404


@pytest.mark.req("P11-10g")
def test_staff_and_inspectors_cannot_reach_the_administration_pages(env):
    env.user("worker", "staff")
    env.user("insp", "inspector")
    make_ready(env.db, env.config, env.user("qa2", "qa").id, at=env.clock.now())
    with env.db.unit_of_work() as s:
        training.create_function(s, principal=Principal.operator(), code="CRA", name="CRA", at=env.clock.now())
    for who in ("worker", "insp", "qa2"):
        client = login(env.client(), who)
        csrf = page_csrf(client)
        for path in ("/training/functions", "/training/functions/CRA", "/training/functions/import",
                     "/training/requirements"):
            assert client.get(path).status_code == 403, (who, path)
        for path, data in (("/training/functions", {"code": "XX", "name": "x"}),
                           ("/training/functions/CRA/grant", {"username": who, "reason": "me"}),
                           ("/training/requirements/toggle", {"function": "CRA", "number": "SOP-CLIN-001",
                                                              "required": "true", "reason": "me"})):
            assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403, (who, path)
        assert client.get("/training").status_code == 200
    with env.db.read() as s:
        assert training.holders(s, training.get_function(s, "CRA").id) == []


# --- the HR file ------------------------------------------------------------------------------------------------


def test_the_hr_file_preview_changes_nothing_and_apply_needs_confirmation(env):
    env.user("dc", "document_control")
    for name in ("amy", "ben", "cat"):
        env.user(name, "staff")
    number = make_effective(env)
    require(env, "CRA", number, "cat")
    with env.db.unit_of_work() as s:
        training.create_function(s, principal=Principal.operator(), code="DM", name="Data manager", at=env.clock.now())
    client = login(env.client(), "dc")
    csrf = page_csrf(client, "/training/functions/import")
    text = ("username,function,action,reason\n"
            "amy,CRA,grant,new CRA\n"
            "ben,DM,,\n"
            "cat,CRA,revoke,moved\n"
            "ghost,CRA,grant,\n"
            "amy,NOPE,grant,\n"
            "ben,dm,grant,\n"
            "amy,DM,fire,\n")

    def upload(data: bytes, name: str = "hr.csv"):  # type: ignore[no-untyped-def]
        return client.post("/training/functions/import", data={"csrf_token": csrf},
                           files={"file": (name, data, "text/csv")})

    start = last_seq(env.db)
    preview = upload(text.encode())
    assert preview.status_code == 200
    for expected in ("unknown user &#39;ghost&#39;", "unknown job function &#39;NOPE&#39;", "duplicate of line 3",
                     "action must be grant or revoke", "2</strong> to grant",
                     "Apply the 3 valid row(s) and skip the 4 rejected"):
        assert expected in preview.text, expected
    assert events_since(env.db, start) == []  # a preview changes nothing
    with env.db.read() as s:
        assert [u.username for _, u in training.holders(s, training.get_function(s, "DM").id)] == []

    content = re.search(r'name="content" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    assert base64.b64decode(content) == text.encode()

    def apply(**fields):  # type: ignore[no-untyped-def]
        return client.post("/training/functions/import/apply", follow_redirects=False, data={
            "content": content, "filename": "hr.csv", "csrf_token": csrf, **fields})

    assert apply(reason="").status_code == 422
    unconfirmed = apply(reason="HR feed March")
    assert unconfirmed.status_code == 409 and "nothing was applied" in unconfirmed.text
    assert events_since(env.db, start) == []
    applied = apply(reason="HR feed March", accept_partial="true")
    assert applied.status_code == 303
    assert "grant=2" in applied.headers["location"] and "revoke=1" in applied.headers["location"]
    done = client.get(applied.headers["location"])
    assert "hr.csv was applied: 2 granted, 1 revoked" in done.text and "4 rejected row(s) skipped" in done.text
    with env.db.read() as s:
        assert [u.username for _, u in training.holders(s, training.get_function(s, "DM").id)] == ["ben"]
        assert [u.username for _, u in training.holders(s, training.get_function(s, "CRA").id)] == ["amy"]
    actions = [e["action"] for e in events_since(env.db, start)]
    assert actions.count("job_function:grant") == 2 and actions[-1] == "job_function:import"
    assert apply(content="not base64!", reason="x").status_code == 422

    for bad, message in ((b"user,function\nx,y\n", "The columns are wrong"),
                         (b"username,function\n\xff\xfe", "not UTF-8"),
                         (b"", "The file is empty")):
        refused = upload(bad)
        assert refused.status_code == 422 and message in refused.text, message
        assert "Apply" not in refused.text.split("The file cannot be used")[1].split("Upload a file")[0]
    all_valid = upload(b"username,function\namy,DM\n")
    assert all_valid.status_code == 200 and ">Apply</button>" in all_valid.text
    assert "accept_partial" not in all_valid.text


# --- the grid editor --------------------------------------------------------------------------------------------


def test_the_grid_toggles_a_requirement_only_with_a_reason(env):
    env.user("dc", "document_control")
    env.user("worker", "staff")
    number = make_effective(env)
    with env.db.unit_of_work() as s:
        op = Principal.operator()
        training.create_function(s, principal=op, code="CRA", name="CRA", at=env.clock.now())
        training.create_function(s, principal=op, code="DM", name="Data manager", at=env.clock.now())
        training.add_requirement(s, principal=op, code="DM", type_code="SOP", department="CLIN", reason="all",
                                 at=env.clock.now())
        training.grant_function(s, principal=op, username="worker", code="CRA", reason="r", at=env.clock.now())
    client = login(env.client(), "dc")
    grid = client.get("/training/requirements")
    assert grid.status_code == 200 and number in grid.text and ">CRA</a>" in grid.text and ">DM</a>" in grid.text
    assert "by type" in grid.text and 'id="grid-reason"' in grid.text
    assert client.get("/training/requirements?type=WI").text.count(number) == 0
    csrf = page_csrf(client, "/training/requirements")

    def toggle(required: bool, reason: str, function: str = "CRA"):  # type: ignore[no-untyped-def]
        data = {"function": function, "number": number, "reason": reason, "csrf_token": csrf}
        if required:
            data["required"] = "true"
        return client.post("/training/requirements/toggle", data=data, headers=HX)

    start = last_seq(env.db)
    refused = toggle(True, "")
    assert refused.status_code == 422 and "A reason is required" in refused.text and "checked" not in refused.text
    assert events_since(env.db, start) == []
    on = toggle(True, "annual review")
    assert on.status_code == 200 and "checked" in on.text and "saved" in on.text
    assert "<html" not in on.text
    assignment_of(env, "worker", number)  # the holder was assigned at once
    with env.db.read() as s:
        req = s.scalars(select(TrainingRequirement).where(TrainingRequirement.removed_at.is_(None),
                                                          TrainingRequirement.document_id.is_not(None))).one()
        assert req.reason == "annual review"
    assert 'checked' in client.get("/training/requirements").text
    keep = toggle(False, "")
    assert keep.status_code == 422 and "checked" in keep.text
    off = toggle(False, "not needed")
    assert off.status_code == 200 and "checked" not in off.text
    assert assignment_of(env, "worker", number, state="cancelled")
    actions = [e["action"] for e in events_since(env.db, start)]
    assert "training_requirement:add" in actions and "training_requirement:remove" in actions
    assert toggle(True, "x", function="NOPE").status_code == 404
