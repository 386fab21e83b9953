"""Every state-changing route writes at least one audit event about the right subject (P11-10e.1).

A new POST/PUT/PATCH/DELETE route fails this test until it is added to the table below with a call that exercises
it, so no route can change data without leaving a trail.
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from docctl.services import approvals, documents, training
from docctl.services.principal import Principal
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, api_token, csrf_from, login, page_csrf
from tests.web.test_authz import _routes
from tests.web.test_training_pages import assignment_of, make_effective
from tests.web.test_training_pages import require as require_training

# State that is not GxP data: reading a notification only hides it from the in-app list.
EXEMPT = {("POST", "/notifications/{notification_id}/read")}
# Checking an HR file (the upload that shows the preview) reads and changes nothing; applying it is audited.
EXEMPT |= {("POST", "/training/functions/import")}


@pytest.mark.req("P11-10e.1")
def test_every_mutating_route_is_audited(env):
    admin_user = env.user("root", "admin")
    env.user("spare", "admin")

    calls_made: list[str] = []
    marks: list[int] = []

    def mark():
        marks.append(last_seq(env.db))

    def page_admin():
        client = login(env.client(), "root")
        return client, page_csrf(client)

    def fresh_user(name, *roles, own=True):
        return env.user(name, *roles, own=own)

    def api_admin():
        client = env.client()
        return client, api_token(client, "root")

    def do_login():
        target = fresh_user("u-login", "staff")
        client = env.client()
        page = client.get("/login")
        mark()
        client.post("/login", data={"username": "u-login", "password": STRONG,
                                    "csrf_token": csrf_from(page.text)})
        return str(target.id)

    def do_logout():
        target = fresh_user("u-logout", "staff")
        client = login(env.client(), "u-logout")
        csrf = page_csrf(client)
        mark()
        client.post("/logout", data={"csrf_token": csrf})
        return str(target.id)

    def do_password():
        target = fresh_user("u-pw", "staff", own=False)
        client = login(env.client(), "u-pw")
        csrf = page_csrf(client, "/account/password")
        mark()
        client.post("/account/password", data={"current_password": STRONG, "new_password": "Brand-New-Pass-99",
                                               "confirm_password": "Brand-New-Pass-99", "csrf_token": csrf})
        return str(target.id)

    def page_action(path, data, setup_roles=("staff",), locked=False):
        def run():
            target = fresh_user(f"u-{len(calls_made)}", *setup_roles)
            calls_made.append(path)
            if locked:
                for _ in range(env.settings.lockout_threshold):
                    c = env.client()
                    c.post("/login", data={"username": target.username, "password": "wrong",
                                           "csrf_token": csrf_from(c.get("/login").text)})
            client, csrf = page_admin()
            mark()
            client.post(path.replace("{user_id}", str(target.id)).replace("{role}", "staff"),
                        data={**data, "csrf_token": csrf})
            return str(target.id)
        return run

    def api_action(method, path, body, setup_roles=("staff",), locked=False):
        def run():
            target = fresh_user(f"a-{len(calls_made)}", *setup_roles)
            calls_made.append(path)
            if locked:
                for _ in range(env.settings.lockout_threshold):
                    env.client().post("/api/v1/auth/token", json={"username": target.username, "password": "no"})
            client, headers = api_admin()
            mark()
            client.request(method, path.replace("{user_id}", str(target.id)).replace("{role}", "staff"),
                           headers=headers, json=body)
            return str(target.id)
        return run

    def api_create():
        client, headers = api_admin()
        mark()
        response = client.post("/api/v1/users", headers=headers, json={"username": "api-made", "full_name": "A M"})
        return response.json()["id"]

    def page_create():
        client, csrf = page_admin()
        mark()
        client.post("/admin/users", data={"username": "page-made", "full_name": "P M", "csrf_token": csrf})
        return None

    def token_issue():
        target = fresh_user("u-token", "staff")
        mark()
        api_token(env.client(), "u-token")
        return str(target.id)

    def token_revoke():
        target = fresh_user("u-revoke", "staff")
        client = env.client()
        headers = api_token(client, "u-revoke")
        mark()
        client.delete("/api/v1/auth/token", headers=headers)
        return str(target.id)

    reason = {"reason": "audit coverage"}
    table = {
        ("POST", "/login"): do_login,
        ("POST", "/logout"): do_logout,
        ("POST", "/account/password"): do_password,
        ("POST", "/admin/users"): page_create,
        ("POST", "/admin/users/{user_id}/roles"): page_action("/admin/users/{user_id}/roles",
                                                              {**reason, "role": "author"}),
        ("POST", "/admin/users/{user_id}/roles/{role}/revoke"): page_action(
            "/admin/users/{user_id}/roles/{role}/revoke", reason),
        ("POST", "/admin/users/{user_id}/deactivate"): page_action("/admin/users/{user_id}/deactivate", reason),
        ("POST", "/admin/users/{user_id}/profile"): page_action("/admin/users/{user_id}/profile",
                                                                {**reason, "department": "CLIN", "time_zone": "UTC"}),
        ("POST", "/api/v1/users/{user_id}/profile"): api_action("POST", "/api/v1/users/{user_id}/profile",
                                                                {**reason, "department": "CLIN"}),
        ("POST", "/admin/users/{user_id}/reset-password"): page_action("/admin/users/{user_id}/reset-password",
                                                                       reason),
        ("POST", "/admin/users/{user_id}/unlock"): page_action("/admin/users/{user_id}/unlock", reason,
                                                               locked=True),
        ("POST", "/api/v1/auth/token"): token_issue,
        ("DELETE", "/api/v1/auth/token"): token_revoke,
        ("POST", "/api/v1/users"): api_create,
        ("POST", "/api/v1/users/{user_id}/roles"): api_action("POST", "/api/v1/users/{user_id}/roles",
                                                              {**reason, "role": "author"}),
        ("POST", "/api/v1/users/{user_id}/roles/{role}/revoke"): api_action(
            "POST", "/api/v1/users/{user_id}/roles/{role}/revoke", reason),
        ("POST", "/api/v1/users/{user_id}/deactivate"): api_action("POST", "/api/v1/users/{user_id}/deactivate",
                                                                   reason),
        ("POST", "/api/v1/users/{user_id}/reset-password"): api_action(
            "POST", "/api/v1/users/{user_id}/reset-password", reason),
        ("POST", "/api/v1/users/{user_id}/unlock"): api_action("POST", "/api/v1/users/{user_id}/unlock", reason,
                                                               locked=True),
    }
    env.user("dc", "document_control")
    counter = iter(range(1000))

    def a_document(kind="SOP"):
        client = env.client()
        headers = api_token(client, "dc")
        number = client.post("/api/v1/documents", headers=headers, json={
            "type": kind, "title": f"Doc {next(counter)}", "department": "QA"}).json()["number"]
        return client, headers, number

    def a_draft():
        client, headers, number = a_document()
        response = client.post(f"/api/v1/documents/{number}/revisions", headers=headers,
                               files={"file": ("a.pdf", make_pdf(1), "application/pdf")},
                               data={"change": "major", "change_summary": "first"})
        assert response.status_code == 201, response.text
        return client, headers, number

    def doc_id(number):
        with env.db.read() as s:
            return str(documents.get_document(s, number).id)

    def api_doc_create():
        client = env.client()
        headers = api_token(client, "dc")
        mark()
        return client.post("/api/v1/documents", headers=headers,
                           json={"type": "WI", "title": "Api made", "department": "QA"}).json()["id"]

    def api_doc_edit():
        client, headers, number = a_document()
        mark()
        client.patch(f"/api/v1/documents/{number}", headers=headers, json={"title": "Renamed", "reason": "r"})
        return doc_id(number)

    def api_upload():
        client, headers, number = a_document()
        mark()
        client.post(f"/api/v1/documents/{number}/revisions", headers=headers,
                    files={"file": ("a.pdf", make_pdf(1), "application/pdf")},
                    data={"change": "major", "change_summary": "first"})
        return None

    def api_withdraw():
        client, headers, number = a_draft()
        mark()
        client.post(f"/api/v1/documents/{number}/revisions/1.0/withdraw", headers=headers, json={"reason": "r"})
        return None

    def api_type_create():
        client = env.client()
        headers = api_token(client, "dc")
        mark()
        client.post("/api/v1/document-types", headers=headers,
                    json={"code": "TA", "name": "Type A", "numbering_pattern": "TA-{seq:03}"})
        return None

    def api_type_update():
        client = env.client()
        headers = api_token(client, "dc")
        mark()
        client.patch("/api/v1/document-types/FORM", headers=headers, json={"name": "Forms", "reason": "r"})
        return None

    def page_dc():
        client = login(env.client(), "dc")
        return client, page_csrf(client)

    def page_doc_create():
        client, csrf = page_dc()
        mark()
        client.post("/documents", data={"type": "SOP", "title": "Page made", "department": "QA", "csrf_token": csrf})
        return None

    def page_doc_edit():
        _, _, number = a_document()
        client, csrf = page_dc()
        mark()
        client.post(f"/documents/{number}/edit", data={"title": "Edited", "reason": "r", "csrf_token": csrf})
        return doc_id(number)

    def page_upload():
        _, _, number = a_document()
        client, csrf = page_dc()
        mark()
        client.post(f"/documents/{number}/revisions", data={"change": "major", "change_summary": "s",
                    "csrf_token": csrf}, files={"file": ("a.pdf", make_pdf(1), "application/pdf")})
        return None

    def page_withdraw():
        _, _, number = a_draft()
        client, csrf = page_dc()
        mark()
        client.post(f"/documents/{number}/revisions/1.0/withdraw", data={"reason": "r", "csrf_token": csrf})
        return None

    def page_type_create():
        client, csrf = page_dc()
        mark()
        client.post("/admin/document-types", data={"code": "TB", "name": "Type B", "numbering_pattern": "TB-{seq}",
                                                   "csrf_token": csrf})
        return None

    def page_type_update():
        client, csrf = page_dc()
        mark()
        client.post("/admin/document-types/WI", data={"name": "Work instructions", "numbering_pattern":
                    "WI-{dept}-{seq:03}", "review_interval_months": 24, "training_window_days": 14,
                    "training_required": "true", "active": "true", "reason": "r", "csrf_token": csrf})
        return None

    def verify_identity():
        target = fresh_user("u-ident", "staff")
        client, csrf = page_admin()
        mark()
        client.post(f"/admin/users/{target.id}/verify-identity", data={"evidence": "passport", "csrf_token": csrf})
        return str(target.id)

    def accept_statement():
        target = fresh_user("u-esig", "staff")
        client = login(env.client(), "u-esig")
        csrf = page_csrf(client, "/account/signature")
        mark()
        client.post("/account/signature", data={"agree": "true", "username": "u-esig", "password": STRONG,
                                                "csrf_token": csrf})
        return str(target.id)

    signers = {}
    for name, role in (("s-rev", "reviewer"), ("s-appr", "approver"), ("s-qa", "qa")):
        signers[role] = env.user(name, role)
        make_ready(env.db, env.config, signers[role].id, at=env.clock.now())

    def submitted():
        client, headers, number = a_draft()
        client.post(f"/api/v1/documents/{number}/revisions/1.0/submit", headers=headers, json={})
        with env.db.read() as s:
            task = approvals.open_tasks(s, signers["reviewer"].id)[-1][0]
        return number, task

    def api_submit():
        client, headers, number = a_draft()
        mark()
        client.post(f"/api/v1/documents/{number}/revisions/1.0/submit", headers=headers, json={})
        return None

    def api_recall():
        number, _ = submitted()
        client = env.client()
        headers = api_token(client, "dc")
        mark()
        client.post(f"/api/v1/documents/{number}/revisions/1.0/recall", headers=headers, json={"reason": "r"})
        return None

    def api_sign():
        _, task = submitted()
        client = env.client()
        headers = api_token(client, "s-rev")
        mark()
        client.post(f"/api/v1/tasks/{task.id}/sign", headers=headers,
                    json={"username": "s-rev", "password": STRONG, "meaning": task.meaning})
        return None

    def api_reject():
        _, task = submitted()
        client = env.client()
        headers = api_token(client, "s-rev")
        mark()
        client.post(f"/api/v1/tasks/{task.id}/reject", headers=headers,
                    json={"username": "s-rev", "password": STRONG, "reason": "no"})
        return None

    def page_sign():
        _, task = submitted()
        client = login(env.client(), "s-rev")
        csrf = page_csrf(client, f"/tasks/{task.id}")
        mark()
        client.post(f"/tasks/{task.id}/sign", data={"username": "s-rev", "password": STRONG,
                                                    "meaning": task.meaning, "csrf_token": csrf})
        return None

    def page_reject():
        _, task = submitted()
        client = login(env.client(), "s-rev")
        csrf = page_csrf(client, f"/tasks/{task.id}")
        mark()
        client.post(f"/tasks/{task.id}/reject", data={"username": "s-rev", "password": STRONG, "reason": "no",
                                                      "csrf_token": csrf})
        return None

    def page_submit():
        _, _, number = a_draft()
        client, csrf = page_dc()
        mark()
        client.post(f"/documents/{number}/revisions/1.0/submit", data={"csrf_token": csrf})
        return None

    def page_recall():
        number, _ = submitted()
        client, csrf = page_dc()
        mark()
        client.post(f"/documents/{number}/revisions/1.0/recall", data={"reason": "r", "csrf_token": csrf})
        return None

    def api_route():
        client = env.client()
        headers = api_token(client, "root")
        mark()
        client.put("/api/v1/document-types/FORM/route", headers=headers, json={"reason": "r", "stages": [
            {"name": "Approval", "meaning": "Approved", "rule": "role", "role": "approver"}]})
        return None

    def page_route():
        client, csrf = page_admin()
        mark()
        client.post("/admin/document-types/WI/route", data={"name_1": "QA", "meaning_1": "QA Approved",
                    "rule_1": "role", "role_1": "qa", "required_1": "1", "reason": "r", "csrf_token": csrf})
        return None

    table.update({
        ("PUT", "/api/v1/document-types/{code}/route"): api_route,
        ("POST", "/admin/document-types/{code}/route"): page_route,
        ("POST", "/api/v1/documents/{number}/revisions/{version}/submit"): api_submit,
        ("POST", "/api/v1/documents/{number}/revisions/{version}/recall"): api_recall,
        ("POST", "/api/v1/tasks/{task_id}/sign"): api_sign,
        ("POST", "/api/v1/tasks/{task_id}/reject"): api_reject,
        ("POST", "/tasks/{task_id}/sign"): page_sign,
        ("POST", "/tasks/{task_id}/reject"): page_reject,
        ("POST", "/documents/{number}/revisions/{version}/submit"): page_submit,
        ("POST", "/documents/{number}/revisions/{version}/recall"): page_recall,
        ("POST", "/admin/users/{user_id}/verify-identity"): verify_identity,
        ("POST", "/account/signature"): accept_statement,
        ("POST", "/api/v1/documents"): api_doc_create,
        ("PATCH", "/api/v1/documents/{number}"): api_doc_edit,
        ("POST", "/api/v1/documents/{number}/revisions"): api_upload,
        ("POST", "/api/v1/documents/{number}/revisions/{version}/withdraw"): api_withdraw,
        ("POST", "/api/v1/document-types"): api_type_create,
        ("PATCH", "/api/v1/document-types/{code}"): api_type_update,
        ("POST", "/documents"): page_doc_create,
        ("POST", "/documents/{number}/edit"): page_doc_edit,
        ("POST", "/documents/{number}/revisions"): page_upload,
        ("POST", "/documents/{number}/revisions/{version}/withdraw"): page_withdraw,
        ("POST", "/admin/document-types"): page_type_create,
        ("POST", "/admin/document-types/{code}"): page_type_update,
    })
    # --- the training pages ---
    def training_page():
        client = login(env.client(), "dc")
        return client, page_csrf(client, "/training/functions")

    def a_function(code):
        with env.db.unit_of_work() as s:
            if code not in {f.code for f in training.list_functions(s)}:
                training.create_function(s, principal=Principal.operator(), code=code, name=code, at=env.clock.now())
            return str(training.get_function(s, code).id)

    def last_requirement(code):
        with env.db.read() as s:
            return str(training.requirements_of(s, training.get_function(s, code).id)[-1].id)

    def a_training_task(trainee):
        number = make_effective(env, author="dc")
        make_ready(env.db, env.config, fresh_user(trainee, "staff").id, at=env.clock.now())
        require_training(env, "AUD", number, trainee)
        return str(assignment_of(env, trainee, number))

    def page_acknowledge():
        aid = a_training_task("t-ack")
        client = login(env.client(), "t-ack")
        client.get(f"/training/assignments/{aid}/read")
        csrf = page_csrf(client, f"/training/assignments/{aid}")
        mark()
        client.post(f"/training/assignments/{aid}/acknowledge", data={
            "username": "t-ack", "password": STRONG, "meaning": "Read and understood", "csrf_token": csrf})
        return aid

    def page_offline():
        aid = a_training_task("t-off")
        client = login(env.client(), "s-qa")
        csrf = page_csrf(client, f"/training/assignments/{aid}/offline")
        mark()
        client.post(f"/training/assignments/{aid}/offline", data={
            "performed_on": env.clock.now().date().isoformat(), "result": "passed", "username": "s-qa",
            "password": STRONG, "csrf_token": csrf})
        return aid

    def page_function_create():
        client, csrf = training_page()
        mark()
        client.post("/training/functions", data={"code": "MUT", "name": "Mutations", "csrf_token": csrf})
        return a_function("MUT")

    def page_function_update():
        fid = a_function("MUT1")
        client, csrf = training_page()
        mark()
        client.post("/training/functions/MUT1", data={"name": "Renamed", "active": "true", "reason": "r",
                                                      "csrf_token": csrf})
        return fid

    def page_function_grant():
        target = fresh_user("t-grant", "staff")
        a_function("MUT2")
        client, csrf = training_page()
        mark()
        client.post("/training/functions/MUT2/grant", data={"username": "t-grant", "reason": "r", "csrf_token": csrf})
        return str(target.id)

    def page_function_revoke():
        target = fresh_user("t-revoke", "staff")
        a_function("MUT3")
        with env.db.unit_of_work() as s:
            training.grant_function(s, principal=Principal.operator(), username="t-revoke", code="MUT3", reason="r",
                                    at=env.clock.now())
        client, csrf = training_page()
        mark()
        client.post("/training/functions/MUT3/revoke", data={"username": "t-revoke", "reason": "r",
                                                             "csrf_token": csrf})
        return str(target.id)

    def page_requirement_add():
        a_function("MUT4")
        _, _, number = a_document()
        client, csrf = training_page()
        mark()
        client.post("/training/functions/MUT4/requirements", data={"number": number, "reason": "r",
                                                                   "csrf_token": csrf})
        return last_requirement("MUT4")

    def page_requirement_remove():
        a_function("MUT5")
        _, _, number = a_document()
        with env.db.unit_of_work() as s:
            training.add_requirement(s, principal=Principal.operator(), code="MUT5", number=number, reason="r",
                                     at=env.clock.now())
        rid = last_requirement("MUT5")
        client, csrf = training_page()
        mark()
        client.post(f"/training/functions/MUT5/requirements/{rid}/remove", data={"reason": "r", "csrf_token": csrf})
        return rid

    def page_import_apply():
        a_function("MUT6")
        fresh_user("t-hr", "staff")
        data = b"username,function\nt-hr,MUT6\n"
        client, csrf = training_page()
        mark()
        client.post("/training/functions/import/apply", data={
            "content": base64.b64encode(data).decode(), "filename": "hr.csv", "reason": "r", "csrf_token": csrf})
        return hashlib.sha256(data).hexdigest()

    def page_grid_toggle():
        a_function("MUT7")
        _, _, number = a_document()
        client, csrf = training_page()
        mark()
        client.post("/training/requirements/toggle", data={"function": "MUT7", "number": number, "required": "true",
                                                           "reason": "r", "csrf_token": csrf})
        return last_requirement("MUT7")

    table.update({
        ("POST", "/training/assignments/{assignment_id}/acknowledge"): page_acknowledge,
        ("POST", "/training/assignments/{assignment_id}/offline"): page_offline,
        ("POST", "/training/functions"): page_function_create,
        ("POST", "/training/functions/{code}"): page_function_update,
        ("POST", "/training/functions/{code}/grant"): page_function_grant,
        ("POST", "/training/functions/{code}/revoke"): page_function_revoke,
        ("POST", "/training/functions/{code}/requirements"): page_requirement_add,
        ("POST", "/training/functions/{code}/requirements/{requirement_id}/remove"): page_requirement_remove,
        ("POST", "/training/functions/import/apply"): page_import_apply,
        ("POST", "/training/requirements/toggle"): page_grid_toggle,
    })
    # --- the training API ---
    from hashlib import sha256 as _sha256

    from docctl.services import accounts as _accounts
    from docctl.services import training as _training
    from docctl.services.principal import Principal as _Principal
    from tests.fixtures.workflow import sign_all as _sign_all

    def api_dc():
        client = env.client()
        return client, api_token(client, "dc")

    def api_function(code, *holders):
        with env.db.unit_of_work() as s:
            f = _training.create_function(s, principal=_Principal.operator(), code=code, name=code,
                                          at=env.clock.now())
            for who in holders:
                _training.grant_function(s, principal=_Principal.operator(), username=who, code=code, reason="r",
                                         at=env.clock.now())
            return str(f.id)

    def api_assignment(code, trainee):
        """An effective SOP required by a new function that `trainee` (made ready to sign) holds."""
        client, headers, number = a_draft()
        client.post(f"/api/v1/documents/{number}/revisions/1.0/submit", headers=headers, json={})
        _sign_all(env.db, env.config, number, "1.0", at=env.clock.now())
        make_ready(env.db, env.config, fresh_user(trainee, "staff").id, at=env.clock.now())
        api_function(code, trainee)
        with env.db.unit_of_work() as s:
            _training.add_requirement(s, principal=_Principal.operator(), code=code, number=number, reason="r",
                                      at=env.clock.now())
            user = _accounts.find_user(s, trainee)
            [(a, _)] = _training.my_assignments(s, user.id)
            return str(a.id)

    def api_training_function_create():
        client, headers = api_dc()
        mark()
        client.post("/api/v1/training/functions", headers=headers, json={"code": "APIF", "name": "Api function"})
        with env.db.read() as s:
            return str(_training.get_function(s, "APIF").id)

    def api_training_function_update():
        fid = api_function("APIF1")
        client, headers = api_dc()
        mark()
        client.post("/api/v1/training/functions/APIF1", headers=headers, json={"name": "Renamed", "reason": "r"})
        return fid

    def api_training_grant():
        target = fresh_user("ta-grant", "staff")
        api_function("APIF2")
        client, headers = api_dc()
        mark()
        client.post("/api/v1/training/functions/APIF2/holders", headers=headers,
                    json={"username": "ta-grant", "reason": "r"})
        return str(target.id)

    def api_training_revoke():
        target = fresh_user("ta-revoke", "staff")
        api_function("APIF3", "ta-revoke")
        client, headers = api_dc()
        mark()
        client.post("/api/v1/training/functions/APIF3/holders/ta-revoke/revoke", headers=headers,
                    json={"reason": "r"})
        return str(target.id)

    def api_training_requirement_add():
        api_function("APIF4")
        _, _, number = a_document()
        client, headers = api_dc()
        mark()
        return client.post("/api/v1/training/functions/APIF4/requirements", headers=headers,
                           json={"document": number, "reason": "r"}).json()["id"]

    def api_training_requirement_remove():
        api_function("APIF5")
        _, _, number = a_document()
        with env.db.unit_of_work() as s:
            rid = str(_training.add_requirement(s, principal=_Principal.operator(), code="APIF5", number=number,
                                                reason="r", at=env.clock.now()).id)
        client, headers = api_dc()
        mark()
        client.post(f"/api/v1/training/requirements/{rid}/remove", headers=headers, json={"reason": "r"})
        return rid

    def api_training_import():
        api_function("APIF6")
        fresh_user("ta-hr", "staff")
        data = b"username,function\nta-hr,APIF6\n"
        client, headers = api_dc()
        mark()
        client.post("/api/v1/training/functions/import?apply=all&reason=r", content=data,
                    headers={**headers, "Content-Type": "text/csv"})
        return _sha256(data).hexdigest()

    def api_training_acknowledge():
        aid = api_assignment("APIF7", "ta-ack")
        client = env.client()
        headers = api_token(client, "ta-ack")
        client.get(f"/api/v1/training/assignments/{aid}/content", headers=headers)
        mark()
        client.post(f"/api/v1/training/assignments/{aid}/acknowledge", headers=headers,
                    json={"username": "ta-ack", "password": STRONG, "meaning": "Read and understood"})
        return aid

    def api_training_offline():
        aid = api_assignment("APIF8", "ta-off")
        client = env.client()
        headers = api_token(client, "s-qa")
        mark()
        client.post(f"/api/v1/training/assignments/{aid}/offline", headers=headers, json={
            "username": "s-qa", "password": STRONG, "performed_on": env.clock.now().date().isoformat(),
            "result": "passed"})
        return aid

    table.update({
        ("POST", "/api/v1/training/functions"): api_training_function_create,
        ("POST", "/api/v1/training/functions/{code}"): api_training_function_update,
        ("POST", "/api/v1/training/functions/{code}/holders"): api_training_grant,
        ("POST", "/api/v1/training/functions/{code}/holders/{username}/revoke"): api_training_revoke,
        ("POST", "/api/v1/training/functions/{code}/requirements"): api_training_requirement_add,
        ("POST", "/api/v1/training/requirements/{requirement_id}/remove"): api_training_requirement_remove,
        ("POST", "/api/v1/training/functions/import"): api_training_import,
        ("POST", "/api/v1/training/assignments/{assignment_id}/acknowledge"): api_training_acknowledge,
        ("POST", "/api/v1/training/assignments/{assignment_id}/offline"): api_training_offline,
    })
    def api_checkpoint():
        client, headers = api_admin()
        mark()
        return client.post("/api/v1/checkpoints", headers=headers).json()["checkpoint_id"]

    table[("POST", "/api/v1/checkpoints")] = api_checkpoint

    def review_fields(client):  # the review form's range, after moving the clock past the events so far
        import re
        from datetime import timedelta

        env.clock.advance(timedelta(seconds=1))
        form = client.get("/audit/reviews/new").text
        return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))

    def page_audit_review():
        client = login(env.client(), "s-qa")
        fields = review_fields(client)
        mark()
        signed = client.post("/audit/reviews", follow_redirects=False, data={
            **fields, "scope": "trail", "findings": "No findings", "meaning": "Audit trail review completed",
            "username": "s-qa", "password": STRONG})
        return signed.headers["location"].split("?")[0].rsplit("/", 1)[1]

    def api_audit_review():
        from datetime import timedelta

        client = env.client()
        headers = api_token(client, "s-qa")
        env.clock.advance(timedelta(seconds=1))
        mark()
        return client.post("/api/v1/audit/reviews", headers=headers, json={
            "findings": "No findings", "username": "s-qa", "password": STRONG}).json()["id"]

    table[("POST", "/audit/reviews")] = page_audit_review
    table[("POST", "/api/v1/audit/reviews")] = api_audit_review

    def finished(client, headers, run_id):  # one run at a time: let it end before the next starts one
        for _ in range(600):
            if client.get(f"/api/v1/audit/integrity-checks/{run_id}", headers=headers).json()["state"] != "running":
                return run_id
            time.sleep(0.05)
        raise AssertionError("the integrity check did not finish")

    def page_integrity():
        client, csrf = page_admin()
        mark()
        location = client.post("/audit/integrity", data={"csrf_token": csrf}, follow_redirects=False)
        return finished(*api_admin(), location.headers["location"].rsplit("/", 1)[1])

    def api_integrity():
        client, headers = api_admin()
        mark()
        return finished(client, headers, client.post("/api/v1/audit/integrity-checks", headers=headers).json()["id"])

    table[("POST", "/audit/integrity")] = page_integrity
    table[("POST", "/api/v1/audit/integrity-checks")] = api_integrity
    mutating = {(m, p) for m, p, _ in _routes(env.app) if m not in ("GET", "HEAD", "OPTIONS")}
    assert mutating - EXEMPT == set(table), "a state-changing route has no audit check: add it to the table"
    assert admin_user
    for (method, path), call in table.items():
        marks.clear()
        subject_id = call()
        assert len(marks) == 1, f"{method} {path}: the helper must mark the moment of the request"
        events = events_since(env.db, marks[0])
        assert events, f"{method} {path} wrote no audit event"
        if subject_id is not None:
            assert any(e["subject"]["id"] == subject_id or e["subject"]["type"] == "api_token" for e in events), (
                f"{method} {path}: no event about the subject"
            )
        last = events[-1]
        assert last["actor"]["username"] and last["at"], (method, path)
