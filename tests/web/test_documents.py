"""Controlled documents end to end through the pages and the API: numbering, uploads, renditions, search,
visibility, controlled copies, metadata history, and every action audited."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta

import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import func, select, text

from docctl.db.models import Blob, Document, DocumentHistory, Revision
from docctl.services import accounts, approvals, documents
from docctl.services.principal import Principal
from tests.fixtures.files import make_docx, make_pdf
from tests.fixtures.workflow import make_ready, sign_all
from tests.web.audit_helpers import actions_since, events_since, last_seq
from tests.web.conftest import api_token, login, page_csrf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def people(any_env):
    any_env.user("dc", "document_control")
    any_env.user("writer", "author")
    any_env.user("other", "author")
    any_env.user("worker", "staff")
    any_env.user("insp", "inspector")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        user = any_env.user(name, role)
        make_ready(any_env.db, any_env.config, user.id, at=any_env.clock.now())
    return any_env


def api(env, who):
    client = env.client()
    return client, api_token(client, who)


def new_document(env, who="writer", **extra):
    client, headers = api(env, who)
    body = {"type": "SOP", "title": "Monitoring visits", "department": "CLIN", **extra}
    response = client.post("/api/v1/documents", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def upload(env, number, content, filename, who="writer", change="major", summary="First issue"):
    client, headers = api(env, who)
    return client.post(f"/api/v1/documents/{number}/revisions", headers=headers,
                       files={"file": (filename, content, "application/octet-stream")},
                       data={"change": change, "change_summary": summary, "reason": "new procedure"})


def make_effective(env, number, version):
    """Submit as the owner and sign every stage of the default route (review, approval, QA approval)."""
    with env.db.read() as s:
        owner = Principal.of(accounts.get_user(s, documents.get_document(s, number).owner_id))
    with env.db.unit_of_work() as s:
        approvals.submit(s, principal=owner, number=number, version=version, at=env.clock.now())
    assert len(sign_all(env.db, env.config, number, version, at=env.clock.now())) == 3


@pytest.mark.req("ISO-4.2.4c", "P11-10e.1", "P11-10b")
def test_create_upload_and_read_back_through_the_api(people):
    env = people
    start = last_seq(env.db)
    doc = new_document(env)
    assert doc["number"] == "SOP-CLIN-001"
    pdf = make_pdf(3)
    response = upload(env, doc["number"], pdf, "monitoring.pdf")
    assert response.status_code == 201, response.text
    rev = response.json()
    assert rev["version"] == "1.0" and rev["state"] == "draft" and rev["pages"] == 3
    assert rev["media_type"] == "application/pdf" and rev["rendition"] == "pdf"
    assert rev["content_sha256"] == hashlib.sha256(pdf).hexdigest() == rev["rendition_sha256"]
    client, headers = api(env, "writer")
    original = client.get(f"/api/v1/documents/{doc['number']}/revisions/1.0/content", headers=headers)
    assert original.content == pdf and original.headers["x-content-sha256"] == rev["content_sha256"]
    # the metadata round-trips through the API as JSON beside the exact original bytes (P11-10b)
    meta = client.get(f"/api/v1/documents/{doc['number']}", headers=headers).json()
    assert meta["title"] == "Monitoring visits" and meta["revisions"][0]["content_sha256"] == rev["content_sha256"]
    actions = actions_since(env.db, start)
    assert actions[:2] == ["document:create", "token:issue"] or "document:create" in actions
    assert "revision:create" in actions and "revision:download" in actions
    created = next(e for e in events_since(env.db, start) if e["action"] == "revision:create")
    assert created["subject"]["label"] == "SOP-CLIN-001 v1.0"
    assert created["after"]["content_sha256"] == rev["content_sha256"] and created["reason"] == "new procedure"


@pytest.mark.req("ISO-4.2.4c")
def test_two_authors_creating_at_once_get_two_numbers(people):
    env = people
    numbers, errors = [], []

    def create(who):
        try:
            numbers.append(new_document(env, who, title=f"Doc by {who}")["number"])
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(w,)) for w in ("writer", "other", "dc", "writer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == ["SOP-CLIN-001", "SOP-CLIN-002", "SOP-CLIN-003", "SOP-CLIN-004"]


def test_docx_upload_gets_text_and_a_pdf_rendition(people):
    env = people
    doc = new_document(env)
    rev = upload(env, doc["number"], make_docx(), "monitoring.docx").json()
    assert rev["media_type"] == DOCX and rev["rendition"] == "pdf" and rev["pages"] >= 1
    assert rev["rendition_sha256"] != rev["content_sha256"]
    client, headers = api(env, "writer")
    pdf = client.get(f"/api/v1/documents/{doc['number']}/revisions/1.0/rendition", headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    assert "source data verification" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()


@pytest.mark.req("A11-5/6")
@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.pdf", "empty"),
        (b"hello, this is text", "notes.pdf", "plain text"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "scan.docx", "PNG"),
        (make_pdf(1)[:400], "truncated.pdf", "incomplete"),
    ],
)
def test_bad_uploads_get_a_clear_message_and_leave_nothing_behind(people, content, filename, message):
    env = people
    doc = new_document(env)
    with env.db.read() as s:
        blobs_before = s.scalars(select(func.count()).select_from(Blob)).one()
    start = last_seq(env.db)
    response = upload(env, doc["number"], content, filename)
    assert response.status_code == 422, response.text
    assert message.lower() in response.json()["error"]["message"].lower()
    with env.db.read() as s:
        assert s.scalars(select(func.count()).select_from(Revision)).one() == 0
        assert s.scalars(select(func.count()).select_from(Blob)).one() == blobs_before
    assert actions_since(env.db, start) == ["token:issue"]
    assert list((env.settings.data_dir / "blobs").rglob("*.tmp")) == []


def test_encrypted_pdf_is_refused_with_a_clear_message(people):
    env = people
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(1)))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    response = upload(env, new_document(env)["number"], out.getvalue(), "locked.pdf")
    assert response.status_code == 422 and "password" in response.json()["error"]["message"].lower()


def test_oversized_upload_is_refused(tmp_path, sqlite_url, clock):
    from tests.web.conftest import _env

    env = next(_env(sqlite_url, tmp_path, clock, max_upload_bytes=50_000))
    env.user("writer", "author")
    doc = new_document(env)
    response = upload(env, doc["number"], make_pdf(1) + b"%" * 60_000, "big.pdf")
    assert response.status_code in (413, 422)
    with env.db.read() as s:
        assert s.scalars(select(func.count()).select_from(Revision)).one() == 0


@pytest.mark.req("ISO-4.2.4c", "ISO-4.2.4h", "ISO-4.2.4d")
def test_one_effective_version_superseded_hidden_from_staff_and_watermarked(people):
    env = people
    number = new_document(env)["number"]
    upload(env, number, make_pdf(1, "version one words"), "v1.pdf")
    make_effective(env, number, "1.0")
    env.clock.advance(timedelta(days=30))
    assert upload(env, number, make_docx(words="version two words"), "v2.docx", summary="Update").status_code == 201
    make_effective(env, number, "2.0")
    with env.db.read() as s:
        states = dict(s.execute(select(Revision.major, Revision.state)).all())
    assert states == {1: "superseded", 2: "effective"}
    staff, staff_headers = api(env, "worker")
    assert staff.get(f"/api/v1/documents/{number}/revisions/1.0", headers=staff_headers).status_code == 403
    assert staff.get(f"/api/v1/documents/{number}/revisions/2.0", headers=staff_headers).status_code == 200
    shown = staff.get(f"/api/v1/documents/{number}", headers=staff_headers).json()
    assert [r["version"] for r in shown["revisions"]] == ["2.0"] and shown["current"]["version"] == "2.0"
    found = staff.get("/api/v1/documents?q=version", headers=staff_headers).json()
    assert [(r["number"], r["version"]) for r in found["results"]] == [(number, "2.0")]
    # the inspector still reaches the superseded version, and its copy says what it is
    insp, insp_headers = api(env, "insp")
    copy = insp.get(f"/api/v1/documents/{number}/revisions/1.0/controlled-copy", headers=insp_headers)
    assert copy.status_code == 200
    text_of_copy = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(copy.content)).pages)
    assert "SUPERSEDED" in text_of_copy
    # the database itself refuses a second effective revision (ISO-4.2.4c)
    with pytest.raises(Exception), env.db.unit_of_work() as s:  # noqa: B017,PT011
        s.execute(text("UPDATE revisions SET state = 'effective' WHERE major = 1"))


@pytest.mark.req("A11-8.1")
def test_controlled_copy_carries_every_field_and_is_audited(people):
    env = people
    number = new_document(env)["number"]
    upload(env, number, make_pdf(2), "v1.pdf")
    make_effective(env, number, "1.0")
    start = last_seq(env.db)
    client, headers = api(env, "worker")
    copy = client.get(f"/api/v1/documents/{number}/controlled-copy", headers=headers)
    assert copy.status_code == 200 and copy.headers["content-type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(copy.content)).pages
    assert len(pages) == 3  # two pages and the signature page
    for page in pages:
        words = page.extract_text()
        for expected in (number, "Monitoring visits", "1.0", "EFFECTIVE", "2026-11-21", "Worker Tester",
                         "Uncontrolled when printed"):
            assert expected in words, (expected, words)
    assert "Approval state" in pages[-1].extract_text()
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["token:issue", "revision:controlled_copy"]
    assert events[1]["actor"]["username"] == "worker" and events[1]["after"]["pages"] == 3


@pytest.mark.req("P11-10e.3", "A11-9")
def test_metadata_edits_need_a_reason_and_every_earlier_state_stays_readable(people):
    env = people
    number = new_document(env)["number"]
    client, headers = api(env, "writer")
    assert client.patch(f"/api/v1/documents/{number}", headers=headers, json={"title": "X"}).status_code == 422
    titles = ["Monitoring visits (on site)", "Monitoring visits (remote)", "Monitoring and close-out visits"]
    start = last_seq(env.db)
    for n, title in enumerate(titles):
        response = client.patch(f"/api/v1/documents/{number}", headers=headers,
                                json={"title": title, "reason": f"edit {n + 1}"})
        assert response.status_code == 200, response.text
    with env.db.read() as s:
        d = s.scalars(select(Document).where(Document.number == number)).one()
        rows = list(s.scalars(select(DocumentHistory).where(DocumentHistory.document_id == d.id)
                              .order_by(DocumentHistory.edition)))
    assert [r.snapshot["title"] for r in rows] == ["Monitoring visits", *titles]
    assert [r.reason for r in rows] == ["created", "edit 1", "edit 2", "edit 3"]
    edits = [e for e in events_since(env.db, start) if e["action"] == "document:update"]
    assert [(e["before"]["title"], e["after"]["title"], e["reason"]) for e in edits] == [
        ("Monitoring visits", titles[0], "edit 1"), (titles[0], titles[1], "edit 2"), (titles[1], titles[2], "edit 3")
    ]
    # another author may not edit someone else's document; document control may
    other, other_headers = api(env, "other")
    assert other.patch(f"/api/v1/documents/{number}", headers=other_headers,
                       json={"title": "Hijack", "reason": "x"}).status_code == 403
    dc, dc_headers = api(env, "dc")
    assert dc.patch(f"/api/v1/documents/{number}", headers=dc_headers,
                    json={"department": "qa", "reason": "moved to QA"}).json()["department"] == "QA"


@pytest.mark.req("ISO-4.2.4f")
def test_external_documents_keep_their_origin_and_are_flagged(people):
    env = people
    doc = new_document(env, "dc", title="ICH E6(R3) Good Clinical Practice", type="POL", external=True,
                       external_source="ICH", external_version="Step 4", external_issued_on="2025-01-06")
    assert doc["external"] and doc["external_source"] == "ICH" and doc["external_version"] == "Step 4"
    assert doc["external_issued_on"] == "2025-01-06" and doc["number"] == "POL-001"
    client, headers = api(env, "dc")
    missing = client.post("/api/v1/documents", headers=headers,
                          json={"type": "POL", "title": "Vendor manual", "department": "QA", "external": True})
    assert missing.status_code == 422 and "source" in missing.json()["error"]["message"]
    page = login(env.client(), "dc").get(f"/documents/{doc['number']}").text
    assert "External document from <strong>ICH</strong>" in page


@pytest.mark.req("ISO-4.2.4d")
def test_search_by_number_title_and_words_inside_with_filters(people):
    env = people
    a = new_document(env, title="Monitoring visits")["number"]
    b = new_document(env, title="Informed consent", department="QA")["number"]
    upload(env, a, make_docx(words="source data verification"), "a.docx")
    upload(env, b, make_pdf(1, "temperature excursion handling"), "b.pdf")
    make_effective(env, a, "1.0")
    client, headers = api(env, "insp")

    def numbers(**params):
        found = client.get("/api/v1/documents", headers=headers, params=params)
        assert found.status_code == 200, found.text
        return [(r["number"], r["state"]) for r in found.json()["results"]]

    assert numbers(q="verification") == [(a, "effective")]
    assert numbers(q="excursion") == []  # b is a draft: current versions only by default
    assert numbers(q="excursion", state="all") == [(b, "draft")]
    assert numbers(q="consent", state="draft") == [(b, "draft")]
    assert numbers(q=a) == [(a, "effective")]
    assert numbers(q="SOP-QA", state="all") == [(b, "draft")]
    assert numbers(state="all", department="CLIN") == [(a, "effective")]
    assert numbers(state="all", sort="title") == [(b, "draft"), (a, "effective")]
    assert numbers(q="monit") == [(a, "effective")]  # prefix of the last word
    assert client.get("/api/v1/documents?sort=evil", headers=headers).status_code == 422
    # a title change is searchable at once
    w, wh = api(env, "writer")
    w.patch(f"/api/v1/documents/{a}", headers=wh, json={"title": "Oversight visits", "reason": "rename"})
    assert numbers(q="oversight") == [(a, "effective")]
    assert numbers(q="quote\" OR 1=1 --") == []


def test_new_upload_replaces_an_open_draft_and_versions_follow_major_minor(people):
    env = people
    number = new_document(env)["number"]
    assert upload(env, number, make_pdf(1), "a.pdf").json()["version"] == "1.0"
    second = upload(env, number, make_pdf(2), "b.pdf", change="minor").json()
    assert second["version"] == "1.1"
    client, headers = api(env, "writer")
    doc = client.get(f"/api/v1/documents/{number}", headers=headers).json()
    assert {r["version"]: r["state"] for r in doc["revisions"]} == {"1.0": "withdrawn", "1.1": "draft"}
    assert upload(env, number, make_pdf(1), "c.pdf", change="major").json()["version"] == "2.0"


def test_pages_list_document_revision_and_upload(people):
    env = people
    client = login(env.client(), "writer")
    csrf = page_csrf(client, "/documents/new")
    created = client.post("/documents", data={"type": "WI", "title": "Sample <b>shipping</b>", "department": "lab",
                                              "csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == "/documents/WI-LAB-001/revisions/new?created=1"
    form = client.get(created.headers["location"]).text
    assert "progress" in form and "hx-encoding" in form
    uploaded = client.post("/documents/WI-LAB-001/revisions", data={"change": "major", "change_summary": "First",
                           "csrf_token": csrf}, files={"file": ("s.docx", make_docx(), DOCX)}, follow_redirects=False)
    assert uploaded.status_code == 303
    page = client.get(uploaded.headers["location"]).text
    assert "Version 1.0 was uploaded as a draft" in page and "pages/1.png" in page
    assert "&lt;b&gt;shipping&lt;/b&gt;" in page
    image = client.get("/documents/WI-LAB-001/revisions/1.0/pages/1.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    listing = client.get("/documents?q=verification&status=all").text
    assert "WI-LAB-001" in listing
    bad = client.post("/documents/WI-LAB-001/revisions", data={"change": "major", "change_summary": "x",
                      "csrf_token": csrf}, files={"file": ("x.pdf", b"not a pdf", "application/pdf")},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "alert-error" in bad.text and "<html" not in bad.text


def test_document_types_are_administered_with_reasons(people):
    env = people
    env.user("root", "admin")
    client, headers = api(env, "root")
    start = last_seq(env.db)
    made = client.post("/api/v1/document-types", headers=headers,
                       json={"code": "VAL", "name": "Validation plan", "numbering_pattern": "VAL-{year}-{seq:03}"})
    assert made.status_code == 201
    assert client.patch("/api/v1/document-types/VAL", headers=headers,
                        json={"training_window_days": 30}).status_code == 422  # no reason
    changed = client.patch("/api/v1/document-types/VAL", headers=headers,
                           json={"training_window_days": 30, "reason": "longer window agreed with QA"})
    assert changed.json()["training_window_days"] == 30
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["document_type:create", "document_type:update"]
    assert events[1]["before"] == {"training_window_days": 14} and events[1]["after"] == {"training_window_days": 30}
    assert new_document(env, type="VAL")["number"] == "VAL-2026-001"
    bad = client.post("/api/v1/document-types", headers=headers,
                      json={"code": "BAD", "name": "x", "numbering_pattern": "BAD-{seq}{seq}"})
    assert bad.status_code == 422
    staff, staff_headers = api(env, "worker")
    assert staff.post("/api/v1/document-types", headers=staff_headers,
                      json={"code": "NOPE", "name": "x", "numbering_pattern": "N-{seq}"}).status_code == 403
