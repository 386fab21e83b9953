"""Approval races with real concurrency (issue 4, item 8), on SQLite and on PostgreSQL as the application role.

Each race lines up threads with a `threading.Barrier`. Every thread has its own database connection (its own
session, checked out of the pool) and runs either the services the web routes run or the HTTP route itself
through its own TestClient:

- "services": the barrier sits between `prepare_signature` (argon2, scrypt, ECDSA; no lock held) and
  `record_signature` (the locked part), so both transactions contend for the same rows at the same moment;
- "api": the barrier sits before the POST, so the whole request (both phases) races.

Each race is repeated ROUNDS times on a fresh submission. Afterwards the audit log verifies and `seq` has no gaps.

Two effective revisions of one document cannot come from two approved revisions: the services refuse a new
revision while one is in review or approved (`create_revision`, under the document's row lock). So "two make
effective at once" is the scheduler's pass (`make_due_effective`, or the whole `system.tick`) run by two callers at
the same moment over the same due revisions.
"""

from __future__ import annotations

import io
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docctl.audit.verify import verify_log
from docctl.blobstore.base import BlobStore
from docctl.blobstore.factory import blobstore_from_url
from docctl.clock import FixedClock
from docctl.db.models import ApprovalTask, AuditEvent, Revision, Signature, User
from docctl.domain.routes import StageRule
from docctl.errors import Conflict
from docctl.services import approvals, documents, revisions, sessions, signature_check, system
from docctl.services.principal import Principal
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready, sign_all
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import BASE, STRONG, Env, _env, api_token

ROUNDS = 10
JOIN_TIMEOUT = 120  # seconds; a thread still running after this is a hang (a lock never released)
MODES = ["services", "api"]
# The loser's message. Its state in parentheses is usually the task's ("cancelled", "signed"); "pending" when the
# loser read its task just before, and the revision just after, the winner committed (prepare_signature reads both
# without a lock).
ALREADY = "conflict: This task was already decided ("


# --- running things at the same moment --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one racer got: a value, or an exception with its traceback."""

    value: Any = None
    error: BaseException | None = None
    trace: str = ""


def together(*jobs: Callable[[Callable[[], Any]], Any]) -> list[Outcome]:
    """Run each job in its own thread; each calls `go()` where it must line up with the others."""
    barrier = threading.Barrier(len(jobs), timeout=60)
    outcomes = [Outcome() for _ in jobs]

    def run(i: int, job: Callable[[Callable[[], Any]], Any]) -> None:
        try:
            outcomes[i].value = job(barrier.wait)
        except BaseException as exc:  # noqa: BLE001  (reported by the test, with its traceback)
            outcomes[i].error = exc
            outcomes[i].trace = traceback.format_exc()
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, job), name=f"racer-{i}") for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a racer hung (a lock never released?)"
    return outcomes


def kind(outcome: Outcome) -> str:
    """'signed', 'ok', 'conflict: <message>' or 'ERROR ...' (anything else, with the traceback)."""
    if outcome.error is not None:
        if isinstance(outcome.error, Conflict):
            return f"conflict: {outcome.error.message}"
        return f"ERROR {type(outcome.error).__name__}: {outcome.error}\n{outcome.trace}"
    value = outcome.value
    if hasattr(value, "status_code"):  # an HTTP response
        if value.status_code in (200, 201):
            return "signed" if value.status_code == 201 else "ok"
        if value.status_code == 409:
            return f"conflict: {value.json()['error']['message']}"
        return f"ERROR HTTP {value.status_code}: {value.text}"
    if isinstance(value, uuid.UUID):
        return "signed"
    return "ok" if value is not False else "ERROR refused (wrong credentials?)"


def no_errors(outcomes: list[Outcome]) -> list[str]:
    kinds = [kind(o) for o in outcomes]
    errors = [k for k in kinds if k.startswith("ERROR")]
    assert not errors, "\n\n".join(errors)
    return kinds


# --- the team and the workflow ----------------------------------------------------------------------------------


@dataclass
class Team:
    env: Env
    store: BlobStore
    writer: User
    people: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    n: int = 0

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.env.db

    @property
    def at(self) -> datetime:
        return self.env.clock.now()

    def token(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = api_token(self.env.client(), username)
        return self.tokens[username]

    def client(self) -> TestClient:
        return TestClient(self.env.app, base_url=BASE)  # type: ignore[arg-type]


@pytest.fixture
def race_env(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    yield from _env(db_url, tmp_path, clock)


@pytest.fixture
def team(race_env: Env) -> Team:
    env = race_env
    writer = env.user("writer", "author")
    t = Team(env, blobstore_from_url(env.settings.resolved_blobstore_url), writer)
    for name in ("s1", "s2"):
        user = env.user(name, "approver", full_name=f"{name.upper()} Signer")
        make_ready(env.db, env.config, user.id, at=env.clock.now())
        t.people[name] = user
    return t


def set_route(team: Team, *stages: StageRule) -> None:
    with team.db.unit_of_work() as s:
        approvals.update_route(s, principal=Principal.operator(), type_code="SOP", stages=list(stages),
                               reason="race test route", at=team.at)


def named(*users: User, required: int) -> StageRule:
    return StageRule(position=1, name="Approval", meaning="Approved", rule="users",
                     user_ids=tuple(u.id for u in users), required=required)


def any_of_role(role: str, required: int = 1) -> StageRule:
    return StageRule(position=1, name="Approval", meaning="Approved", rule="role", role=role, required=required)


def new_revision(team: Team, number: str | None = None) -> tuple[str, str]:
    """A new document with a draft 1.0, or a new major draft of `number`."""
    principal = Principal.of(team.writer)
    if number is None:
        team.n += 1
        with team.db.unit_of_work() as s:
            number = documents.create_document(s, principal=principal, type_code="SOP",
                                               title=f"Race {team.n}", department="CLIN", at=team.at).number
    upload = revisions.prepare_upload(team.store, stream=io.BytesIO(make_pdf(1, words=f"race {team.n}")),
                                      filename="race.pdf", max_bytes=10 * 1024 * 1024, convert=False)
    with team.db.unit_of_work() as s:
        r = revisions.create_revision(s, principal=principal, number=number, upload=upload, change="major",
                                      change_summary="race round", at=team.at)
        return number, r.version


def submit(team: Team, number: str, version: str, effective_at: datetime | None = None
           ) -> tuple[uuid.UUID, dict[uuid.UUID, uuid.UUID]]:
    """Submit; returns the revision id and the open tasks, assignee id -> task id."""
    with team.db.unit_of_work() as s:
        r = approvals.submit(s, principal=Principal.of(team.writer), number=number, version=version,
                             effective_at=effective_at, at=team.at)
        tasks = {t.assignee_id: t.id for t in approvals.tasks_of(s, r.id) if t.round == r.round
                 and t.state == "pending"}
        return r.id, tasks


def signer(team: Team, mode: str, user: User, task_id: uuid.UUID) -> Callable[[Callable[[], Any]], Any]:
    """A racer that signs `task_id` as `user` with user ID, password and meaning."""
    if mode == "api":
        client, headers = team.client(), team.token(user.username)
        body = {"username": user.username, "password": STRONG, "meaning": "Approved"}

        def by_http(go: Callable[[], Any]) -> Any:
            go()
            return client.post(f"/api/v1/tasks/{task_id}/sign", headers=headers, json=body)

        return by_http

    def by_services(go: Callable[[], Any]) -> Any:
        at = team.at
        with team.db.read() as s:
            prepared = approvals.prepare_signature(s, team.env.config, user_id=user.id, task_id=task_id,
                                                   username=user.username, password=STRONG, meaning="Approved",
                                                   at=at)
        go()  # both signatures are made; now both try to record theirs
        with team.db.unit_of_work() as s:
            sig = approvals.record_signature(s, team.env.config, prepared=prepared, at=at)
            return sig.id if sig is not None else False

    return by_services


def rejecter(team: Team, mode: str, user: User, task_id: uuid.UUID) -> Callable[[Callable[[], Any]], Any]:
    if mode == "api":
        client, headers = team.client(), team.token(user.username)
        body = {"username": user.username, "password": STRONG, "reason": "Section 3 is wrong"}

        def by_http(go: Callable[[], Any]) -> Any:
            go()
            return client.post(f"/api/v1/tasks/{task_id}/reject", headers=headers, json=body)

        return by_http

    def by_services(go: Callable[[], Any]) -> Any:
        with team.db.read() as s:
            verdict = sessions.verify_credentials(s, team.env.config, username=user.username, password=STRONG)
        go()
        with team.db.unit_of_work() as s:
            return approvals.reject(s, team.env.config, user_id=user.id, task_id=task_id,
                                    verified_hash=verdict.verified_hash, username=user.username,
                                    reason="Section 3 is wrong", at=team.at)

    return by_services


def recaller(team: Team, mode: str, number: str, version: str) -> Callable[[Callable[[], Any]], Any]:
    if mode == "api":
        client, headers = team.client(), team.token(team.writer.username)

        def by_http(go: Callable[[], Any]) -> Any:
            go()
            return client.post(f"/api/v1/documents/{number}/revisions/{version}/recall", headers=headers,
                               json={"reason": "one more change"})

        return by_http

    def by_services(go: Callable[[], Any]) -> Any:
        go()
        with team.db.unit_of_work() as s:
            approvals.recall(s, principal=Principal.of(team.writer), number=number, version=version,
                             reason="one more change", at=team.at)
            return True

    return by_services


# --- what must hold afterwards ----------------------------------------------------------------------------------


def actions_on(team: Team, start: int, revision_id: uuid.UUID) -> Counter[str]:
    return Counter(e["action"] for e in events_since(team.db, start) if e["subject"]["id"] == str(revision_id))


def state(team: Team, revision_id: uuid.UUID) -> str:
    with team.db.read() as s:
        return s.get(Revision, revision_id).state  # type: ignore[union-attr]


def task_states(team: Team, revision_id: uuid.UUID) -> list[str]:
    with team.db.read() as s:
        return sorted(s.scalars(select(ApprovalTask.state).where(ApprovalTask.revision_id == revision_id)))


def signatures_valid(team: Team, revision_id: uuid.UUID) -> int:
    """How many signatures the revision has; every one must verify (manifest, ECDSA, chain, stored content)."""
    with team.db.read() as s:
        ids = list(s.scalars(select(Signature.id).where(Signature.revision_id == revision_id)))
        for sig_id in ids:
            result = signature_check.verify(s, team.store, sig_id)
            assert result.ok, result.as_json()
        return len(ids)


def assert_audit_sound(team: Team) -> None:
    """The whole trail verifies and seq runs 1..n with no gap."""
    with team.db.read() as s:
        report = verify_log(s)
        count, low, high = s.execute(select(func.count(), func.min(AuditEvent.seq), func.max(AuditEvent.seq))).one()
    assert (low, high, count) == (1, report.size, report.size)


def effective_count(team: Team, number: str) -> tuple[int, Counter[str]]:
    with team.db.read() as s:
        d = documents.get_document(s, number)
        states = Counter(r.state for r in d.revisions)
    return states["effective"], states


# --- (a) the last two parallel signatures -----------------------------------------------------------------------


@pytest.mark.req("ISO-4.2.4a")
@pytest.mark.parametrize("mode", MODES)
def test_the_last_two_parallel_signatures_at_once_give_one_approval_and_lose_no_signature(team: Team, mode: str):
    s1, s2 = team.people["s1"], team.people["s2"]
    set_route(team, named(s1, s2, required=2))
    for _ in range(ROUNDS):
        number, version = new_revision(team)
        revision_id, tasks = submit(team, number, version)
        assert set(tasks) == {s1.id, s2.id}
        start = last_seq(team.db)

        kinds = no_errors(together(signer(team, mode, s1, tasks[s1.id]), signer(team, mode, s2, tasks[s2.id])))

        assert kinds == ["signed", "signed"]
        assert signatures_valid(team, revision_id) == 2  # no lost signature
        assert task_states(team, revision_id) == ["signed", "signed"]
        assert state(team, revision_id) == "effective"
        actions = actions_on(team, start, revision_id)
        assert actions["signature:create"] == 2
        assert actions["revision:approve"] == 1
        assert actions["revision:make_effective"] == 1
    assert_audit_sound(team)


# --- (b) any 1 of a role, two holders ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_two_holders_of_an_any_one_stage_at_once_give_one_signature_and_a_clear_conflict(team: Team, mode: str):
    s1, s2 = team.people["s1"], team.people["s2"]
    set_route(team, any_of_role("approver"))
    for _ in range(ROUNDS):
        number, version = new_revision(team)
        revision_id, tasks = submit(team, number, version)
        assert set(tasks) == {s1.id, s2.id}
        start = last_seq(team.db)

        kinds = no_errors(together(signer(team, mode, s1, tasks[s1.id]), signer(team, mode, s2, tasks[s2.id])))

        assert sorted(kinds)[1] == "signed" and sorted(kinds)[0].startswith(ALREADY), kinds
        assert signatures_valid(team, revision_id) == 1
        assert task_states(team, revision_id) == ["cancelled", "signed"]
        assert state(team, revision_id) == "effective"
        actions = actions_on(team, start, revision_id)
        assert (actions["signature:create"], actions["revision:approve"], actions["revision:make_effective"]) \
            == (1, 1, 1)
        assert actions["signature:failed"] == 0
    assert_audit_sound(team)


# --- (c) two "make effective" at once ---------------------------------------------------------------------------


def _due_documents(team: Team, count: int, effective_at: datetime) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    """`count` documents, each with 1.0 effective and 2.0 approved, due at `effective_at`."""
    made = []
    for _ in range(count):
        number, v1 = new_revision(team)
        first, _tasks = submit(team, number, v1)
        sign_all(team.db, team.env.config, number, v1, at=team.at)
        _, v2 = new_revision(team, number)
        second, _tasks = submit(team, number, v2, effective_at=effective_at)
        sign_all(team.db, team.env.config, number, v2, at=team.at)
        assert (state(team, first), state(team, second)) == ("effective", "approved")
        made.append((number, first, second))
    return made


def scheduler(team: Team, caller: str, at: datetime) -> Callable[[Callable[[], Any]], Any]:
    """A racer running the scheduler's pass: `make_due_effective` alone or the whole `system.tick`."""

    def run(go: Callable[[], Any]) -> Any:
        go()
        with team.db.unit_of_work() as s:
            if caller == "tick":
                return system.tick(s, team.env.settings, team.env.config, at=at)
            return approvals.make_due_effective(s, at=at)

    return run


@pytest.mark.req("ISO-4.2.4c")
@pytest.mark.parametrize("caller", ["make_due_effective", "tick"])
def test_two_make_effective_at_once_leave_exactly_one_effective_revision(team: Team, caller: str):
    set_route(team, named(team.people["s1"], required=1))
    due = team.at + timedelta(days=1)
    for n in range(ROUNDS):
        made = _due_documents(team, 3, due)  # several due at once: the two passes lock documents in turn
        start = last_seq(team.db)
        later = due + timedelta(hours=n + 1)

        no_errors(together(scheduler(team, caller, later), scheduler(team, caller, later)))  # no IntegrityError

        for number, first, second in made:
            effective, states = effective_count(team, number)
            assert effective == 1, states
            assert (state(team, first), state(team, second)) == ("superseded", "effective")
            assert actions_on(team, start, first) == Counter({"revision:supersede": 1})
            assert actions_on(team, start, second) == Counter({"revision:make_effective": 1})
    assert_audit_sound(team)


# --- (d) one person, the same signature twice -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_double_submit_from_two_threads_gives_one_signature(team: Team, mode: str):
    s1 = team.people["s1"]
    set_route(team, named(s1, required=1))
    for _ in range(ROUNDS):
        number, version = new_revision(team)
        revision_id, tasks = submit(team, number, version)
        start = last_seq(team.db)

        kinds = no_errors(together(signer(team, mode, s1, tasks[s1.id]), signer(team, mode, s1, tasks[s1.id])))

        assert sorted(kinds)[1] == "signed" and sorted(kinds)[0].startswith(ALREADY), kinds
        assert signatures_valid(team, revision_id) == 1
        assert state(team, revision_id) == "effective"
        actions = actions_on(team, start, revision_id)
        assert (actions["signature:create"], actions["revision:approve"], actions["revision:make_effective"]) \
            == (1, 1, 1)
        assert actions["signature:failed"] == 0
    assert_audit_sound(team)


# --- beyond the brief: the decisions that end a submission, racing each other -----------------------------------
#
# On PostgreSQL both races below deadlock (psycopg DeadlockDetected, an OperationalError: a 500 through the API)
# with the services as they are:
# - sign vs reject: `record_signature` locks the revision, then its task, then (stage complete) updates the other
#   task to cancel it; `reject` locks its task first and then the revision: opposite orders;
# - sign vs recall: `recall` locks the document (FOR UPDATE) and then updates the revision, which the signer has
#   locked; the signer's second UPDATE of the revision in one transaction (approve, then make effective) fires the
#   foreign-key check on revisions.document_id (PostgreSQL checks it when the old row version is the transaction's
#   own), which takes FOR KEY SHARE on the document: blocked by the recall's FOR UPDATE.
# Making the document lock FOR NO KEY UPDATE alone turns the second deadlock into a lost update: `recall` read the
# revision as in review before the signer committed and then writes `draft` over `effective`. The fix: every
# decision (sign, reject, recall) locks document, revision (read afresh), then tasks, in that order.


@pytest.mark.parametrize("mode", MODES)
def test_a_signature_and_a_rejection_of_an_any_one_stage_at_once(team: Team, mode: str, request: pytest.FixtureRequest):
    """One of them decides the stage; the other is told it was already decided. Nothing else."""
    s1, s2 = team.people["s1"], team.people["s2"]
    set_route(team, any_of_role("approver"))
    for _ in range(ROUNDS):
        number, version = new_revision(team)
        revision_id, tasks = submit(team, number, version)
        start = last_seq(team.db)

        kinds = no_errors(together(signer(team, mode, s1, tasks[s1.id]), rejecter(team, mode, s2, tasks[s2.id])))

        signed = kinds[0] == "signed"
        if signed:
            assert kinds[1].startswith(ALREADY), kinds
            assert state(team, revision_id) == "effective"
            assert task_states(team, revision_id) == ["cancelled", "signed"]
        else:
            assert kinds[0].startswith(ALREADY) and kinds[1] == "ok", kinds
            assert state(team, revision_id) == "draft"
            assert task_states(team, revision_id) == ["cancelled", "rejected"]
        assert signatures_valid(team, revision_id) == int(signed)
        actions = actions_on(team, start, revision_id)
        assert (actions["revision:make_effective"], actions["revision:reject"]) == (int(signed), int(not signed))
    assert_audit_sound(team)


@pytest.mark.parametrize("mode", MODES)
def test_a_recall_at_the_moment_of_the_last_signature(team: Team, mode: str, request: pytest.FixtureRequest):
    """Either the signature counts and the recall is refused, or the recall wins and nothing is signed; never an
    effective revision turned back into a draft."""
    s1 = team.people["s1"]
    set_route(team, named(s1, required=1))
    for _ in range(ROUNDS):
        number, version = new_revision(team)
        revision_id, tasks = submit(team, number, version)
        start = last_seq(team.db)

        kinds = no_errors(together(signer(team, mode, s1, tasks[s1.id]), recaller(team, mode, number, version)))

        actions = actions_on(team, start, revision_id)
        final = state(team, revision_id)
        if kinds[0] == "signed":
            assert kinds[1] == "conflict: A change from 'effective' to 'draft' is not allowed.", (kinds, actions)
            assert final == "effective", (kinds, actions)
            assert actions["revision:recall"] == 0
        else:
            assert kinds[0].startswith(ALREADY) and kinds[1] == "ok", (kinds, actions)
            assert final == "draft"
            assert signatures_valid(team, revision_id) == 0
            assert actions["revision:make_effective"] == 0
    assert_audit_sound(team)
