"""TR-GATE: with `training_gate` on, nobody signs an approval while their training on a document in force is open;
after they read and sign "read and understood", signing works. With the gate off (the default) it is not checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from docctl.clock import FixedClock
from tests.fixtures.workflow import make_ready
from tests.web.audit_helpers import actions_since, last_seq
from tests.web.conftest import STRONG, Env, _env
from tests.web.test_training_api import Api


def _people(env: Env) -> Api:
    env.user("writer", "author")
    env.user("dc", "document_control")
    env.user("insp", "inspector")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        make_ready(env.db, env.config, env.user(name, role, full_name=f"{name.title()} Signer").id,
                   at=env.clock.now())
    return Api(env)


@pytest.fixture
def gated(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Api]:
    """The app with the training gate on, on SQLite and PostgreSQL."""
    for env in _env(db_url, tmp_path, clock, training_gate=True):
        yield _people(env)


@pytest.fixture
def ungated(env: Env) -> Api:
    return _people(env)


def _approver_must_know(api: Api) -> tuple[str, str]:
    """An effective SOP the approver's job function requires (their training open), and a second document
    waiting for the approver's signature. Returns (the governing SOP, the document to approve)."""
    governing = api.effective_sop("How we approve documents")
    api.function("APPROVER", governing, holders=("appr",))
    number = api.document("Sample handling")
    version = api.upload(number)
    api.ok(api.post("writer", f"/api/v1/documents/{number}/revisions/{version}/submit", json={}))
    [review] = api.ok(api.get("rev", "/api/v1/tasks?kind=approval"))
    assert api.post("rev", f"/api/v1/tasks/{review['id']}/sign",
                    json={"username": "rev", "password": STRONG, "meaning": review["meaning"]}).status_code == 201
    return governing, number


def _sign_as_approver(api: Api):  # type: ignore[no-untyped-def]
    [task] = api.ok(api.get("appr", "/api/v1/tasks?kind=approval"))
    return api.post("appr", f"/api/v1/tasks/{task['id']}/sign",
                    json={"username": "appr", "password": STRONG, "meaning": task["meaning"]})


@pytest.mark.req("TR-GATE")
def test_an_untrained_approver_cannot_sign_until_they_have_read_the_governing_sop(gated: Api):
    api, env = gated, gated.env
    governing, number = _approver_must_know(api)
    assert api.task("appr", governing)["status"] == "due"

    start = last_seq(env.db)
    refused = _sign_as_approver(api)
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "Training first" in message and f"{governing} v1.0" in message
    # refused before the password was even tried: nothing signed, nothing counted against the person
    assert [a for a in actions_since(env.db, start) if a != "token:issue"] == []
    assert api.revision(number, "1.0")["state"] == "in_review"

    # reading and signing "read and understood" is not itself held back by the gate
    api.read_and_sign("appr", governing)
    signed = _sign_as_approver(api)
    assert signed.status_code == 201, signed.text
    assert signed.json()["meaning"] == "Approved"


@pytest.mark.req("TR-GATE")
def test_the_gate_counts_versions_in_force_only(gated: Api):
    """Training on a version approved but not yet in force ("train before effective") does not block; once that
    version takes effect untrained, it does."""
    api, env = gated, gated.env
    governing, number = _approver_must_know(api)
    api.read_and_sign("appr", governing)
    upcoming = api.upload(governing)
    api.publish(governing, upcoming, effective_at=env.clock.now() + timedelta(days=7), train_before_effective=True)
    assert api.task("appr", governing)["version"] == upcoming  # assigned, not in force yet
    assert _sign_as_approver(api).status_code == 201


@pytest.mark.req("TR-GATE")
def test_with_the_gate_off_training_is_not_checked(ungated: Api):
    api = ungated
    governing, _ = _approver_must_know(api)
    assert api.task("appr", governing)["status"] == "due"
    assert _sign_as_approver(api).status_code == 201
