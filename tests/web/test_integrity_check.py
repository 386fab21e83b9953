"""'Verify integrity' in the browser and the API: a background run with progress, its result page, and exactly
where the trail does not verify (P11-10e.4); the read-only inspector may run it (E6-2.12.14/EMA-A6)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from docctl.audit.tags import Tag
from docctl.db.models import AuditEvent
from docctl.services import integrity
from docctl.services.principal import Principal
from tests.web.conftest import api_token, csrf_from, login
from tests.web.test_checkpoints import add_events, tick


def wait_for(client, run_id: str, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/audit/integrity-checks/{run_id}", headers=headers).json()
        if run["state"] != "running":
            return run
        time.sleep(0.05)
    raise AssertionError(f"the integrity check {run_id} did not finish: {run}")


def start_in_browser(client) -> str:
    page = client.get("/audit/integrity")
    assert page.status_code == 200 and "Verify integrity" in page.text
    started = client.post("/audit/integrity", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert started.status_code == 303, started.text
    return started.headers["location"].rsplit("/", 1)[1]


@pytest.mark.req("P11-10e.4", "E6-2.12.14/EMA-A6")
def test_an_inspector_verifies_the_trail_in_the_browser(any_env):
    env = any_env
    add_events(env, 50)
    tick(env)  # a signed checkpoint to check too
    env.user("inspector", "inspector")
    client = login(env.client(), "inspector")
    headers = api_token(env.client(), "inspector")
    run_id = start_in_browser(client)
    run = wait_for(client, run_id, headers)
    assert run["state"] == "passed", run
    assert run["problems"] == [] and run["percent"] == 100
    assert run["checkpoints"]["done"] == run["checkpoints"]["total"] == 1
    assert run["events"]["done"] == run["verified_size"] >= 50
    page = client.get(f"/audit/integrity/{run_id}")
    assert "Every audit event and every signed checkpoint checks out" in page.text
    assert "hx-trigger" not in page.text  # finished: no more polling
    assert "Verified" in client.get("/audit/integrity").text
    with env.db.read() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == Tag.AUDIT_VERIFY.value)
                           .order_by(AuditEvent.seq)).all()
    assert [e.subject_id for e in events] == [run_id, run_id]
    assert b'"state":"started"' in events[0].canonical and b'"state":"passed"' in events[1].canonical
    assert all(b'"username":"inspector"' in e.canonical for e in events)


@pytest.mark.req("P11-10e.4")
def test_the_result_names_the_event_and_the_checkpoint_that_do_not_verify(env):
    add_events(env, 30)
    tick(env)
    env.user("qa", "qa")
    headers = api_token(env.client(), "qa")
    client = env.client()
    with env.db.read() as s:
        seq, canonical = s.execute(select(AuditEvent.seq, AuditEvent.canonical).where(AuditEvent.seq == 7)).one()
    with env.db.engine.begin() as conn:  # behind the application's back
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.exec_driver_sql("UPDATE audit_events SET canonical = ? WHERE seq = ?",
                             (canonical.replace(b'"at":"', b'"at":"1'), seq))
        conn.exec_driver_sql("DROP TRIGGER audit_checkpoints_no_update")
        conn.exec_driver_sql("UPDATE audit_checkpoints SET signature = X'3000'")
    started = client.post("/api/v1/audit/integrity-checks", headers=headers)
    assert started.status_code == 202, started.text
    run = wait_for(client, started.json()["id"], headers)
    assert run["state"] == "failed"
    wheres = [p["where"] for p in run["problems"]]
    assert wheres[0] == "audit event 7", run["problems"]
    assert any(w.startswith("checkpoint at tree size") for w in wheres), run["problems"]
    page = login(env.client(), "qa").get(f"/audit/integrity/{run['id']}")
    assert "does not verify" in page.text and "audit event 7" in page.text


def test_one_run_at_a_time_and_an_interrupted_run_shows_as_such(env):
    env.user("inspector", "inspector")
    user = env.user("qa", "qa")
    with env.db.unit_of_work() as s:
        first, new = integrity.start(s, principal=Principal.of(user), at=env.clock.now())
    assert new
    with env.db.unit_of_work() as s:  # a second click while the first runs: the same run
        again, new = integrity.start(s, principal=Principal.of(user), at=env.clock.now())
    assert (again, new) == (first, False)
    env.clock.advance(integrity.STALE + timedelta(seconds=1))  # the process running it died
    with env.db.read() as s:
        assert integrity.get(s, first, principal=Principal.of(user), at=env.clock.now()).state == "interrupted"
    client = login(env.client(), "inspector")
    assert "Interrupted" in client.get("/audit/integrity").text
    assert "stopped without finishing" in client.get(f"/audit/integrity/{first}").text
    with env.db.unit_of_work() as s:
        second, new = integrity.start(s, principal=Principal.of(user), at=env.clock.now())
    assert new and second != first


def test_only_readers_of_the_trail_may_verify(env):
    env.user("staff", "staff")
    client = login(env.client(), "staff")
    assert client.get("/audit/integrity").status_code == 403
    page = client.get("/")
    assert client.post("/audit/integrity", data={"csrf_token": csrf_from(page.text)}).status_code == 403
    headers = api_token(env.client(), "staff")
    assert env.client().post("/api/v1/audit/integrity-checks", headers=headers).status_code == 403
    assert env.client().get(f"/api/v1/audit/integrity-checks/{'0' * 32}", headers=headers).status_code == 403
