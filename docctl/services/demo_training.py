"""Demo training: job functions, a training matrix and staff in every state (complete, due, overdue), made
through the real services with the demo users' own passwords. The demo history starts weeks in the past (see
`docctl demo`), so training assigned then is overdue now, while a revision approved two days ago is due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from docctl.db.models import Document, JobFunction
from docctl.db.session import Database
from docctl.domain.training import READ_AND_UNDERSTOOD
from docctl.services import accounts, approvals, demo_documents, documents, training, training_signing
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal

FUNCTIONS = (
    ("CRA", "Clinical Research Associate", "Monitors sites and source data; obtains and checks consent records."),
    ("DM", "Data Manager", "Designs the database, cleans data and locks it."),
    ("QAA", "QA Auditor", "Audits sites, vendors and processes against the SOPs."),
)
# function -> documents it requires, by title (every function needs "Control of documents")
REQUIRES = {
    "CRA": ("Monitoring visits", "Informed consent process", "Control of documents"),
    "DM": ("Control of documents",),
    "QAA": ("Control of documents", "Monitoring visits"),
}
HOLDERS = {"CRA": ("staff", "cra2", "reviewer"), "DM": ("datamgr",), "QAA": ("auditor", "qa")}
# who signs what in the first days (the rest stays open and becomes overdue)
READ_EARLY = {
    "staff": ("Monitoring visits", "Informed consent process"),
    "cra2": ("Monitoring visits", "Informed consent process", "Control of documents"),
    "reviewer": ("Monitoring visits", "Informed consent process", "Control of documents"),
    "auditor": ("Control of documents", "Monitoring visits"),
    "qa": ("Control of documents",),
}


def _numbers(database: Database) -> dict[str, str]:
    with database.read() as s:
        return {title: number for number, title in s.execute(select(Document.number, Document.title))}


def _acknowledge(database: Database, config: AccountConfig, username: str, password: str, number: str,
                 at: datetime) -> None:
    with database.read() as s:
        user = accounts.find_user(s, username)
        assert user is not None
        principal = Principal.of(user)
        d = documents.get_document(s, number)
        mine = [a for a, r in training.my_assignments(s, user.id) if a.state == "open" and a.document_id == d.id]
    for a in mine:
        with database.unit_of_work() as s:
            training_signing.record_view(s, principal=principal, assignment_id=a.id, what="demo: read on screen",
                                         at=at)
        with database.read() as s:
            prepared = training_signing.prepare_acknowledgement(
                s, config, user_id=user.id, assignment_id=a.id, username=username, password=password,
                meaning=READ_AND_UNDERSTOOD, at=at + timedelta(minutes=6))
        with database.unit_of_work() as s:
            training_signing.record_acknowledgement(s, config, prepared=prepared, at=at + timedelta(minutes=6))


def seed_training(database: Database, config: AccountConfig, *, passwords: dict[str, str], start: datetime,
                  now: datetime, progress: Callable[[str], None] = print) -> bool:
    """Add the demo functions and matrix when there are none; False if they exist already or the demo documents
    are missing."""
    with database.read() as s:
        if s.scalars(select(func.count()).select_from(JobFunction)).one():
            return False
        doccontrol = accounts.find_user(s, "doccontrol")
        author = accounts.find_user(s, "author")
    numbers = _numbers(database)
    if doccontrol is None or author is None or not all(t in numbers for ts in REQUIRES.values() for t in ts):
        return False
    manager = Principal.of(doccontrol)
    at = start + timedelta(days=1)
    with database.unit_of_work() as s:
        for code, name, description in FUNCTIONS:
            training.create_function(s, principal=manager, code=code, name=name, description=description, at=at)
            for title in REQUIRES[code]:
                training.add_requirement(s, principal=manager, code=code, number=numbers[title], at=at,
                                         reason="demo: training matrix set up with the process owners")
    at += timedelta(hours=1)
    with database.unit_of_work() as s:
        for code, people in HOLDERS.items():
            for username in people:
                if accounts.find_user(s, username) is not None:
                    training.grant_function(s, principal=manager, username=username, code=code, at=at,
                                            reason="demo: job description on file")
    progress("  training: job functions CRA, DM, QAA with their documents and holders")
    day = at
    for username, titles in READ_EARLY.items():
        day += timedelta(days=1)
        for title in titles:
            if username in passwords:
                _acknowledge(database, config, username, passwords[username], numbers[title], day)
    # a minor revision approved two days ago: everyone in CRA must read it again, due in twelve days
    consent = numbers["Informed consent process"]
    with database.read() as s:
        d = documents.get_document(s, consent)
        draft = next((r for r in d.revisions if r.state == "draft"), None)
    if draft is not None:
        when = now - timedelta(days=2)
        with database.unit_of_work() as s:
            approvals.submit(s, principal=Principal.of(author), number=consent, version=draft.version, at=when)
        demo_documents.sign_route(database, config, consent, draft.version, passwords, when)
        progress(f"  training: {consent} v{draft.version} approved two days ago, to be read again by CRAs")
        if "cra2" in passwords:
            _acknowledge(database, config, "cra2", passwords["cra2"], consent, now - timedelta(hours=20))
    return True
