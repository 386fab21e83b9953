"""Demo documents: a handful of realistic SOPs and related documents, written here with python-docx (not copied
from anywhere), put through the same upload path as a real one, in several lifecycle states."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from docx import Document as Docx
from docx.shared import Pt
from sqlalchemy import func, select

from docctl.blobstore.base import BlobStore
from docctl.db.models import Document
from docctl.db.session import Database
from docctl.domain.lifecycle import Step
from docctl.services import accounts, approvals, documents, revisions, sessions
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


def sop_docx(number: str, title: str, version: str, sections: tuple[Section, ...]) -> bytes:
    doc = Docx()
    style = doc.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)
    header = doc.sections[0].header.paragraphs[0]
    header.text = f"{number}  {title}  (version {version})"
    doc.add_heading(f"{number}: {title}", level=0)
    for n, section in enumerate(sections, start=1):
        doc.add_heading(f"{n}. {section.heading}", level=1)
        for text in section.paragraphs:
            if text.startswith("Step:"):
                doc.add_paragraph(text.removeprefix("Step:").strip().capitalize(), style="List Number")
            else:
                doc.add_paragraph(text)
    doc.add_heading(f"{len(sections) + 1}. Revision history", level=1)
    table = doc.add_table(rows=2, cols=3)
    table.style = "Table Grid"
    for i, cell in enumerate(("Version", "Change", "Reason")):
        table.cell(0, i).text = cell
    for i, cell in enumerate((version, "See the change summary in docctl", "Periodic review")):
        table.cell(1, i).text = cell
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


MONITORING = (
    Section("Purpose", ("This procedure describes how clinical research associates plan, conduct and report "
                        "monitoring visits at investigator sites, so that the rights and safety of participants "
                        "are protected and the trial data are accurate, complete and verifiable.",)),
    Section("Scope", ("It applies to on-site and remote monitoring of interventional studies sponsored by the "
                      "company, from site initiation to close-out.",)),
    Section("Responsibilities", ("The clinical research associate (CRA) prepares, conducts and reports the visit. "
                                 "The clinical trial manager reviews the report and escalates findings.",)),
    Section("Procedure", (
        "Step: confirm the visit with the site at least ten working days in advance and send the agenda.",
        "Step: review the monitoring plan, open action items and the risk indicators before the visit.",
        "Step: perform source data verification of the critical data points defined in the monitoring plan.",
        "Step: check informed consent forms for every participant enrolled since the last visit.",
        "Step: check investigational product accountability, storage temperature logs and excursions.",
        "Step: document findings, protocol deviations and actions in the visit report within five working days.",
    )),
    Section("References", ("ICH E6(R3) Good Clinical Practice; the study monitoring plan.",)),
)
CONSENT = (
    Section("Purpose", ("This procedure sets out how informed consent is obtained and documented before any "
                        "study-specific procedure.",)),
    Section("Procedure", (
        "Step: give the participant the approved information sheet and enough time to decide.",
        "Step: answer all questions; the participant and the person obtaining consent sign and date the form.",
        "Step: give the participant a copy and file the original in the investigator site file.",
        "Step: re-consent participants when a new version of the information sheet is approved.",
    )),
)
DOC_CONTROL = (
    Section("Purpose", ("This procedure describes how controlled documents are written, reviewed, approved, "
                        "made effective, distributed, periodically reviewed and retired.",)),
    Section("Procedure", (
        "Step: the author uploads each revision with a change summary and states whether the change is major "
        "or minor.",
        "Step: reviewers and approvers sign electronically; quality assurance gives the final approval.",
        "Step: staff in the affected job functions are trained before or at the effective date.",
        "Step: superseded versions are withdrawn from use and kept for the retention period.",
    )),
)
SHIPMENT = (
    Section("Purpose", ("Packing and shipping frozen biological samples on dry ice.",)),
    Section("Procedure", (
        "Step: pre-cool the shipper and fill it with at least 10 kg of dry ice.",
        "Step: place the samples in the secondary container with absorbent material and a temperature logger.",
        "Step: label the package UN 1845 and book the courier before 12:00 on Monday to Wednesday.",
    )),
)


@dataclass(frozen=True)
class Plan:
    type_code: str
    department: str
    title: str
    sections: tuple[Section, ...]
    steps: tuple[tuple[str, str, tuple[Step, ...]], ...]  # (change, summary, lifecycle steps) per revision
    reject_once: bool = False  # the first reviewer rejects the first submission once


PLANS = (
    Plan("SOP", "CLIN", "Monitoring visits", MONITORING, (
        ("major", "First issue", (Step.SUBMIT, Step.APPROVE, Step.MAKE_EFFECTIVE)),
        ("major", "Remote monitoring added; source data verification by risk", (Step.SUBMIT, Step.APPROVE,
                                                                                Step.MAKE_EFFECTIVE)),
    ), reject_once=True),
    Plan("SOP", "QA", "Control of documents", DOC_CONTROL, (
        ("major", "First issue", (Step.SUBMIT, Step.APPROVE, Step.MAKE_EFFECTIVE)),
    )),
    Plan("SOP", "CLIN", "Informed consent process", CONSENT, (
        ("major", "First issue", (Step.SUBMIT, Step.APPROVE, Step.MAKE_EFFECTIVE)),
        ("minor", "Clarified re-consent after amendments", ()),
    )),
    Plan("WI", "LAB", "Shipping samples on dry ice", SHIPMENT, (
        ("major", "First issue", (Step.SUBMIT,)),
    )),
)


def sign_route(database: Database, config: AccountConfig, number: str, version: str,
                passwords: dict[str, str], at: datetime, *, reject_first: bool = False) -> datetime:
    """Every stage signed by its first assignee, with their own password, through the real ceremony services."""
    for _ in range(20):
        with database.read() as s:
            r = revisions.find(documents.get_document(s, number), version)
            pending = [t for t in approvals.tasks_of(s, r.id) if t.state == "pending" and t.round == r.round]
            if not pending:
                return at
            task = pending[0]
            signer = accounts.get_user(s, task.assignee_id)
        at += timedelta(minutes=7)
        password = passwords[signer.username]
        if reject_first:
            reject_first = False
            with database.read() as s:
                verdict = sessions.verify_credentials(s, config, username=signer.username, password=password)
            with database.unit_of_work() as s:
                approvals.reject(s, config, user_id=signer.id, task_id=task.id, verified_hash=verdict.verified_hash,
                                 username=signer.username, at=at,
                                 reason="Section 4 must say who files the visit report; please add it.")
            return at
        with database.read() as s:
            prepared = approvals.prepare_signature(s, config, user_id=signer.id, task_id=task.id,
                                                   username=signer.username, password=password,
                                                   meaning=task.meaning, at=at)
        with database.unit_of_work() as s:
            approvals.record_signature(s, config, prepared=prepared, at=at)
    return at


def seed_documents(
    database: Database, store: BlobStore, config: AccountConfig, *, author: str, passwords: dict[str, str],
    at: datetime, progress: Callable[[str], None] = print,
) -> int:
    """Add the demo documents when there are none yet, approved through the real workflow with genuine
    signatures by the demo users; returns how many documents were added."""
    with database.read() as s:
        if s.scalars(select(func.count()).select_from(Document)).one():
            return 0
        user = accounts.find_user(s, author)
        if user is None:
            return 0
        principal = Principal.of(user)
    added = 0
    for plan in PLANS:
        with database.unit_of_work() as s:
            d = documents.create_document(s, principal=principal, type_code=plan.type_code, title=plan.title,
                                          department=plan.department, at=at)
            number = d.number
        for n, (change, summary, steps) in enumerate(plan.steps):
            label = f"{n + 1}.0" if change == "major" else f"{n}.1"
            content = sop_docx(number, plan.title, label, plan.sections)
            progress(f"  {number} v{label}: {summary}")
            prepared = revisions.prepare_upload(store, stream=io.BytesIO(content), filename=f"{number}.docx",
                                                max_bytes=10 * 1024 * 1024)
            at += timedelta(minutes=5)
            with database.unit_of_work() as s:
                r = revisions.create_revision(s, principal=principal, number=number, upload=prepared, change=change,
                                              change_summary=summary, reason="demo data", at=at)
                version = r.version
            if Step.SUBMIT in steps:
                at += timedelta(minutes=3)
                with database.unit_of_work() as s:
                    approvals.submit(s, principal=principal, number=number, version=version, at=at)
                if Step.MAKE_EFFECTIVE in steps:
                    if plan.reject_once and n == 0:
                        at = sign_route(database, config, number, version, passwords, at, reject_first=True)
                        at += timedelta(minutes=30)
                        with database.unit_of_work() as s:
                            approvals.submit(s, principal=principal, number=number, version=version, at=at)
                    at = sign_route(database, config, number, version, passwords, at)
        added += 1
    return added
