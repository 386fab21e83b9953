"""The evidence package (issue 6, item 6): an inspector downloads a document's records as a CA-signed zip that
`verify_package` checks with no database; every member is covered, the export is audited naming its checkpoint,
record.pdf shows every signature and event; and a change to any one member is caught and named."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docctl.db.models import AuditEvent, Revision, Signature, TrainingAssignment
from docctl.evidence import layout
from docctl.evidence.record_pdf import utc_text
from docctl.evidence.verify import verify_package
from docctl.services import documents
from tests.fixtures.evidence import document_with_history, download, members, rewrite
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import api_token, login


@pytest.fixture
def world(any_env):
    return any_env, document_with_history(any_env)


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def _document_seqs(env, number: str, tree_size: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Every event about the document, its revisions and its training assignments, up to the checkpoint."""
    with env.db.read() as s:
        d = documents.get_document(s, number)
        ids = {("document", str(d.id))} | {("revision", str(r.id)) for r in d.revisions}
        ids |= {("training_assignment", str(a)) for a in s.scalars(
            select(TrainingAssignment.id).where(TrainingAssignment.document_id == d.id))}
        rows = s.execute(select(AuditEvent.seq, AuditEvent.subject_type, AuditEvent.subject_id)
                         .where(AuditEvent.seq <= tree_size).order_by(AuditEvent.seq)).all()
    assert any(kind == "training_assignment" for kind, _ in ids)
    return [seq for seq, kind, i in rows if (kind, i) in ids]


@pytest.mark.req("P11-10b", "FDAQA-Q3")
def test_the_inspector_downloads_a_package_that_verifies_offline(world):
    env, number = world
    before = last_seq(env.db)
    response = download(env, number)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    tree_size = int(response.headers["x-docctl-checkpoint-tree-size"])
    assert f'filename="evidence-{number}-{tree_size}.zip"' in response.headers["content-disposition"]

    report = verify_package(io.BytesIO(response.content))
    assert report.ok, [str(p) for p in report.problems]
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", report.ca_fingerprint)

    # the export was recorded, naming the checkpoint the package is proven against
    recorded = [e for e in events_since(env.db, before) if e["action"] == "evidence:export"]
    assert len(recorded) == 1 and recorded[0]["actor"]["username"] == "irene"
    assert recorded[0]["subject"]["label"] == number
    checkpoint = recorded[0]["after"]["checkpoint"]
    assert (checkpoint["tree_size"], checkpoint["root"]) == (tree_size, response.headers["x-docctl-checkpoint-root"])
    assert "revision:controlled_copy" in [e["action"] for e in events_since(env.db, before)]

    files = members(response.content)
    manifest = json.loads(files["manifest.json"])
    # a certified copy: when, by whom and by what it was made, and the SHA-256 of every file (FDAQA-Q3)
    assert manifest["made_by"]["username"] == "irene" and manifest["generator"].startswith("docctl ")
    assert manifest["made_at"] == "2026-11-22T10:00:00.000000Z"
    assert {f["path"] for f in manifest["files"]} == set(files) - {"manifest.json", "manifest.sig"}
    assert manifest["checkpoint"]["tree_size"] == tree_size

    # every event about the document up to the checkpoint, each with its proof
    lines = [json.loads(line) for line in files["audit/events.jsonl"].splitlines()]
    assert [line["seq"] for line in lines] == _document_seqs(env, number, tree_size)
    assert len(lines) > 20 and all(line["tree_size"] == tree_size for line in lines)


@pytest.mark.req("P11-10b")
def test_the_electronic_copy_holds_the_stored_bytes_and_the_metadata(world):
    env, number = world
    files = members(download(env, number).content)
    document = json.loads(files["document.json"])
    with env.db.read() as s:
        d = documents.get_document(s, number)
        stored = {r.version: r for r in s.scalars(select(Revision).where(Revision.document_id == d.id))}
        signatures = {str(x.id): x for x in s.scalars(select(Signature).where(
            Signature.revision_id.in_([r.id for r in stored.values()])))}
    assert (document["document"]["number"], document["document"]["title"]) == (d.number, d.title)
    assert {r["version"]: r["state"] for r in document["revisions"]} == {"1.0": "superseded", "2.0": "effective"}
    for r in document["revisions"]:
        original = files[r["files"]["original"]]
        assert layout.sha256_hex(original) == r["source_sha256"] == stored[r["version"]].source_sha256
    assert {s["id"] for s in document["signatures"]} == set(signatures)
    meanings = {s["meaning"] for s in document["signatures"]}
    assert "Read and understood" in meanings and len(meanings) >= 3  # review, approval, QA release, training
    training = json.loads(files["training/records.json"])
    assert [r["person"]["username"] for r in training["records"]] == ["ann", "ann"]
    assert document["controlled_copy"]["version"] == "2.0"
    assert files["controlled-copy.pdf"].startswith(b"%PDF")


@pytest.mark.req("P11-10b")
def test_record_pdf_shows_every_signature_manifestation_and_every_event(world):
    env, number = world
    files = members(download(env, number).content)
    text = _pdf_text(files["record.pdf"])
    document = json.loads(files["document.json"])
    assert len(document["signatures"]) >= 6
    for sig in document["signatures"]:
        for part in (sig["meaning"], sig["printed_name"], utc_text(sig["signed_at"]), sig["id"]):
            assert part in text, part
    for line in files["audit/events.jsonl"].splitlines():
        event = json.loads(json.loads(line)["canonical"])
        assert re.search(rf"#{event['seq']}(?!\d)", text), event["seq"]
        assert event["action"] in text


@pytest.mark.req("P11-10b")
def test_the_readme_describes_the_members(world):
    env, number = world
    files = members(download(env, number).content)
    readme = files["README.txt"].decode()
    tops = {name.split("/")[0] + ("/" if "/" in name else "") for name in files}
    for top in tops:
        shown = top if top != "controlled-copy.pdf" else "controlled-copy."
        assert shown in readme, top
    assert "docctl verify-package" in readme and "sha256sum -c MANIFEST.sha256" in readme


def test_only_auditors_get_a_package_and_an_unknown_document_is_404(world):
    env, number = world
    env.user("sam", "staff")
    staff = login(env.client(), "sam")
    assert staff.get(f"/documents/{number}/evidence.zip").status_code == 403
    assert "evidence.zip" not in staff.get(f"/documents/{number}").text
    inspector = login(env.client(), "irene")
    assert f'href="/documents/{number}/evidence.zip"' in inspector.get(f"/documents/{number}").text
    page = inspector.get("/audit", params={"since": "2026-11-21", "until": "2026-11-22"}).text
    assert 'href="/audit/evidence.zip?since=2026-11-21&amp;until=2026-11-22"' in page
    assert download(env, "SOP-NOPE-999").status_code == 404
    api = env.client()
    headers = api_token(env.client(), "irene")
    response = api.get(f"/api/v1/documents/{number}/evidence.zip", headers=headers)
    assert response.status_code == 200 and verify_package(io.BytesIO(response.content)).ok
    assert api.get(f"/api/v1/documents/{number}/evidence.zip", headers=api_token(env.client(), "sam")
                   ).status_code == 403


@pytest.mark.req("P11-10b", "FDAQA-Q3")
def test_a_time_range_package_holds_the_events_signatures_and_training_of_the_range(world):
    env, _number = world
    day = env.clock.now() - timedelta(hours=1)  # the second day: version 2.0 and its training
    browser = login(env.client(), "irene")
    response = browser.get("/audit/evidence.zip", params={"since": day.date().isoformat(),
                                                          "until": day.date().isoformat()})
    assert response.status_code == 200, response.text
    report = verify_package(io.BytesIO(response.content))
    assert report.ok, [str(p) for p in report.problems]
    files = members(response.content)
    records = json.loads(files["records.json"])
    assert records["since"] == f"{day.date().isoformat()}T00:00:00.000000Z"
    signed = {s["version"] for s in records["signatures"]}
    assert signed == {"2.0"}
    lines = [json.loads(json.loads(line)["canonical"]) for line in files["audit/events.jsonl"].splitlines()]
    assert lines and all(e["at"].startswith(day.date().isoformat()) for e in lines)
    assert browser.get("/audit/evidence.zip").status_code == 422  # both dates are needed


def _problems(data: bytes) -> str:
    report = verify_package(io.BytesIO(data))
    assert not report.ok
    return "\n".join(str(p) for p in report.problems)


def _names(member: str, problems: str) -> bool:
    """The member's own path appears (not as the tail of another path: manifest.json vs signatures/x/manifest.json)."""
    return re.search(rf"(?<![\w/.-]){re.escape(member)}(?![\w/.-])", problems) is not None


@pytest.mark.req("P11-10a", "FDAQA-Q3")
def test_one_changed_byte_in_any_member_is_caught_and_named(env):
    """The tamper test: for every member of the zip in turn, one byte changed, the member removed; and a member
    added. The verifier must fail and name the member."""
    number = document_with_history(env)
    data = download(env, number).content
    assert verify_package(io.BytesIO(data)).ok
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [info.filename for info in zf.infolist()]
    assert len(names) > 10 and len(set(names)) == len(names)
    for name in names:
        assert _names(name, _problems(rewrite(data, change=name))), f"a changed byte in {name} was not named"
        assert _names(name, _problems(rewrite(data, drop=name))), f"removing {name} was not named"
    assert _names("extra/notes.txt", _problems(rewrite(data, add=("extra/notes.txt", b"hello"))))
    # a signature bundle added whole (files consistent among themselves) is still named
    sig_dir = next(n for n in names if n.startswith("signatures/")).split("/")[1]
    copied = {n: members(data)[n] for n in names if n.startswith(f"signatures/{sig_dir}/")}
    forged = data
    for n, body in copied.items():
        forged = rewrite(forged, add=(n.replace(sig_dir, "00000000-0000-0000-0000-000000000000"), body))
    assert "signatures/00000000-0000-0000-0000-000000000000/" in _problems(forged)
