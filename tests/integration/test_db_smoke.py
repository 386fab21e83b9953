from datetime import UTC, datetime

from docctl.audit import log
from docctl.audit.tags import Tag
from docctl.audit.verify import verify_log


def test_append_and_verify_on_both_databases(db):
    for _ in range(3):
        with db.unit_of_work() as s:
            log.append(s, Tag.SYSTEM_INIT, actor=log.SYSTEM, subject=log.Subject("system", "x"), at=datetime.now(UTC))
    with db.read() as s:
        assert verify_log(s).size == 3


def test_a_missing_log_head_stops_appends_with_a_clear_error(sqlite_db):
    import pytest
    from sqlalchemy import text

    from docctl.errors import ConfigurationError

    with sqlite_db.unit_of_work() as s:
        s.execute(text("DELETE FROM audit_head"))
    with pytest.raises(ConfigurationError, match="audit log head is missing"), sqlite_db.unit_of_work() as s:
        log.append(s, Tag.SYSTEM_INIT, actor=log.SYSTEM, subject=log.Subject("system", "x"), at=datetime.now(UTC))
