"""The approval workflow through the API: submit, sign with user ID + password + meaning, reject, recall, approval
when every stage is signed, effective at the effective date, verification, and the rules around signing."""

from __future__ import annotations

import base64
import io
import subprocess
import uuid
import zipfile
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docctl.db.models import Signature as SignatureRow
from docctl.errors import PermissionDenied
from docctl.services import accounts, approvals, notifications, signature_check, system
from docctl.services.principal import Principal
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready, sign_task
from tests.web.audit_helpers import actions_since, events_since, last_seq
from tests.web.conftest import STRONG, api_token, login, page_csrf


@pytest.fixture
def team(any_env):
    env = any_env
    env.user("writer", "author")
    env.user("dc", "document_control")
    env.user("worker", "staff")
    env.user("insp", "inspector")
    env.user("root", "admin")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        make_ready(env.db, env.config, env.user(name, role, full_name=f"{name.title()} Signer").id,
                   at=env.clock.now())
    return env


def client_for(env, who):
    client = env.client()
    return client, api_token(client, who)


def draft(env, title="Monitoring visits"):
    client, headers = client_for(env, "writer")
    number = client.post("/api/v1/documents", headers=headers,
                         json={"type": "SOP", "title": title, "department": "CLIN"}).json()["number"]
    response = client.post(f"/api/v1/documents/{number}/revisions", headers=headers,
                           files={"file": ("a.pdf", make_pdf(2), "application/pdf")},
                           data={"change": "major", "change_summary": "first"})
    assert response.status_code == 201, response.text
    return number


def submit(env, number, version="1.0", **body):
    client, headers = client_for(env, "writer")
    response = client.post(f"/api/v1/documents/{number}/revisions/{version}/submit", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def my_task(env, who):
    client, headers = client_for(env, who)
    tasks = client.get("/api/v1/tasks", headers=headers).json()
    assert len(tasks) == 1, tasks
    return client, headers, tasks[0]


def sign(env, who, password=STRONG, meaning=None):
    client, headers, task = my_task(env, who)
    return client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers,
                       json={"username": who, "password": password, "meaning": meaning or task["meaning"]})


def state_of(env, number, version="1.0"):
    client, headers = client_for(env, "insp")
    return client.get(f"/api/v1/documents/{number}/revisions/{version}", headers=headers).json()["state"]


@pytest.mark.req("E6-4.2.2a-iii", "ISO-4.2.4a", "P11-50a")
def test_the_whole_chain_from_submission_to_effective(team):
    env = team
    number = draft(env)
    start = last_seq(env.db)
    submitted = submit(env, number)
    assert submitted["state"] == "in_review" and [t["meaning"] for t in submitted["tasks"]] == ["Reviewed"]
    for who, meaning in (("rev", "Reviewed"), ("appr", "Approved"), ("qa1", "QA Approved")):
        signed = sign(env, who)
        assert signed.status_code == 201, signed.text
        body = signed.json()
        assert body["meaning"] == meaning and body["printed_name"] == f"{who.title()} Signer"
        assert body["signed_at"] == env.clock.now().isoformat()
    assert state_of(env, number) == "effective"
    actions = [a for a in actions_since(env.db, start) if a != "token:issue"]
    assert actions == [
        "revision:submit", "approval_task:create",
        "signature:create", "approval_task:create",
        "signature:create", "approval_task:create",
        "signature:create", "revision:approve", "revision:make_effective",
    ]


@pytest.mark.req("P11-200a1", "P11-300d")
def test_signing_needs_user_id_and_the_right_password_and_failures_count_towards_lockout(team):
    env = team
    number = draft(env)
    submit(env, number)
    start = last_seq(env.db)
    client, headers, task = my_task(env, "rev")
    for body in ({"username": "rev", "password": "wrong", "meaning": "Reviewed"},
                 {"username": "appr", "password": STRONG, "meaning": "Reviewed"}):
        refused = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers, json=body)
        assert refused.status_code == 401
    missing = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers, json={"meaning": "Reviewed"})
    assert missing.status_code == 422
    failed = [e for e in events_since(env.db, start) if e["action"] == "signature:failed"]
    assert len(failed) == 2 and failed[-1]["after"]["failed_attempts"] == 2
    for _ in range(3):
        client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers,
                    json={"username": "rev", "password": "wrong", "meaning": "Reviewed"})
    assert "user:locked" in actions_since(env.db, start)
    assert state_of(env, number) == "in_review"


def test_a_double_submit_gives_one_signature_and_a_clear_message(team):
    env = team
    number = draft(env)
    submit(env, number)
    client, headers, task = my_task(env, "rev")
    body = {"username": "rev", "password": STRONG, "meaning": "Reviewed"}
    assert client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers, json=body).status_code == 201
    again = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers, json=body)
    assert again.status_code == 409 and "already decided" in again.json()["error"]["message"]
    sigs = client.get(f"/api/v1/documents/{number}/revisions/1.0/signatures", headers=headers).json()
    assert len(sigs) == 1


@pytest.mark.req("E6-4.2.2a-iii")
def test_rejection_needs_a_reason_sends_the_revision_back_and_a_resubmission_starts_over(team):
    env = team
    number = draft(env)
    submit(env, number)
    assert sign(env, "rev").status_code == 201
    client, headers, task = my_task(env, "appr")
    no_reason = client.post(f"/api/v1/tasks/{task['id']}/reject", headers=headers,
                            json={"username": "appr", "password": STRONG, "reason": ""})
    assert no_reason.status_code == 422
    start = last_seq(env.db)
    rejected = client.post(f"/api/v1/tasks/{task['id']}/reject", headers=headers,
                           json={"username": "appr", "password": STRONG, "reason": "Section 4 is unclear"})
    assert rejected.status_code == 200
    assert state_of(env, number) == "draft"
    event = next(e for e in events_since(env.db, start) if e["action"] == "revision:reject")
    assert event["reason"] == "Section 4 is unclear" and event["actor"]["username"] == "appr"
    with env.db.read() as s:
        author = accounts.find_user(s, "writer")
        notes = notifications.unread_for(s, author.id)
    assert any("Rejected" in n.subject for n in notes)
    submit(env, number)
    for who in ("rev", "appr", "qa1"):
        assert sign(env, who).status_code == 201
    assert state_of(env, number) == "effective"


def test_the_author_may_not_sign_and_nobody_signs_for_someone_else(team):
    env = team
    number = draft(env)
    submit(env, number)
    _, _, task = my_task(env, "rev")
    for who in ("appr", "writer", "root"):
        client, headers = client_for(env, who)
        response = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers,
                               json={"username": who, "password": STRONG, "meaning": "Reviewed"})
        assert response.status_code == 403, who


def test_a_signer_not_yet_verified_cannot_sign(team):
    env = team
    env.user("rev2", "reviewer")  # no identity verification, no statement
    number = draft(env)
    submit(env, number)
    client, headers = client_for(env, "rev2")
    [task] = client.get("/api/v1/tasks", headers=headers).json()
    response = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers,
                           json={"username": "rev2", "password": STRONG, "meaning": "Reviewed"})
    assert response.status_code == 403 and "identity" in response.json()["error"]["message"]


@pytest.mark.req("ISO-4.2.4-eff")
def test_a_future_effective_date_leaves_a_window_and_the_scheduler_makes_it_effective(team):
    env = team
    first = draft(env)
    submit(env, first)
    for who in ("rev", "appr", "qa1"):
        sign(env, who)
    client, headers = client_for(env, "writer")
    client.post(f"/api/v1/documents/{first}/revisions", headers=headers,
                files={"file": ("b.pdf", make_pdf(1), "application/pdf")}, data={"change": "major",
                                                                                   "change_summary": "v2"})
    effective = env.clock.now() + timedelta(days=14)
    past = client.post(f"/api/v1/documents/{first}/revisions/2.0/submit", headers=headers,
                       json={"effective_at": (env.clock.now() - timedelta(days=1)).isoformat()})
    assert past.status_code == 422
    submit(env, first, "2.0", effective_at=effective.isoformat())
    for who in ("rev", "appr", "qa1"):
        sign(env, who)
    assert state_of(env, first, "2.0") == "approved" and state_of(env, first, "1.0") == "effective"
    env.clock.set(effective - timedelta(seconds=1))
    with env.db.unit_of_work() as s:
        assert system.tick(s, env.settings, env.config, at=env.clock.now()).made_effective == 0
    assert state_of(env, first, "1.0") == "effective"
    env.clock.set(effective + timedelta(seconds=1))
    with env.db.unit_of_work() as s:
        assert system.tick(s, env.settings, env.config, at=env.clock.now()).made_effective == 1
    assert state_of(env, first, "2.0") == "effective" and state_of(env, first, "1.0") == "superseded"


@pytest.mark.req("P11-70", "P11-50a")
def test_anyone_can_check_a_signature_and_an_inspector_can_with_openssl(team, tmp_path):
    env = team
    number = draft(env)
    submit(env, number)
    sig = sign(env, "rev").json()
    client, headers = client_for(env, "insp")
    body = client.get(f"/api/v1/signatures/{sig['id']}", headers=headers).json()
    assert body["verification"]["valid"] is True
    assert body["manifest"]["signer"]["name"] == "Rev Signer" and body["manifest"]["meaning"] == "Reviewed"
    manifest = base64.b64decode(body["manifest_base64"])
    assert body["manifest"]["revision"]["content_sha256"] in manifest.decode()
    bundle = client.get(f"/api/v1/signatures/{sig['id']}/bundle.zip", headers=headers)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        z.extractall(tmp_path / "bundle")
    folder = next((tmp_path / "bundle").iterdir())
    at = str(int(env.clock.now().timestamp()))
    chain = subprocess.run(["openssl", "verify", "-attime", at, "-CAfile", "ca.pem", "signer.pem"], cwd=folder,
                           capture_output=True, text=True, check=False)
    assert chain.returncode == 0, chain.stderr
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-verify", "signer-pubkey.pem", "-signature",
                             "signature.der", "manifest.json"], cwd=folder, capture_output=True, text=True,
                            check=False)
    assert digest.stdout.strip() == "Verified OK", digest.stdout + digest.stderr


@pytest.mark.req("P11-50b", "P11-50a", "A11-14a")
def test_the_ceremony_page_and_the_manifestation_on_screen_and_on_the_controlled_copy(team):
    env = team
    number = draft(env)
    submit(env, number)
    browser = login(env.client(), "rev")
    dashboard = browser.get("/").text
    assert f"{number} v1.0" in dashboard and "Reviewed" in dashboard
    _, _, task = my_task(env, "rev")
    page = browser.get(f"/tasks/{task['id']}").text
    for shown in (number, "Monitoring visits", task["content_sha256"], "legally binding equivalent", "Reviewed"):
        assert shown in page
    csrf = page_csrf(browser, f"/tasks/{task['id']}")
    wrong = browser.post(f"/tasks/{task['id']}/sign", headers={"HX-Request": "true"},
                         data={"username": "rev", "password": "nope", "meaning": "Reviewed", "csrf_token": csrf})
    assert wrong.status_code == 422 and "attempt was recorded" in wrong.text and "<html" not in wrong.text
    ok = browser.post(f"/tasks/{task['id']}/sign", headers={"HX-Request": "true"},
                      data={"username": "rev", "password": STRONG, "meaning": "Reviewed", "csrf_token": csrf})
    assert ok.status_code == 200 and ok.headers["hx-redirect"].startswith(f"/documents/{number}/revisions/1.0")
    for who in ("appr", "qa1"):
        assert sign(env, who).status_code == 201
    revision_page = login(env.client(), "worker").get(f"/documents/{number}/revisions/1.0").text
    for shown in ("Rev Signer", "Appr Signer", "Qa1 Signer", "Reviewed", "Approved", "QA Approved", "✔ valid",
                  "2026-11-21 09:00:00+00:00"):
        assert shown in revision_page, shown
    client, headers = client_for(env, "worker")
    copy = client.get(f"/api/v1/documents/{number}/controlled-copy", headers=headers)
    last = PdfReader(io.BytesIO(copy.content)).pages[-1].extract_text()
    for shown in ("Reviewed: Rev Signer", "Approved: Appr Signer", "QA Approved: Qa1 Signer",
                  "2026-11-21 09:00:00+00:00 (UTC)"):
        assert shown in last, (shown, last)


@pytest.mark.req("MHRA-6.16")
def test_administrators_and_inspectors_cannot_sign_or_act_for_anyone(team):
    env = team
    number = draft(env)
    submit(env, number)
    _, _, task = my_task(env, "rev")
    for who in ("root", "insp"):
        client, headers = client_for(env, who)
        response = client.post(f"/api/v1/tasks/{task['id']}/sign", headers=headers,
                               json={"username": "rev", "password": STRONG, "meaning": "Reviewed"})
        assert response.status_code == 403, who


@pytest.mark.req("ISO-4.2.4-chg")
def test_a_new_revision_goes_to_the_previous_versions_approvers_unless_qa_overrides(team):
    env = team
    number = draft(env)
    submit(env, number)
    for who in ("rev", "appr", "qa1"):
        sign(env, who)
    # the administrator changes the SOP route: only QA approval from now on
    root, rh = client_for(env, "root")
    changed = root.put("/api/v1/document-types/SOP/route", headers=rh, json={"reason": "simplified", "stages": [
        {"name": "QA approval", "meaning": "QA Approved", "rule": "role", "role": "qa"}]})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert root.put("/api/v1/document-types/SOP/route", headers=rh, json={"stages": []}).status_code == 422
    writer, wh = client_for(env, "writer")
    writer.post(f"/api/v1/documents/{number}/revisions", headers=wh, files={"file": ("b.pdf", make_pdf(1),
                "application/pdf")}, data={"change": "minor", "change_summary": "typo"})
    # v1.1 goes to v1.0's approving functions: review, approval, QA approval
    assert [t["meaning"] for t in submit(env, number, "1.1")["tasks"]] == ["Reviewed"]
    recall = writer.post(f"/api/v1/documents/{number}/revisions/1.1/recall", headers=wh, json={"reason": "x"})
    assert recall.json()["state"] == "draft"
    # dropping functions needs QA and a reason
    refused = writer.post(f"/api/v1/documents/{number}/revisions/1.1/submit", headers=wh,
                          json={"use_current_route": True, "override_reason": "QA agreed"})
    assert refused.status_code == 403
    # a brand-new document uses the new route
    other = draft(env, "Another SOP")
    assert [t["meaning"] for t in submit(env, other)["tasks"]] == ["QA Approved"]
    # the route change itself is audited with both versions
    client, headers = client_for(env, "insp")
    trail = client.get("/api/v1/audit?action=approval_route:update", headers=headers).json()["events"]
    assert trail[-1]["before"]["version"] == 1 and trail[-1]["after"]["version"] == 2


@pytest.mark.req("P11-200a1i", "P11-200a1ii")
def test_every_signing_needs_both_components_even_in_one_session(team):
    """docctl asks for user ID and password at every signing, which is stricter than 11.200(a)(1)(i) needs."""
    env = team
    first, second = draft(env), draft(env, "Second SOP")
    submit(env, first)
    submit(env, second)
    client, headers = client_for(env, "rev")
    tasks = client.get("/api/v1/tasks", headers=headers).json()
    assert len(tasks) == 2
    ok = client.post(f"/api/v1/tasks/{tasks[0]['id']}/sign", headers=headers,
                     json={"username": "rev", "password": STRONG, "meaning": "Reviewed"})
    assert ok.status_code == 201
    for body in ({"username": "rev", "password": "", "meaning": "Reviewed"},
                 {"username": "", "password": STRONG, "meaning": "Reviewed"}):
        refused = client.post(f"/api/v1/tasks/{tasks[1]['id']}/sign", headers=headers, json=body)
        assert refused.status_code == 401, body
    assert client.post(f"/api/v1/tasks/{tasks[1]['id']}/sign", headers=headers,
                       json={"username": "rev", "password": STRONG, "meaning": "Reviewed"}).status_code == 201


@pytest.mark.req("P11-100b", "P11-100c", "P11-200a2-3")
def test_signing_rights_need_verified_identity_accepted_statement_and_an_own_password(team):
    env = team
    number = draft(env)
    submit(env, number)
    # a second reviewer at each stage of readiness
    cases = {}
    for name in ("notverified", "notsworn", "tempword"):
        cases[name] = env.user(name, "reviewer", own=name != "tempword")
    with env.db.unit_of_work() as s:
        accounts.verify_identity(s, principal=Principal.operator(), user_id=cases["notsworn"].id, evidence="seen",
                            at=env.clock.now())
        accounts.verify_identity(s, principal=Principal.operator(), user_id=cases["tempword"].id, evidence="seen",
                            at=env.clock.now())
    with env.db.unit_of_work() as s:
        accounts.get_user(s, cases["tempword"].id).esig_accepted_at = env.clock.now()
    recall = client_for(env, "writer")
    recall[0].post(f"/api/v1/documents/{number}/revisions/1.0/recall", headers=recall[1], json={"reason": "r"})
    submit(env, number)  # the new round asks every reviewer, the three new ones included
    expected = {"notverified": "identity", "notsworn": "accountability statement",
                "tempword": "set by an administrator"}
    for name, why in expected.items():
        with env.db.read() as s:
            task = next(t for t, _ in approvals.open_tasks(s, cases[name].id))
        with pytest.raises(PermissionDenied, match=why):
            sign_task(env.db, env.config, user_id=cases[name].id, task_id=task.id, at=env.clock.now())


@pytest.mark.req("FDAQA-IIIE", "MHRA-6.14")
def test_a_change_after_signing_is_a_new_revision_and_the_old_signatures_stay_with_the_old_version(team):
    env = team
    number = draft(env)
    submit(env, number)
    for who in ("rev", "appr", "qa1"):
        sign(env, who)
    writer, wh = client_for(env, "writer")
    # an uploaded PDF carries no approval, whatever it shows: the new revision is a draft with no signatures
    upload = writer.post(f"/api/v1/documents/{number}/revisions", headers=wh,
                         files={"file": ("signed-scan.pdf", make_pdf(1, "Approved by J. Smith (signature)"),
                                         "application/pdf")}, data={"change": "minor", "change_summary": "fix"})
    assert upload.status_code == 201 and upload.json()["state"] == "draft"
    assert writer.get(f"/api/v1/documents/{number}/revisions/1.1/signatures", headers=wh).json() == []
    old = writer.get(f"/api/v1/documents/{number}/revisions/1.0/signatures", headers=wh).json()
    assert [s["meaning"] for s in old] == ["Reviewed", "Approved", "QA Approved"]
    # the signed version's bytes cannot change: there is no route to replace them, and the blob is write-once
    for method in ("PUT", "PATCH", "DELETE"):
        assert writer.request(method, f"/api/v1/documents/{number}/revisions/1.0", headers=wh).status_code == 405
    # the exported copy carries the signature metadata (manifest hash per signature)
    copy = writer.get(f"/api/v1/documents/{number}/revisions/1.0/controlled-copy", headers=wh)
    last = " ".join(PdfReader(io.BytesIO(copy.content)).pages[-1].extract_text().split())
    assert last.count("manifest SHA-256") == 3, last


@pytest.mark.req("P11-70")
def test_batch_verification_agrees_with_the_full_check_and_catches_a_moved_signature(team):
    env = team
    first, second = draft(env), draft(env, "Second SOP")
    for number in (first, second):
        submit(env, number)
        sign(env, "rev")
    with env.db.read() as s:
        ids = list(s.scalars(select(SignatureRow.id)))
        many = signature_check.verify_many(s, ids)
        assert all(many[i].ok == signature_check.verify(s, env.app.state.docctl.blobs, i).ok is True for i in ids)
    if env.db.dialect != "sqlite":
        return
    # move the first signature onto the other revision, behind the application's back: both checks refuse it
    with env.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER signatures_no_update")
        rows = conn.exec_driver_sql("SELECT id, revision_id FROM signatures").fetchall()
        conn.exec_driver_sql("UPDATE signatures SET revision_id = ? WHERE id = ?", (rows[1][1], rows[0][0]))
    with env.db.read() as s:
        moved = uuid.UUID(hex=rows[0][0]) if isinstance(rows[0][0], str) else rows[0][0]
        assert not signature_check.verify_many(s, [moved])[moved].ok
        assert not signature_check.verify(s, None, moved).ok
