"""Training races with real concurrency, on SQLite and on PostgreSQL as the application role (the pattern of
`test_approval_races`: threads lined up with a barrier, each with its own connection or its own HTTP client).

- the same person acknowledging the same assignment twice at once (two tabs, a double click, a retrying
  client): exactly one signature and one training record; the other gets a clear conflict;
- a person acknowledging version 1 while the last approval of version 2 makes it effective (and supersedes the
  person's open assignment on version 1): either the acknowledgement lands first and version 2 is assigned on top
  of it, or the assignment is superseded and the acknowledgement is refused; never both, never neither (SQLite
  only for now: on PostgreSQL the two deadlock, see the test).

"services" puts the barrier between `prepare_*` (password, key, manifest; no lock) and `record_*` (the locked
part); "api" puts it before the POST, so whole requests race. Afterwards the audit log verifies with no gap.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from docctl.audit.verify import verify_log
from docctl.clock import FixedClock
from docctl.db.models import AuditEvent, Signature, TrainingAssignment, TrainingRecord, User
from docctl.services import accounts, approvals, documents, revisions, training, training_signing
from tests.fixtures.workflow import make_ready, sign_task
from tests.integration.test_approval_races import no_errors, together
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, Env, _env, api_token
from tests.web.test_training_api import RU, Api

ROUNDS = 5
MODES = ["services", "api"]


@pytest.fixture
def race_env(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    """The app on SQLite and on PostgreSQL (as the restricted application role)."""
    yield from _env(db_url, tmp_path, clock)


def _crew(env: Env) -> Api:
    env.user("writer", "author")
    env.user("dc", "document_control")
    env.user("insp", "inspector")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa"), ("ann", "staff")):
        make_ready(env.db, env.config, env.user(name, role, full_name=f"{name.title()} Person").id,
                   at=env.clock.now())
    api = Api(env)
    api.function("CRA", holders=("ann",))
    return api


@pytest.fixture
def crew(race_env: Env) -> Api:
    return _crew(race_env)


@pytest.fixture
def sqlite_crew(sqlite_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Api]:
    for env in _env(sqlite_url, tmp_path, clock):
        yield _crew(env)


def user(env: Env, username: str) -> User:
    with env.db.read() as s:
        found = accounts.find_user(s, username)
        assert found is not None
        return found


def opened_assignment(api: Api, number: str) -> uuid.UUID:
    """CRA requires the document; ann's assignment on its version in force, opened (the view recorded)."""
    api.ok(api.post("dc", "/api/v1/training/functions/CRA/requirements",
                    json={"document": number, "reason": "race"}), 201)
    aid = api.task("ann", number)["id"]
    assert api.open_("ann", aid).status_code == 200
    return uuid.UUID(aid)


def acknowledger(api: Api, mode: str, aid: uuid.UUID) -> Callable[[Callable[[], Any]], Any]:
    env = api.env
    ann = user(env, "ann")
    if mode == "api":
        client = env.client()
        headers = api_token(client, "ann")
        body = {"username": "ann", "password": STRONG, "meaning": RU}

        def by_http(go: Callable[[], Any]) -> Any:
            go()
            return client.post(f"/api/v1/training/assignments/{aid}/acknowledge", headers=headers, json=body)

        return by_http

    def by_services(go: Callable[[], Any]) -> Any:
        at = env.clock.now()
        with env.db.read() as s:
            prepared = training_signing.prepare_acknowledgement(
                s, env.config, user_id=ann.id, assignment_id=aid, username="ann", password=STRONG, meaning=RU, at=at)
        go()  # both signatures are made; now both try to record theirs
        with env.db.unit_of_work() as s:
            sig = training_signing.record_acknowledgement(s, env.config, prepared=prepared, at=at)
            return sig.id if sig is not None else False

    return by_services


def last_signer(api: Api, mode: str, task_id: uuid.UUID) -> Callable[[Callable[[], Any]], Any]:
    """qa1 signing the last stage of version 2 (which makes it effective at once)."""
    env = api.env
    qa1 = user(env, "qa1")
    if mode == "api":
        client = env.client()
        headers = api_token(client, "qa1")

        def by_http(go: Callable[[], Any]) -> Any:
            go()
            return client.post(f"/api/v1/tasks/{task_id}/sign", headers=headers,
                               json={"username": "qa1", "password": STRONG, "meaning": "QA Approved"})

        return by_http

    def by_services(go: Callable[[], Any]) -> Any:
        at = env.clock.now()
        with env.db.read() as s:
            prepared = approvals.prepare_signature(s, env.config, user_id=qa1.id, task_id=task_id, username="qa1",
                                                   password=STRONG, meaning="QA Approved", at=at)
        go()
        with env.db.unit_of_work() as s:
            sig = approvals.record_signature(s, env.config, prepared=prepared, at=at)
            return sig.id if sig is not None else False

    return by_services


def on_assignment(env: Env, aid: uuid.UUID) -> tuple[str, int, int]:
    """(state, signatures, training records) of the assignment."""
    with env.db.read() as s:
        state = s.get(TrainingAssignment, aid).state  # type: ignore[union-attr]
        sigs = s.scalars(select(func.count()).select_from(Signature).where(Signature.assignment_id == aid)).one()
        records = s.scalars(select(func.count()).select_from(TrainingRecord)
                            .where(TrainingRecord.assignment_id == aid)).one()
    return state, sigs, records


def actions_about(env: Env, start: int, aid: uuid.UUID) -> Counter[str]:
    return Counter(e["action"] for e in events_since(env.db, start) if e["subject"]["id"] == str(aid))


def assert_audit_sound(env: Env) -> None:
    with env.db.read() as s:
        report = verify_log(s)
        count, low, high = s.execute(select(func.count(), func.min(AuditEvent.seq), func.max(AuditEvent.seq))).one()
    assert (low, high, count) == (1, report.size, report.size)


# --- the same acknowledgement twice at once ---------------------------------------------------------------------


@pytest.mark.req("TR-RU")
@pytest.mark.parametrize("mode", MODES)
def test_two_acknowledgements_of_one_assignment_at_once_give_one_signature_and_a_clear_conflict(crew: Api, mode: str):
    api, env = crew, crew.env
    for n in range(ROUNDS):
        aid = opened_assignment(api, api.effective_sop(f"Race {n}"))
        start = last_seq(env.db)

        kinds = no_errors(together(acknowledger(api, mode, aid), acknowledger(api, mode, aid)))

        assert sorted(kinds)[1] == "signed", kinds
        assert sorted(kinds)[0].startswith("conflict: This training was already completed"), kinds
        assert on_assignment(env, aid) == ("completed", 1, 1)
        actions = actions_about(env, start, aid)
        assert (actions["signature:create"], actions["training:complete"], actions["signature:failed"]) == (1, 1, 0)
    assert_audit_sound(env)


# --- acknowledging version 1 while version 2 takes effect -------------------------------------------------------


def v2_waiting_for_qa(api: Api, number: str) -> tuple[str, uuid.UUID]:
    """Version 2 uploaded, submitted and signed by every stage but QA; returns (version, the QA task id)."""
    env = api.env
    version = api.upload(number)
    api.ok(api.post("writer", f"/api/v1/documents/{number}/revisions/{version}/submit", json={}))
    for _ in range(5):
        with env.db.read() as s:
            r = revisions.find(documents.get_document(s, number), version)
            [task] = [t for t in approvals.tasks_of(s, r.id) if t.state == "pending" and t.round == r.round]
        if task.meaning == "QA Approved":
            return version, task.id
        assert sign_task(env.db, env.config, user_id=task.assignee_id, task_id=task.id, at=env.clock.now())
    raise AssertionError("the route has no QA stage")


@pytest.mark.req("TR-RU", "TR-MATRIX")
@pytest.mark.parametrize("mode", MODES)
def test_acknowledging_v1_while_v2_takes_effect_either_completes_it_or_supersedes_it(crew: Api, mode: str):
    """The last approval appends its signature event (locking the audit head) and then, in
    `training.on_effective`, supersedes the person's open assignment on version 1; the acknowledgement takes the
    audit head before the assignment row (`log.lock_head`), so the two wait for each other instead of
    deadlocking on PostgreSQL."""
    api, env = crew, crew.env
    ann = user(env, "ann")
    outcomes: Counter[str] = Counter()
    for n in range(ROUNDS):
        number = api.effective_sop(f"Moving target {n}")
        old = opened_assignment(api, number)
        v2, qa_task = v2_waiting_for_qa(api, number)
        start = last_seq(env.db)

        ack, signed = no_errors(together(acknowledger(api, mode, old), last_signer(api, mode, qa_task)))

        assert signed == "signed", signed
        assert api.revision(number, v2)["state"] == "effective"
        with env.db.read() as s:
            live = [(a.state, a.id) for a, r in training.my_assignments(s, ann.id)
                    if r.document.number == number and r.version == v2]
            old_row = s.get(TrainingAssignment, old)
            assert old_row is not None
            superseded_by = old_row.superseded_by_id
        assert [state for state, _ in live] == ["open"], live  # version 2 assigned exactly once, to read
        if ack == "signed":
            assert on_assignment(env, old) == ("completed", 1, 1)
            assert superseded_by is None
        else:
            assert ack.startswith("conflict: Version 1.0 was superseded"), ack
            assert on_assignment(env, old) == ("superseded", 0, 0)
            assert superseded_by == live[0][1]
            assert actions_about(env, start, old)["training:supersede"] == 1
        outcomes[ack.split(":")[0]] += 1
    assert sum(outcomes.values()) == ROUNDS
    assert_audit_sound(env)
