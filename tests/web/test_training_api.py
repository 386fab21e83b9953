"""The training JSON API (issue 5): job functions, holders and requirements, the HR file, assignments, opening a
revision, read and understood, offline training, and the reports, through HTTP on a real database."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from docctl.db.models import Signature, TrainingAssignment, TrainingRecord
from docctl.services import accounts, notifications, system
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready, sign_all
from tests.web.audit_helpers import actions_since, events_since, last_seq
from tests.web.conftest import STRONG, api_token

RU = "Read and understood"


# --- driving the API as named people ----------------------------------------------------------------------------


class Api:
    """Requests as a named person, each with a fresh bearer token (the clock moves in these tests)."""

    def __init__(self, env) -> None:  # type: ignore[no-untyped-def]
        self.env = env
        self.n = 0

    def call(self, who: str, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        client = self.env.client()
        headers = {**api_token(client, who), **kw.pop("headers", {})}
        return client.request(method, path, headers=headers, **kw)

    def get(self, who: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.call(who, "GET", path, **kw)

    def post(self, who: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.call(who, "POST", path, **kw)

    def ok(self, response, status: int = 200):  # type: ignore[no-untyped-def]
        assert response.status_code == status, response.text
        return response.json()

    # documents, through the documents and approvals API and the real signing services

    def upload(self, number: str, change: str = "major") -> str:
        self.n += 1
        return self.ok(self.post("writer", f"/api/v1/documents/{number}/revisions",
                                 files={"file": ("a.pdf", make_pdf(1, words=f"content {self.n}"), "application/pdf")},
                                 data={"change": change, "change_summary": f"change {self.n}"}), 201)["version"]

    def publish(self, number: str, version: str, **submit: object) -> None:
        """Submit and sign every stage: effective now, or approved when the effective date is later."""
        self.ok(self.post("writer", f"/api/v1/documents/{number}/revisions/{version}/submit",
                          json={k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in submit.items()}))
        sign_all(self.env.db, self.env.config, number, version, at=self.env.clock.now())

    def document(self, title: str = "Monitoring visits", department: str = "CLIN") -> str:
        return self.ok(self.post("writer", "/api/v1/documents",
                                 json={"type": "SOP", "title": title, "department": department}), 201)["number"]

    def effective_sop(self, title: str = "Monitoring visits") -> str:
        number = self.document(title)
        self.publish(number, self.upload(number))
        return number

    def revision(self, number: str, version: str) -> dict:
        return self.ok(self.get("insp", f"/api/v1/documents/{number}/revisions/{version}"))

    # training

    def function(self, code: str, *requires: str, holders: tuple[str, ...] = ()) -> None:
        self.ok(self.post("dc", "/api/v1/training/functions", json={"code": code, "name": f"{code} staff"}), 201)
        for number in requires:
            self.ok(self.post("dc", f"/api/v1/training/functions/{code}/requirements",
                              json={"document": number, "reason": "the function uses it"}), 201)
        for who in holders:
            self.grant(code, who)

    def grant(self, code: str, who: str) -> dict:
        return self.ok(self.post("dc", f"/api/v1/training/functions/{code}/holders",
                                 json={"username": who, "reason": "joined the team"}), 201)

    def tasks(self, who: str) -> list[dict]:
        return self.ok(self.get(who, "/api/v1/training/tasks"))

    def task(self, who: str, number: str, version: str | None = None) -> dict:
        found = [t for t in self.tasks(who) if t["document"] == number and version in (None, t["version"])]
        assert len(found) == 1, self.tasks(who)
        return found[0]

    def assignment(self, who: str, aid: str) -> dict:
        return self.ok(self.get(who, f"/api/v1/training/assignments/{aid}"))

    def open_(self, who: str, aid: str):  # type: ignore[no-untyped-def]
        return self.get(who, f"/api/v1/training/assignments/{aid}/content")

    def acknowledge(self, who: str, aid: str, *, password: str = STRONG, username: str | None = None,
                    **extra: object):  # type: ignore[no-untyped-def]
        return self.post(who, f"/api/v1/training/assignments/{aid}/acknowledge",
                         json={"username": username or who, "password": password, "meaning": RU, **extra})

    def read_and_sign(self, who: str, number: str, version: str | None = None) -> dict:
        aid = self.task(who, number, version)["id"]
        assert self.open_(who, aid).status_code == 200
        return self.ok(self.acknowledge(who, aid), 201)


@pytest.fixture
def world(any_env):
    env = any_env
    env.user("writer", "author")
    env.user("dc", "document_control")
    env.user("insp", "inspector")
    env.user("root", "admin")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa"), ("ann", "staff"),
                       ("bob", "staff"), ("trainer", "qa")):
        make_ready(env.db, env.config, env.user(name, role, full_name=f"{name.title()} Person").id,
                   at=env.clock.now())
    return Api(env)


@pytest.fixture
def sqlite_world(env):
    """The same people on SQLite alone, for the tests that need no second database."""
    env.user("writer", "author")
    env.user("dc", "document_control")
    env.user("insp", "inspector")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa"), ("ann", "staff"),
                       ("bob", "staff"), ("trainer", "qa")):
        make_ready(env.db, env.config, env.user(name, role, full_name=f"{name.title()} Person").id,
                   at=env.clock.now())
    return Api(env)


def signatures_on(env, aid: str) -> list[Signature]:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        return list(s.scalars(select(Signature).where(Signature.assignment_id == uuid.UUID(aid))))


def records_on(env, aid: str) -> list[TrainingRecord]:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        return list(s.scalars(select(TrainingRecord).where(TrainingRecord.assignment_id == uuid.UUID(aid))))


# --- TR-RU: read and understood ---------------------------------------------------------------------------------


@pytest.mark.req("TR-RU", "DI-ALCOA")
def test_viewing_completes_nothing_and_read_and_understood_is_a_signature_bound_to_the_version(world):
    api, env = world, world.env
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann", "bob"))
    task = api.task("ann", number)
    assert task["meaning"] == RU and task["version"] == "1.0" and not task["opened"]
    aid = task["id"]

    # signing before opening the document is refused: the person must see what they sign
    early = api.acknowledge("ann", aid)
    assert early.status_code == 409 and "Open the document" in early.json()["error"]["message"]

    start = last_seq(env.db)
    opened = api.open_("ann", aid)
    assert opened.status_code == 200 and opened.headers["content-type"] == "application/pdf"
    revision = api.revision(number, "1.0")
    assert opened.headers["x-content-sha256"] == revision["rendition_sha256"]
    assert hashlib.sha256(opened.content).hexdigest() == revision["rendition_sha256"]
    view = [e for e in events_since(env.db, start) if e["action"] == "training:view"]
    assert len(view) == 1 and view[0]["subject"]["id"] == aid and view[0]["actor"]["username"] == "ann"
    assert view[0]["after"]["content_sha256"] == revision["content_sha256"]
    # ... and creates no acknowledgement
    assert signatures_on(env, aid) == [] and records_on(env, aid) == []
    after_view = api.assignment("ann", aid)
    assert after_view["state"] == "open" and after_view["opened_at"] and after_view["records"] == []
    assert "training:complete" not in actions_since(env.db, start)

    # no password: refused before anything happens
    assert api.post("ann", f"/api/v1/training/assignments/{aid}/acknowledge",
                    json={"username": "ann", "meaning": RU}).status_code == 422
    # a wrong password: 401, recorded, counting towards lockout
    start = last_seq(env.db)
    wrong = api.acknowledge("ann", aid, password="not-my-password")
    assert wrong.status_code == 401
    failed = [e for e in events_since(env.db, start) if e["action"] == "signature:failed"]
    assert len(failed) == 1 and failed[0]["after"]["failed_attempts"] == 1
    # another person's user ID with their own right password: still not ann's signature
    assert api.acknowledge("ann", aid, username="bob").status_code == 401
    # the wrong meaning
    wrong_meaning = api.post("ann", f"/api/v1/training/assignments/{aid}/acknowledge",
                             json={"username": "ann", "password": STRONG, "meaning": "Approved"})
    assert wrong_meaning.status_code == 422 and RU in wrong_meaning.json()["error"]["message"]
    # nobody acknowledges for someone else, even with their own credentials
    assert api.acknowledge("bob", aid).status_code == 403
    assert api.open_("bob", aid).status_code == 403
    assert signatures_on(env, aid) == []

    # the signature: server time, whatever the client says (DI-ALCOA)
    env.clock.advance(timedelta(minutes=7))
    start = last_seq(env.db)
    signed = api.acknowledge("ann", aid, signed_at="2020-01-01T00:00:00Z", signedAt="2020-01-01T00:00:00Z",
                             performed_at="2020-01-01T00:00:00Z")
    assert signed.status_code == 201, signed.text
    body = signed.json()
    assert body["meaning"] == RU and body["printed_name"] == "Ann Person"
    assert body["signed_at"] == env.clock.now().isoformat()
    assert body["assignment"]["state"] == "completed"
    [sig] = signatures_on(env, aid)
    assert sig.id.hex == body["id"].replace("-", "") and sig.signed_at == env.clock.now()
    manifest = json.loads(sig.manifest)
    assert manifest["revision"]["content_sha256"] == revision["content_sha256"]
    assert manifest["revision"]["version"] == "1.0" and manifest["meaning"] == RU
    assert manifest["signer"]["username"] == "ann" and manifest["task_id"] == aid
    assert manifest["signed_at"].startswith(env.clock.now().strftime("%Y-%m-%dT%H:%M:%S"))
    assert hashlib.sha256(sig.manifest).hexdigest() == body["manifest_sha256"]
    [record] = records_on(env, aid)
    assert (record.method, record.result, record.version) == ("read_and_understood", "completed", "1.0")
    assert record.performed_at == record.recorded_at == env.clock.now() and record.signature_id == sig.id
    assert [a for a in actions_since(env.db, start) if a != "token:issue"] == ["signature:create",
                                                                            "training:complete"]
    # the signature verifies like any other
    check = api.ok(api.get("insp", f"/api/v1/signatures/{body['id']}"))
    assert check["verification"]["valid"] is True
    # and once done, done: a second acknowledgement is a clear conflict
    again = api.acknowledge("ann", aid)
    assert again.status_code == 409 and "already completed" in again.json()["error"]["message"]
    assert len(signatures_on(env, aid)) == 1
    assert api.tasks("ann") == []


@pytest.mark.req("TR-RU", "TR-MATRIX")
def test_a_superseded_assignment_cannot_be_acknowledged_and_points_to_the_new_one(world):
    api = world
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann", "bob"))
    old = api.task("ann", number)["id"]
    assert api.open_("ann", old).status_code == 200
    api.read_and_sign("bob", number)

    api.publish(number, api.upload(number))  # 2.0 effective, 1.0 superseded

    refused = api.acknowledge("ann", old)
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "Version 1.0 was superseded" in message and "new version" in message
    closed = api.assignment("ann", old)
    assert closed["state"] == "superseded" and closed["close_reason"] == "superseded by version 2.0"
    new = api.task("ann", number)
    assert new["version"] == "2.0" and closed["superseded_by"] == new["id"]
    # every holder, also the one trained on 1.0, must read 2.0
    assert api.task("bob", number)["version"] == "2.0"
    assert signatures_on(api.env, old) == []


@pytest.mark.req("TR-RU", "TR-MATRIX")
def test_a_draft_is_never_assigned(world):
    api = world
    number = api.document("Only a draft")
    api.upload(number)
    api.function("CRA", number, holders=("ann",))
    assert api.tasks("ann") == []
    m = api.ok(api.get("dc", "/api/v1/training/matrix"))
    [row] = m["rows"]
    assert [c["status"] for c in row["cells"]] == ["no_version"] and m["columns"][0]["version_in_force"] is None
    # a new draft of a document in force is not assigned either: only the effective version is
    effective = api.effective_sop("In force")
    api.upload(effective)
    api.ok(api.post("dc", "/api/v1/training/functions/CRA/requirements",
                    json={"document": effective, "reason": "also needed"}), 201)
    assert [(t["document"], t["version"]) for t in api.tasks("ann")] == [(effective, "1.0")]


# --- TR-MATRIX ---------------------------------------------------------------------------------------------------


@pytest.mark.req("TR-MATRIX")
def test_granting_a_function_assigns_and_publishing_v2_assigns_every_holder(world):
    api, env = world, world.env
    first, second = api.effective_sop("First"), api.effective_sop("Second")
    api.function("CRA", first, second)
    start = last_seq(env.db)
    granted = api.grant("CRA", "ann")
    assert granted["function"] == "CRA" and len(granted["open_assignments"]) == 2
    tasks = api.tasks("ann")
    assert sorted(t["document"] for t in tasks) == sorted([first, second])
    assert {t["due_at"] for t in tasks} == {(env.clock.now() + timedelta(days=14)).isoformat()}
    assigned = [e for e in events_since(env.db, start) if e["action"] == "training:assign"]
    assert sorted(e["subject"]["id"] for e in assigned) == sorted(t["id"] for t in tasks)
    api.grant("CRA", "bob")
    api.read_and_sign("bob", first)
    twice = api.post("dc", "/api/v1/training/functions/CRA/holders", json={"username": "bob", "reason": "again"})
    assert twice.status_code == 409 and "already holds" in twice.json()["error"]["message"]

    detail = api.ok(api.get("insp", "/api/v1/training/functions/CRA"))
    assert [h["username"] for h in detail["holders"]] == ["ann", "bob"]
    assert sorted(r["document"] for r in detail["requirements"]) == sorted([first, second])

    v1_ann = api.task("ann", first)["id"]
    start = last_seq(env.db)
    api.publish(first, api.upload(first))
    made = [e for e in events_since(env.db, start) if e["action"] == "training:assign"]
    assert len(made) == 2 and all(e["after"]["revision"] for e in made)
    for who in ("ann", "bob"):
        assert api.task(who, first)["version"] == "2.0"
    superseded = [e for e in events_since(env.db, start) if e["action"] == "training:supersede"]
    assert [e["subject"]["id"] for e in superseded] == [v1_ann]  # bob's 1.0 was complete: it stays complete
    mine = api.ok(api.get("bob", "/api/v1/training/assignments?state=completed"))
    assert [(a["document"], a["version"]) for a in mine] == [(first, "1.0")]

    m = api.ok(api.get("dc", "/api/v1/training/matrix?function=CRA"))
    assert m["total"] == 2 and [(c["document"], c["version_in_force"]) for c in m["columns"]] == [
        (first, "2.0"), (second, "1.0")]
    cells = {(row["username"], c["document"]): c for row in m["rows"] for c in row["cells"]}
    assert cells[("bob", first)]["status"] == "due" and cells[("bob", first)]["version"] == "2.0"
    assert cells[("ann", second)]["assignment_id"] == api.task("ann", second)["id"]

    # revoking cancels what nothing else requires, with an audit entry per assignment
    start = last_seq(env.db)
    revoked = api.ok(api.post("dc", "/api/v1/training/functions/CRA/holders/ann/revoke", json={"reason": "left"}))
    assert revoked["revoked_at"] and revoked["open_assignments"] == []
    cancelled = [e for e in events_since(env.db, start) if e["action"] == "training:cancel"]
    assert len(cancelled) == 2 and all(e["reason"] == "job function CRA revoked" for e in cancelled)


@pytest.mark.req("TR-MATRIX")
def test_a_minor_revision_without_retraining_keeps_completions(world):
    api = world
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann", "bob"))
    api.read_and_sign("ann", number)
    minor = api.upload(number, change="minor")
    assert minor == "1.1"
    api.publish(number, minor, training_required=False)

    assert api.tasks("ann") == []  # carried over, nothing to read
    [carried] = [a for a in api.ok(api.get("ann", "/api/v1/training/assignments?state=completed"))
                 if a["version"] == "1.1"]
    assert (carried["version"], carried["state"], carried["status"]) == ("1.1", "completed", "complete")
    detail = api.assignment("ann", carried["id"])
    [record] = detail["records"]
    assert record["method"] == "carried_over" and record["version"] == "1.0" and record["signature"]["meaning"] == RU
    # bob had not read 1.0: he must read 1.1
    assert api.task("bob", number)["version"] == "1.1"
    m = api.ok(api.get("insp", "/api/v1/training/matrix"))
    cells = {row["username"]: row["cells"][0] for row in m["rows"]}
    assert cells["ann"]["status"] == "complete" and cells["ann"]["version"] == "1.0"
    assert cells["bob"]["status"] == "due" and m["columns"][0]["version_in_force"] == "1.1"
    # a major revision cannot skip retraining
    major = api.upload(number)
    refused = api.post("writer", f"/api/v1/documents/{number}/revisions/{major}/submit",
                       json={"training_required": False})
    assert refused.status_code == 422


@pytest.mark.req("TR-MATRIX")
def test_train_before_effective_assigns_at_approval_due_on_the_effective_date(world):
    api, env = world, world.env
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann",))
    api.read_and_sign("ann", number)
    when = env.clock.now() + timedelta(days=10)
    v2 = api.upload(number)
    api.publish(number, v2, effective_at=when, train_before_effective=True)
    assert api.revision(number, v2)["state"] == "approved"
    task = api.task("ann", number)
    assert task["version"] == "2.0" and task["due_at"] == when.isoformat()
    # the approved version can be read and signed before it takes effect
    api.read_and_sign("ann", number)
    env.clock.set(when + timedelta(minutes=1))
    with env.db.unit_of_work() as s:
        system.tick(s, env.settings, env.config, at=env.clock.now())
    assert api.revision(number, v2)["state"] == "effective"
    assert api.tasks("ann") == []
    m = api.ok(api.get("insp", "/api/v1/training/matrix"))
    assert m["rows"][0]["cells"][0]["status"] == "complete" and m["rows"][0]["cells"][0]["version"] == "2.0"


@pytest.mark.req("TR-MATRIX")
def test_the_scheduler_marks_training_overdue_and_tells_the_person(world):
    api, env = world, world.env
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann", "bob"))
    api.read_and_sign("bob", number)
    aid = api.task("ann", number)["id"]
    env.clock.advance(timedelta(days=12))  # within 3 days of due: a reminder
    with env.db.unit_of_work() as s:
        report = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert (report.training_reminded, report.training_overdue) == (1, 0)
    env.clock.advance(timedelta(days=3))
    start = last_seq(env.db)
    with env.db.unit_of_work() as s:
        report = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert report.training_overdue == 1
    [event] = [e for e in events_since(env.db, start) if e["action"] == "training:overdue"]
    assert event["subject"]["id"] == aid
    with env.db.read() as s:
        ann = accounts.find_user(s, "ann")
        kinds = [n.kind for n in notifications.unread_for(s, ann.id)]
    assert "training.overdue" in kinds and "training.reminder" in kinds
    assert api.assignment("ann", aid)["overdue_at"] == env.clock.now().isoformat()
    assert api.task("ann", number)["status"] == "overdue"
    [late] = api.ok(api.get("qa1", "/api/v1/training/overdue"))
    assert (late["username"], late["document"], late["days_overdue"]) == ("ann", number, 1)
    assert late["assignment_id"] == aid
    with env.db.unit_of_work() as s:  # only once
        assert system.tick(s, env.settings, env.config, at=env.clock.now()).training_overdue == 0
    compliance = api.ok(api.get("insp", "/api/v1/training/compliance"))
    assert compliance["overall"]["required"] == 2 and compliance["overall"]["complete"] == 1
    assert compliance["overall"]["overdue"] == 1 and compliance["overall"]["percent"] == 50
    assert [c["key"] for c in compliance["by_function"]] == ["CRA"]
    # people without training.read see neither the reports nor other people's training
    for path in ("/api/v1/training/overdue", "/api/v1/training/compliance", "/api/v1/training/matrix",
                 "/api/v1/training/functions"):
        assert api.get("ann", path).status_code == 403, path
    assert api.get("bob", "/api/v1/training/assignments?user=ann").status_code == 403
    assert api.get("bob", f"/api/v1/training/assignments/{aid}").status_code == 403
    assert [a["id"] for a in api.ok(api.get("insp", "/api/v1/training/assignments?user=ann"))] == [aid]


# --- functions and requirements ---------------------------------------------------------------------------------


def test_functions_and_requirements_are_managed_with_reasons_and_clear_errors(sqlite_world):
    api, env = sqlite_world, sqlite_world.env
    number = api.effective_sop()
    made = api.ok(api.post("dc", "/api/v1/training/functions",
                           json={"code": "dm", "name": "Data manager", "description": "Clinical data"}), 201)
    assert made["code"] == "DM" and made["active"] is True
    assert api.post("dc", "/api/v1/training/functions", json={"code": "DM", "name": "x"}).status_code == 409
    assert api.post("dc", "/api/v1/training/functions", json={"code": "1", "name": "x"}).status_code == 422
    assert api.post("dc", "/api/v1/training/functions",
                    json={"code": "QQ", "name": "x", "extra": 1}).status_code == 422
    assert api.post("ann", "/api/v1/training/functions", json={"code": "QQ", "name": "x"}).status_code == 403
    assert api.get("dc", "/api/v1/training/functions/NOPE").status_code == 404

    no_reason = api.post("dc", "/api/v1/training/functions/DM/requirements", json={"document": number})
    assert no_reason.status_code == 422
    both = api.post("dc", "/api/v1/training/functions/DM/requirements",
                    json={"document": number, "type": "SOP", "reason": "r"})
    assert both.status_code == 422
    unknown = api.post("dc", "/api/v1/training/functions/DM/requirements",
                       json={"document": "SOP-XX-999", "reason": "r"})
    assert unknown.status_code == 404
    by_type = api.ok(api.post("dc", "/api/v1/training/functions/DM/requirements",
                              json={"type": "SOP", "department": "clin", "reason": "all clinical SOPs"}), 201)
    assert by_type["type"] == "SOP" and by_type["department"] == "CLIN" and by_type["label"] == "every SOP in CLIN"
    api.grant("DM", "ann")
    assert api.task("ann", number)["version"] == "1.0"

    start = last_seq(env.db)
    removed = api.ok(api.post("dc", f"/api/v1/training/requirements/{by_type['id']}/remove",
                              json={"reason": "not needed after all"}))
    assert removed["removed_at"] and removed["remove_reason"] == "not needed after all"
    assert api.tasks("ann") == []
    actions = actions_since(env.db, start)
    assert "training_requirement:remove" in actions and "training:cancel" in actions
    again = api.post("dc", f"/api/v1/training/requirements/{by_type['id']}/remove", json={"reason": "r"})
    assert again.status_code == 404

    updated = api.ok(api.post("dc", "/api/v1/training/functions/DM",
                              json={"description": "Data management", "reason": "clarified"}))
    assert updated["name"] == "Data manager" and updated["description"] == "Data management"
    assert api.post("dc", "/api/v1/training/functions/DM", json={"active": False}).status_code == 422
    off = api.ok(api.post("dc", "/api/v1/training/functions/DM", json={"active": False, "reason": "merged"}))
    assert off["active"] is False
    inactive = api.post("dc", "/api/v1/training/functions/DM/holders", json={"username": "bob", "reason": "r"})
    assert inactive.status_code == 409 and "inactive" in inactive.json()["error"]["message"]
    ghost = api.post("dc", "/api/v1/training/functions/DM/holders", json={"username": "ghost", "reason": "r"})
    assert ghost.status_code == 404
    listed = api.ok(api.get("insp", "/api/v1/training/functions"))
    assert [(f["code"], f["holders_count"]) for f in listed] == [("DM", 1)]


# --- the HR file --------------------------------------------------------------------------------------------------


def _import(api: Api, body: bytes, query: str = "", content_type: str = "text/csv"):  # type: ignore[no-untyped-def]
    return api.post("dc", f"/api/v1/training/functions/import{query}", content=body,
                    headers={"Content-Type": content_type})


def _grants(env) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from docctl.services import training

    with env.db.read() as s:
        return sorted((u.username, f.code) for f in training.list_functions(s) for _, u in training.holders(s, f.id))


def test_the_hr_file_is_checked_row_by_row_and_applied_all_or_valid(sqlite_world):
    api, env = sqlite_world, sqlite_world.env
    number = api.effective_sop()
    api.function("CRA", number)
    api.function("DM")
    api.grant("DM", "bob")
    mixed = (b"username,function,action,reason\r\n"
             b"ann,cra,grant,joined\r\n"
             b"ghost,CRA,grant,\r\n"
             b"ann,NOPE,grant,\r\n"
             b"ANN,CRA,grant,twice\r\n"
             b"bob,DM,revoke,moved\r\n"
             b"bob,CRA,promote,\r\n"
             b"writer,CRA\r\n")

    start = last_seq(env.db)
    dry = api.ok(_import(api, mixed))
    assert dry["applied"] is False and dry["problem"] is None
    by_line = {r["line"]: r for r in dry["rows"]}
    assert by_line[2]["outcome"] == "grant" and by_line[2]["problem"] is None
    assert by_line[3]["problem"] == "unknown user 'ghost'"
    assert by_line[4]["problem"] == "unknown job function 'NOPE'"
    assert by_line[5]["problem"] == "duplicate of line 2"
    assert by_line[6]["outcome"] == "revoke"
    assert "grant or revoke" in by_line[7]["problem"]
    assert "values where the header has" in by_line[8]["problem"]
    assert dry["counts"]["rejected"] == 5 and dry["counts"]["grant"] == 1 and dry["counts"]["revoke"] == 1

    all_or_nothing = _import(api, mixed, "?apply=all&reason=HR%20feed")
    assert all_or_nothing.status_code == 422
    error = all_or_nothing.json()["error"]
    assert "5 of 7 rows are rejected" in error["message"] and error["details"]["applied"] is False
    assert len(error["details"]["rows"]) == 7
    assert _grants(env) == [("bob", "DM")]
    assert [a for a in actions_since(env.db, start) if a != "token:issue"] == []  # nothing changed

    assert _import(api, mixed, "?apply=valid").status_code == 422  # a reason is required to apply
    applied = api.ok(_import(api, mixed, "?apply=valid&reason=HR%20feed&filename=hr-2026-11.csv"))
    assert applied["applied"] is True
    assert _grants(env) == [("ann", "CRA")]
    actions = [a for a in actions_since(env.db, start) if a != "token:issue"]
    assert actions.count("job_function:grant") == 1 and actions.count("job_function:revoke") == 1
    assert actions[-1] == "job_function:import"
    [imported] = [e for e in events_since(env.db, start) if e["action"] == "job_function:import"]
    assert imported["subject"]["label"] == "hr-2026-11.csv" and imported["after"]["rejected_lines"] == [3, 4, 5, 7, 8]
    assert imported["after"]["sha256"] == hashlib.sha256(mixed).hexdigest()
    assert api.task("ann", number)["version"] == "1.0"  # the grant assigned the training

    clean = b"username,function\nbob,CRA\n"
    applied = api.ok(api.post("dc", "/api/v1/training/functions/import?apply=all&reason=HR",
                              files={"file": ("hr.csv", clean, "text/csv")}))
    assert applied["applied"] is True and applied["counts"]["grant"] == 1
    assert ("bob", "CRA") in _grants(env)


@pytest.mark.parametrize("body, problem", [
    ("username,function\nann,CRA\nrené,CRA\n".encode("utf-16"), "not UTF-8"),
    ("username,function\nann,CRA\nrené,CRA\n".encode("latin-1"), "not UTF-8 text (line 3"),
    (b"user,role\nann,CRA\n", "The columns are wrong (missing username, function; unknown 'user', 'role')"),
    (b"username,function\n", "no rows"),
    (b"", "empty"),
])
def test_a_broken_hr_file_is_refused_whole_and_changes_nothing(sqlite_world, body, problem):
    api, env = sqlite_world, sqlite_world.env
    api.function("CRA")
    dry = api.ok(_import(api, body))
    assert problem in dry["problem"] and dry["applied"] is False and dry["rows"] == []
    start = last_seq(env.db)
    for apply in ("all", "valid"):
        refused = _import(api, body, f"?apply={apply}&reason=HR")
        assert refused.status_code == 422
        assert problem in refused.json()["error"]["message"]
    assert [a for a in actions_since(env.db, start) if a != "token:issue"] == []
    assert _grants(env) == []


def test_the_hr_file_upload_is_checked_for_its_type_and_permission(sqlite_world):
    api = sqlite_world
    assert _import(api, b'{"username": "ann"}', content_type="application/json").status_code == 415
    assert api.post("dc", "/api/v1/training/functions/import", files={"other": ("a.csv", b"x")}).status_code == 422
    assert api.post("ann", "/api/v1/training/functions/import", content=b"username,function\n",
                    headers={"Content-Type": "text/csv"}).status_code == 403
    assert api.get("dc", "/api/v1/training/functions/import").status_code == 404  # no function IMPORT


# --- offline training (DI-ALCOA, ISO-6.2c) ------------------------------------------------------------------------


@pytest.mark.req("DI-ALCOA", "ISO-6.2c", "ISO-6.2e")
def test_offline_training_keeps_the_day_performed_and_the_real_time_of_entry(world):
    api, env = world, world.env
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann",))
    aid = api.task("ann", number)["id"]
    env.clock.advance(timedelta(days=2))
    today = env.clock.now().date()
    body = {"username": "trainer", "password": STRONG, "performed_on": today.isoformat(), "result": "failed",
            "note": "quiz 6/10"}

    future = api.post("trainer", f"/api/v1/training/assignments/{aid}/offline",
                      json={**body, "performed_on": (today + timedelta(days=1)).isoformat()})
    assert future.status_code == 422 and "future" in future.json()["error"]["message"]
    before_approval = api.post("trainer", f"/api/v1/training/assignments/{aid}/offline",
                               json={**body, "performed_on": (today - timedelta(days=30)).isoformat()})
    assert before_approval.status_code == 422
    assert api.post("trainer", f"/api/v1/training/assignments/{aid}/offline",
                    json={**body, "recorded_at": "2020-01-01T00:00:00Z"}).status_code == 422  # no client times
    assert api.post("ann", f"/api/v1/training/assignments/{aid}/offline",
                    json={**body, "username": "ann"}).status_code == 403  # staff are not trainers
    assert api.post("trainer", f"/api/v1/training/assignments/{aid}/offline",
                    json={**body, "password": "wrong"}).status_code == 401

    # a failed assessment is recorded and leaves the assignment open (ISO-6.2c)
    failed = api.ok(api.post("trainer", f"/api/v1/training/assignments/{aid}/offline", json=body), 201)
    assert failed["result"] == "failed" and failed["assignment"]["state"] == "open" and failed["note"] == "quiz 6/10"
    assert failed["signature"]["meaning"].startswith("Trainer sign-off") and "result failed" in \
        failed["signature"]["meaning"]
    assert api.task("ann", number)["id"] == aid

    env.clock.advance(timedelta(hours=3))
    yesterday = (env.clock.now() - timedelta(days=1)).date()
    passed = api.ok(api.post("trainer", f"/api/v1/training/assignments/{aid}/offline",
                             json={**body, "performed_on": yesterday.isoformat(), "result": "passed", "note": ""}),
                    201)
    assert passed["performed_on"] == yesterday.isoformat()
    assert passed["recorded_at"] == env.clock.now().isoformat()  # the real entry time, beside the day performed
    assert passed["trainer"]["username"] == "trainer" and passed["assignment"]["state"] == "completed"
    records = {r.result: r for r in records_on(env, aid)}
    assert records["passed"].performed_on == yesterday and records["passed"].recorded_at == env.clock.now()
    assert records["failed"].method == records["passed"].method == "offline"
    detail = api.assignment("ann", aid)
    assert [r["result"] for r in detail["records"]] == ["failed", "passed"]
    assert api.post("trainer", f"/api/v1/training/assignments/{aid}/offline", json=body).status_code == 409


# --- ISO-6.2e: records are append-only; changes to assignments are audited --------------------------------------


@pytest.mark.req("ISO-6.2e")
@pytest.mark.parametrize("statement", [
    "DELETE FROM training_records",
    "UPDATE training_records SET result = 'passed'",
    "UPDATE training_records SET performed_at = recorded_at",
])
def test_a_training_record_cannot_be_deleted_or_changed(world, statement):
    api, env = world, world.env
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann",))
    aid = api.read_and_sign("ann", number)["assignment"]["id"]
    with pytest.raises(DBAPIError) as caught, env.db.unit_of_work() as s:
        s.execute(text(statement))
    message = str(caught.value.orig).lower()
    # SQLite and the PostgreSQL owner: the trigger; the PostgreSQL app role has no UPDATE/DELETE right at all
    assert "append-only" in message or "permission denied" in message
    [record] = records_on(env, aid)
    assert record.result == "completed" and record.method == "read_and_understood"


@pytest.mark.req("ISO-6.2e")
def test_every_change_to_an_assignment_leaves_an_audit_entry(world):
    api, env = world, world.env
    number = api.effective_sop()
    start = last_seq(env.db)
    api.function("CRA", number, holders=("ann",))
    aid = api.task("ann", number)["id"]
    api.read_and_sign("ann", number)
    api.publish(number, api.upload(number))
    new = api.task("ann", number)["id"]
    api.ok(api.post("dc", "/api/v1/training/functions/CRA/holders/ann/revoke", json={"reason": "left"}))
    with env.db.read() as s:
        states = dict(s.execute(select(TrainingAssignment.id, TrainingAssignment.state)).all())
    assert sorted(states.values()) == ["cancelled", "completed"]
    about = {}
    for e in events_since(env.db, start):
        if e["subject"]["type"] == "training_assignment":
            about.setdefault(e["subject"]["id"], []).append(e["action"])
    assert about[aid] == ["training:assign", "training:view", "signature:create", "training:complete"]
    assert about[new] == ["training:assign", "training:cancel"]


# --- TR-PIT ------------------------------------------------------------------------------------------------------


@pytest.mark.req("TR-PIT")
def test_point_in_time_across_two_revisions(world):
    api, env = world, world.env
    t0 = env.clock.now()
    number = api.effective_sop()
    api.function("CRA", number, holders=("ann",))
    env.clock.advance(timedelta(days=1))
    t1 = env.clock.now()
    api.read_and_sign("ann", number)  # 1.0 read at t1
    env.clock.advance(timedelta(days=30))
    t2 = env.clock.now()
    api.publish(number, api.upload(number))  # 2.0 in force from t2
    env.clock.advance(timedelta(days=5))
    t3 = env.clock.now()
    api.read_and_sign("ann", number)  # 2.0 read at t3
    env.clock.advance(timedelta(days=1))

    def ask(at, who="insp", user="ann"):  # type: ignore[no-untyped-def]
        return api.get(who, "/api/v1/training/point-in-time", params={"user": user, "document": number,
                                                                      "at": at.isoformat()})

    before = api.ok(ask(t0 - timedelta(days=1)))
    assert before["version_in_force"] is None and before["trained"] is False
    not_yet = api.ok(ask(t1 - timedelta(hours=1)))
    assert (not_yet["version_in_force"], not_yet["trained"]) == ("1.0", False)
    assert "only later" in not_yet["explanation"] and not_yet["trained_on_version"] == "1.0"
    on_v1 = api.ok(ask(t1 + timedelta(days=10)))
    assert (on_v1["version_in_force"], on_v1["trained"], on_v1["trained_on_version"]) == ("1.0", True, "1.0")
    assert on_v1["signature"]["meaning"] == RU and on_v1["required_by"] == ["CRA"]
    gap = api.ok(ask(t2 + timedelta(days=1)))
    assert (gap["version_in_force"], gap["trained"], gap["trained_on_version"]) == ("2.0", False, "2.0")
    assert "only later" in gap["explanation"]
    on_v2 = api.ok(ask(t3 + timedelta(minutes=1)))
    assert (on_v2["version_in_force"], on_v2["trained"]) == ("2.0", True)
    assert on_v2["performed_at"].startswith(t3.strftime("%Y-%m-%dT%H:%M:%S"))
    # the same instant given with an offset, and a '+' that arrived unencoded (as a space)
    zoned = (t1 + timedelta(days=10)).astimezone(ZoneInfo("Europe/Berlin"))
    assert api.ok(ask(zoned))["trained"] is True
    spaced = api.get("insp", f"/api/v1/training/point-in-time?user=ann&document={number}&at="
                     + zoned.isoformat().replace("+", " "))
    assert api.ok(spaced)["trained"] is True
    # the person may ask about themselves; others need training.read
    assert api.ok(api.get("ann", "/api/v1/training/point-in-time",
                          params={"document": number, "at": on_v2["at"]}))["trained"] is True
    assert ask(t3, who="bob").status_code == 403
    for bad in ("2026-12-01T10:00:00", "2026-12-01", "yesterday", "2026-12-01 10:00"):
        refused = api.get("insp", "/api/v1/training/point-in-time",
                          params={"user": "ann", "document": number, "at": bad})
        assert refused.status_code == 422 and "zone" in refused.json()["error"]["message"], bad
    assert api.get("insp", "/api/v1/training/point-in-time",
                   params={"user": "ann", "document": number}).status_code == 422
    assert api.get("insp", "/api/v1/training/point-in-time",
                   params={"user": "ghost", "document": number, "at": t3.isoformat()}).status_code == 404
