"""Before anyone can sign: identity verified by an administrator (P11-100b), the accountability statement accepted
with the person's own credentials (P11-100c), and a password of their own (P11-200a2-3)."""

from __future__ import annotations

from docctl.domain import esig
from docctl.services import accounts
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, login, page_csrf


def test_identity_verification_is_recorded_with_who_when_and_how(env):
    admin = env.user("root", "admin")
    bob = env.user("bob", "approver")
    assert not accounts.signing_readiness(bob).ready
    client = login(env.client(), "root")
    csrf = page_csrf(client, f"/admin/users/{bob.id}")
    start = last_seq(env.db)
    missing = client.post(f"/admin/users/{bob.id}/verify-identity", data={"evidence": " ", "csrf_token": csrf})
    assert missing.status_code == 422
    done = client.post(f"/admin/users/{bob.id}/verify-identity",
                       data={"evidence": "Passport checked in person against the HR file", "csrf_token": csrf})
    assert done.status_code == 200 and "Identity verification recorded" in done.text
    event = events_since(env.db, start)[0]
    assert event["action"] == "user:identity_verified" and event["actor"]["id"] == str(admin.id)
    assert event["reason"] == "Passport checked in person against the HR file"
    with env.db.read() as s:
        user = accounts.get_user(s, bob.id)
    assert user.identity_verified_by_id == admin.id and user.identity_verified_at == env.clock.now()
    again = client.post(f"/admin/users/{bob.id}/verify-identity", data={"evidence": "again", "csrf_token": csrf})
    assert again.status_code == 409
    # nobody verifies themselves
    root_page = client.post(f"/admin/users/{admin.id}/verify-identity", data={"evidence": "me", "csrf_token": csrf})
    assert root_page.status_code == 409


def test_the_statement_is_accepted_with_user_id_and_password(env):
    bob = env.user("bob", "approver")
    client = login(env.client(), "bob")
    page = client.get("/account/signature").text
    assert esig.STATEMENT[:60] in page and "not yet accepted" in page
    csrf = page_csrf(client, "/account/signature")
    start = last_seq(env.db)
    wrong = client.post("/account/signature", data={"agree": "true", "username": "bob", "password": "wrong",
                                                    "csrf_token": csrf})
    assert wrong.status_code == 422 and "incorrect" in wrong.text
    other = client.post("/account/signature", data={"agree": "true", "username": "alice", "password": STRONG,
                                                    "csrf_token": csrf})
    assert other.status_code == 422 and "your own user ID" in other.text
    ok = client.post("/account/signature", data={"agree": "true", "username": "BOB", "password": STRONG,
                                                 "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["user:login_failed", "user:esig_accepted"]
    assert events[1]["after"] == {"statement_version": esig.STATEMENT_VERSION, "statement": esig.STATEMENT}
    with env.db.read() as s:
        assert accounts.get_user(s, bob.id).esig_accepted_at == env.clock.now()


def test_a_password_set_by_an_administrator_never_makes_a_signer_ready(env):
    env.user("root", "admin")
    bob = env.user("bob", "approver", own=False)
    with env.db.unit_of_work() as s:
        user = accounts.get_user(s, bob.id)
        user.identity_verified_at = env.clock.now()
        user.esig_accepted_at = env.clock.now()
    with env.db.read() as s:
        readiness = accounts.signing_readiness(accounts.get_user(s, bob.id))
    assert not readiness.ready and any("set by an administrator" in m for m in readiness.missing())
