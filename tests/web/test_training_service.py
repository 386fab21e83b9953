"""The training matrix through the services on SQLite and PostgreSQL: assignments follow effective revisions,
function grants and requirements; supersession, "no retraining", "train before effective", the scheduler,
read-and-understood signatures and the point-in-time answer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from docctl.db.models import Signature, TrainingRecord
from docctl.errors import Conflict
from docctl.services import system, training, training_reports
from docctl.services.principal import Principal
from tests.fixtures.training import (
    OPERATOR,
    acknowledge,
    approvers,
    assignments,
    function,
    grant,
    open_assignment,
    publish,
    revision_of,
    upload,
)
from tests.fixtures.workflow import make_ready
from tests.web.audit_helpers import actions_since, last_seq


@pytest.fixture
def world(any_env):
    env = any_env
    approvers(env)
    for name in ("ann", "bob"):
        make_ready(env.db, env.config, env.user(name, "staff").id, at=env.clock.now())
    return env


@pytest.mark.req("TR-MATRIX")
def test_publishing_and_granting_assign_training_and_a_new_version_supersedes_open_ones(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    assert assignments(env, "ann") == []  # nothing in force yet
    start = last_seq(env.db)
    publish(env, number, v1)
    first = open_assignment(env, "ann", number)
    assert first.due_at == env.clock.now() + timedelta(days=14)
    assert "training:assign" in actions_since(env.db, start)
    grant(env, "bob", "CRA")  # gaining the function assigns what is in force
    bob_first = open_assignment(env, "bob", number)
    assert acknowledge(env, "bob", bob_first.id) is not None

    env.clock.advance(timedelta(days=1))
    _, v2 = upload(env, number)
    publish(env, number, v2)
    ann = {a.revision_id: a for a in assignments(env, "ann", number)}
    old, new = ann[first.revision_id], ann[revision_of(env, number, v2).id]
    assert old.state == "superseded" and old.superseded_by_id == new.id and new.state == "open"
    # bob completed v1, but a major revision needs retraining
    assert open_assignment(env, "bob", number).revision_id == new.revision_id


@pytest.mark.req("TR-MATRIX")
def test_a_minor_revision_without_retraining_keeps_completions(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    grant(env, "bob", "CRA")
    publish(env, number, v1)
    signed = acknowledge(env, "ann", open_assignment(env, "ann", number).id)
    env.clock.advance(timedelta(days=2))
    _, v11 = upload(env, number, change="minor")
    assert v11 == "1.1"
    publish(env, number, v11, training_required=False)
    r11 = revision_of(env, number, v11)
    ann = [a for a in assignments(env, "ann", number) if a.revision_id == r11.id]
    assert len(ann) == 1 and ann[0].state == "completed"
    with env.db.read() as s:
        record = s.get(TrainingRecord, ann[0].record_id)
        assert record.method == "carried_over" and record.signature_id == signed.id and record.version == "1.0"
    # bob had not finished v1.0: his open assignment moves to v1.1
    assert open_assignment(env, "bob", number).revision_id == r11.id
    with env.db.read() as s:
        m = training_reports.matrix(s, principal=OPERATOR, now=env.clock.now())
    cells = {row.username: row.cells[0] for row in m.rows}
    assert cells["ann"].status == "complete" and cells["ann"].version == "1.0"
    assert cells["bob"].status == "due"


def test_only_a_minor_revision_of_a_document_in_force_may_skip_retraining(world):
    env = world
    number, v1 = upload(env)
    with env.db.unit_of_work() as s, pytest.raises(Exception, match="minor revision"):
        from docctl.services import accounts, approvals

        approvals.submit(s, principal=Principal.of(accounts.find_user(s, "writer")), number=number, version=v1,
                         training_required=False, at=env.clock.now())


@pytest.mark.req("TR-MATRIX")
def test_train_before_effective_assigns_at_approval_due_at_the_effective_date(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    when = env.clock.now() + timedelta(days=10)
    publish(env, number, v1, effective_at=when, train_before_effective=True)
    assert revision_of(env, number, v1).state == "approved"
    a = open_assignment(env, "ann", number)
    assert a.due_at == when
    assert acknowledge(env, "ann", a.id) is not None  # may be read before it takes effect
    env.clock.advance(timedelta(days=10))
    with env.db.unit_of_work() as s:
        assert system.tick(s, env.settings, env.config, at=env.clock.now()).made_effective == 1
    done = assignments(env, "ann", number)
    assert [x.state for x in done] == ["completed"]  # no second assignment once effective


@pytest.mark.req("TR-MATRIX")
def test_the_scheduler_reminds_then_marks_overdue_once(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    publish(env, number, v1)
    env.clock.advance(timedelta(days=12))
    with env.db.unit_of_work() as s:
        report = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert (report.training_reminded, report.training_overdue) == (1, 0)
    env.clock.advance(timedelta(days=3))
    start = last_seq(env.db)
    with env.db.unit_of_work() as s:
        report = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert (report.training_reminded, report.training_overdue) == (0, 1)
    assert actions_since(env.db, start) == ["training:overdue"]
    with env.db.unit_of_work() as s:
        again = system.tick(s, env.settings, env.config, at=env.clock.now())
    assert again.training_overdue == 0
    with env.db.read() as s:
        late = training_reports.overdue(s, principal=OPERATOR, now=env.clock.now())
    assert [(o.username, o.number, o.days) for o in late] == [("ann", number, 1)]


def test_revoking_the_function_cancels_open_training_but_keeps_completions(world):
    env = world
    a_num, v1 = upload(env, title="A")
    b_num, w1 = upload(env, title="B")
    function(env, "CRA", a_num, b_num)
    grant(env, "ann", "CRA")
    publish(env, a_num, v1)
    publish(env, b_num, w1)
    acknowledge(env, "ann", open_assignment(env, "ann", a_num).id)
    with env.db.unit_of_work() as s:
        training.revoke_function(s, principal=OPERATOR, username="ann", code="CRA", reason="left", at=env.clock.now())
    states = sorted(a.state for a in assignments(env, "ann"))
    assert states == ["cancelled", "completed"]
    grant(env, "ann", "CRA")  # back again: a fresh assignment for B, A stays complete
    states = sorted(a.state for a in assignments(env, "ann"))
    assert states == ["cancelled", "completed", "open"]


@pytest.mark.req("TR-RU")
def test_read_and_understood_is_a_signature_bound_to_the_content_hash_and_viewing_is_not_enough(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    publish(env, number, v1)
    a = open_assignment(env, "ann", number)
    with pytest.raises(Conflict, match="Open the document"):
        acknowledge(env, "ann", a.id, view=False)
    assert acknowledge(env, "ann", a.id, password="Wrong-password-123") is None
    assert open_assignment(env, "ann", number).opened_at is not None  # viewed, still open
    sig = acknowledge(env, "ann", a.id)
    manifest = json.loads(sig.manifest)
    r = revision_of(env, number, v1)
    assert manifest["revision"]["content_sha256"] == r.source_sha256
    assert manifest["meaning"] == "Read and understood" and manifest["task_id"] == str(a.id)
    with pytest.raises(Conflict, match="already completed"):
        acknowledge(env, "ann", a.id)
    with env.db.read() as s:
        assert len(s.scalars(select(Signature).where(Signature.assignment_id == a.id)).all()) == 1


@pytest.mark.req("ISO-6.2e")
def test_training_records_cannot_be_changed_or_deleted(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    publish(env, number, v1)
    acknowledge(env, "ann", open_assignment(env, "ann", number).id)
    for statement in ("UPDATE training_records SET result = 'failed'", "DELETE FROM training_records"):
        with pytest.raises(Exception, match="append-only|refused|permission denied"), env.db.unit_of_work() as s:
            s.execute(text(statement))
    with env.db.read() as s:
        assert s.scalars(select(TrainingRecord.result)).all() == ["completed"]


@pytest.mark.req("TR-PIT")
def test_point_in_time_across_two_revisions(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    t0 = env.clock.now()
    publish(env, number, v1)
    env.clock.advance(timedelta(days=1))
    t_signed_v1 = env.clock.now()
    acknowledge(env, "ann", open_assignment(env, "ann", number).id)
    env.clock.advance(timedelta(days=30))
    t_v2 = env.clock.now()
    _, v2 = upload(env, number)
    publish(env, number, v2)
    env.clock.advance(timedelta(days=5))
    t_signed_v2 = env.clock.now()
    acknowledge(env, "ann", open_assignment(env, "ann", number).id)

    def ask(at):
        with env.db.read() as s:
            return training_reports.point_in_time(s, principal=OPERATOR, username="ann", number=number, at=at)

    before = ask(t0 + timedelta(hours=1))
    assert (before.version, before.trained, before.later) == ("1.0", False, True)
    between = ask(t_v2 - timedelta(days=1))
    assert (between.version, between.trained) == ("1.0", True)
    assert between.signature.signed_at == t_signed_v1 and between.required == ["CRA"]
    gap = ask(t_v2 + timedelta(days=1))
    assert (gap.version, gap.trained, gap.later) == ("2.0", False, True)
    after = ask(t_signed_v2 + timedelta(minutes=1))
    assert (after.version, after.trained, after.trained_version) == ("2.0", True, "2.0")
    assert after.signature.signed_at == t_signed_v2
    nothing = ask(t0 - timedelta(days=1))
    assert nothing.version is None and not nothing.trained


@pytest.mark.req("TR-MATRIX")
def test_compliance_per_function_and_department(world):
    env = world
    number, v1 = upload(env)
    other, w1 = upload(env, title="Other")
    function(env, "CRA", number, other)
    function(env, "DM", number)
    grant(env, "ann", "CRA")
    grant(env, "bob", "CRA")
    grant(env, "bob", "DM")
    publish(env, number, v1)
    publish(env, other, w1)
    acknowledge(env, "bob", open_assignment(env, "bob", number).id)
    with env.db.read() as s:
        by_function, by_department, overall = training_reports.compliance(s, principal=OPERATOR, now=env.clock.now())
    figures = {c.key: (c.required, c.complete, c.people) for c in by_function}
    assert figures == {"CRA": (4, 1, 2), "DM": (1, 1, 1)}
    assert (overall.required, overall.complete, overall.percent) == (4, 1, 25)
    assert [(c.key, c.required) for c in by_department] == [("-", 4)]


@pytest.mark.req("TR-MATRIX")
def test_the_compliance_summary_is_kept_until_something_changes_it(world):
    env = world
    number, v1 = upload(env)
    function(env, "CRA", number)
    grant(env, "ann", "CRA")
    publish(env, number, v1)

    def current():
        return training_reports.summary(env.db.read, env.db.unit_of_work, principal=OPERATOR, now=env.clock.now())

    first = current()
    assert (first.overall.required, first.overall.complete) == (1, 0)
    env.clock.advance(timedelta(minutes=5))
    again = current()
    assert again.computed_at == first.computed_at  # the snapshot, not a new computation
    acknowledge(env, "ann", open_assignment(env, "ann", number).id)  # a training event: the snapshot is stale
    after = current()
    assert after.computed_at == env.clock.now() and (after.overall.required, after.overall.complete) == (1, 1)
    grant(env, "bob", "CRA")
    with env.db.read() as s:
        assert training_reports.cached_summary(s, principal=OPERATOR) is None
    assert system.refresh_reports(env.db, at=env.clock.now()) is True  # the scheduler recomputes it
    assert system.refresh_reports(env.db, at=env.clock.now()) is False
    assert current().overall.required == 2
