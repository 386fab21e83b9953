"""Audit-trail reviews signed at the same moment, on SQLite and on PostgreSQL as the application role (threads
lined up with a barrier between `prepare_review`, the slow lock-free part, and `record_review`, the locked part):

- the same reviewer submitting the same range twice (a double click, a retrying client): exactly one record, the
  other a clear conflict;
- two reviewers signing the same range: two records, and one checkpoint made for them (the second finds it).

Afterwards the audit log verifies with no gap, and every review verifies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docctl.audit.verify import verify_log
from docctl.clock import FixedClock
from docctl.db.models import AuditCheckpoint, AuditEvent, AuditReview
from docctl.services import accounts, audit_reviews
from docctl.services.principal import Principal
from tests.fixtures.workflow import make_ready
from tests.integration.test_approval_races import no_errors, together
from tests.web.conftest import STRONG, Env, _env

pytestmark = pytest.mark.req("MHRA-6.13/EMA-6.2.2")
ROUNDS = 3


@pytest.fixture
def race_env(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Env]:
    yield from _env(db_url, tmp_path, clock)


def _prepare(env: Env, username: str, until=None) -> audit_reviews.PreparedReview:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        user = accounts.find_user(s, username)
        assert user is not None
        r = audit_reviews.resolve_range(s, at=env.clock.now(), until=until)
        return audit_reviews.prepare_review(
            s, principal=Principal.of(user), range_=r, scope=["trail"], findings="No findings", username=username,
            password=STRONG, meaning=audit_reviews.MEANING, working_hours=None)


def _record(env: Env, prepared: audit_reviews.PreparedReview):  # type: ignore[no-untyped-def]
    def job(go):  # type: ignore[no-untyped-def]
        go()
        with env.db.unit_of_work() as s:
            review = audit_reviews.record_review(s, env.config, env.app.state.docctl.blobs,  # type: ignore[attr-defined]
                                                 secret=env.settings.secret_key.get_secret_value().encode(),
                                                 prepared=prepared, at=env.clock.now())
            assert review is not None
            return review.id
    return job


def _counts(env: Env) -> tuple[int, int]:
    with env.db.read() as s:
        reviews = s.scalars(select(func.count()).select_from(AuditReview)).one()
        made = s.scalars(select(func.count()).select_from(AuditCheckpoint)
                         .where(AuditCheckpoint.made_by == "review")).one()
        return reviews, made


def _all_verify(env: Env) -> None:
    with env.db.read() as s:
        assert verify_log(s).size == s.scalars(select(func.max(AuditEvent.seq))).one()  # raises when tampered
        for review in s.scalars(select(AuditReview)):
            assert audit_reviews.verify(s, review).ok


def test_the_same_review_submitted_twice_at_once_is_recorded_once(race_env: Env) -> None:
    env = race_env
    make_ready(env.db, env.config, env.user("qa1", "qa").id, at=env.clock.now())
    for n in range(ROUNDS):
        env.user(f"someone{n}", "staff")  # something new to review
        env.clock.advance(timedelta(minutes=1))
        until = env.clock.now()
        first, second = _prepare(env, "qa1", until), _prepare(env, "qa1", until)
        kinds = no_errors(together(_record(env, first), _record(env, second)))
        assert Counter(k.split(":")[0] for k in kinds) == {"signed": 1, "conflict": 1}, kinds
        assert _counts(env)[0] == n + 1
    _all_verify(env)


def test_two_reviewers_signing_the_same_range_at_once_both_sign_over_one_new_checkpoint(race_env: Env) -> None:
    env = race_env
    for name in ("qa1", "qa2"):
        make_ready(env.db, env.config, env.user(name, "qa").id, at=env.clock.now())
    for n in range(ROUNDS):
        env.user(f"someone{n}", "staff")
        env.clock.advance(timedelta(minutes=1))
        until = env.clock.now()
        kinds = no_errors(together(_record(env, _prepare(env, "qa1", until)),
                                   _record(env, _prepare(env, "qa2", until))))
        assert kinds == ["signed", "signed"], kinds
        assert _counts(env) == (2 * (n + 1), n + 1)
    _all_verify(env)
