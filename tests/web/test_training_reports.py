"""The training report pages through HTTP on a real database: the matrix (statuses, filters, totals), its CSV
export (streamed, audited), compliance with its chart, the overdue list, a person's transcript (page and PDF, with
the signatures' manifestations) and the point-in-time answer across two revisions (TR-PIT). The data is made
through the real services: approvals make revisions effective, people sign read and understood."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docctl.db.models import TrainingAssignment, TrainingRecord
from docctl.domain.training import READ_AND_UNDERSTOOD
from docctl.services import accounts, approvals, documents, training, training_signing
from docctl.services.principal import Principal
from docctl.services.training_reports import CSV_HEADER
from tests.fixtures.files import make_pdf
from tests.fixtures.workflow import make_ready, sign_all
from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import STRONG, api_token, login

OPERATOR = Principal.operator()
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# --- building the data through the real services ---------------------------------------------------------------


def _person(env, username: str, role: str, name: str, department: str = "", *, ready: bool = False,
            zone: str = "UTC"):  # type: ignore[no-untyped-def]
    user = env.user(username, role, full_name=name, time_zone=zone)
    if department:
        with env.db.unit_of_work() as s:
            accounts.update_profile(s, principal=OPERATOR, user_id=user.id, title="", email="", department=department,
                                    time_zone=zone, reason="HR record", at=env.clock.now())
    if ready:
        make_ready(env.db, env.config, user.id, at=env.clock.now())
    return user


def _staff(env) -> None:  # type: ignore[no-untyped-def]
    env.user("writer", "author")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        _person(env, name, role, f"{name.title()} Signer", ready=True)
    _person(env, "insp", "inspector", "Ines Inspector", zone="Europe/Berlin")


def _document(env, title: str, dept: str) -> str:  # type: ignore[no-untyped-def]
    client = env.client()
    headers = api_token(client, "writer")
    number = client.post("/api/v1/documents", headers=headers,
                         json={"type": "SOP", "title": title, "department": dept}).json()["number"]
    _revision(env, number, "first")
    return number


def _revision(env, number: str, summary: str) -> None:  # type: ignore[no-untyped-def]
    client = env.client()
    response = client.post(f"/api/v1/documents/{number}/revisions", headers=api_token(client, "writer"),
                           files={"file": ("a.pdf", make_pdf(1, summary), "application/pdf")},
                           data={"change": "major", "change_summary": summary})
    assert response.status_code == 201, response.text


def _publish(env, number: str, version: str) -> None:  # type: ignore[no-untyped-def]
    """Submit and sign every stage: effective at once."""
    with env.db.unit_of_work() as s:
        writer = accounts.find_user(s, "writer")
        approvals.submit(s, principal=Principal.of(writer), number=number, version=version, effective_at=None,
                         at=env.clock.now())
    sign_all(env.db, env.config, number, version, at=env.clock.now())


def _function(env, code: str, name: str, *numbers: str) -> None:  # type: ignore[no-untyped-def]
    with env.db.unit_of_work() as s:
        training.create_function(s, principal=OPERATOR, code=code, name=name, at=env.clock.now())
        for number in numbers:
            training.add_requirement(s, principal=OPERATOR, code=code, number=number, reason="must know it",
                                     at=env.clock.now())


def _grant(env, username: str, code: str) -> None:  # type: ignore[no-untyped-def]
    with env.db.unit_of_work() as s:
        training.grant_function(s, principal=OPERATOR, username=username, code=code, reason="joined the team",
                                at=env.clock.now())


def _open(env, username: str, number: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    with env.db.read() as s:
        user = accounts.find_user(s, username)
        d = documents.get_document(s, number)
        found = list(s.scalars(select(TrainingAssignment.id).where(
            TrainingAssignment.user_id == user.id, TrainingAssignment.document_id == d.id,
            TrainingAssignment.state == "open")))
    assert len(found) == 1, found
    return found[0]


def _acknowledge(env, username: str, number: str):  # type: ignore[no-untyped-def]
    """Open the revision (recorded), then sign read and understood with user ID and password."""
    assignment_id = _open(env, username, number)
    at = env.clock.now()
    with env.db.read() as s:
        user = accounts.find_user(s, username)
    with env.db.unit_of_work() as s:
        training_signing.record_view(s, principal=Principal.of(user), assignment_id=assignment_id, what="test", at=at)
    with env.db.read() as s:
        prepared = training_signing.prepare_acknowledgement(
            s, env.config, user_id=user.id, assignment_id=assignment_id, username=username, password=STRONG,
            meaning=READ_AND_UNDERSTOOD, at=at)
    with env.db.unit_of_work() as s:
        sig = training_signing.record_acknowledgement(s, env.config, prepared=prepared, at=at)
    assert sig is not None
    return sig


def _offline(env, trainer: str, trainee: str, number: str, performed_on: date) -> None:  # type: ignore[no-untyped-def]
    assignment_id = _open(env, trainee, number)
    at = env.clock.now()
    with env.db.read() as s:
        principal = Principal.of(accounts.find_user(s, trainer))
        prepared, meaning = training_signing.prepare_offline(
            s, env.config, principal=principal, assignment_id=assignment_id, username=trainer, password=STRONG,
            performed_on=performed_on, result="passed", at=at)
    with env.db.unit_of_work() as s:
        assert training_signing.record_offline(s, env.config, principal=principal, prepared=prepared, meaning=meaning,
                                               performed_on=performed_on, result="passed", note="classroom session",
                                               at=at) is not None


@pytest.fixture
def team(any_env):
    """Two documents in force and one never published; alice trained, bob overdue, carol (another department,
    another function) due. The clock ends 15 days after publication."""
    env = any_env
    _staff(env)
    _person(env, "alice", "staff", "Alice Able", "CLIN", ready=True)
    _person(env, "bob", "staff", "Bob Baker", "CLIN")
    _person(env, "carol", "staff", "Carol Clark", "LAB")
    _person(env, "dora", "document_control", "Dora Trainer", ready=True)
    monitoring = _document(env, "Monitoring visits", "CLIN")
    samples = _document(env, "Sample handling", "LAB")
    draft = _document(env, "Source data verification", "CLIN")
    _function(env, "CRA", "Clinical research associate", monitoring, draft)
    _function(env, "LABTECH", "Laboratory technician", samples)
    _grant(env, "alice", "CRA")
    _grant(env, "bob", "CRA")
    _publish(env, monitoring, "1.0")
    _publish(env, samples, "1.0")
    env.published = env.clock.now()
    env.clock.advance(HOUR)
    env.alice_assignment = _open(env, "alice", monitoring)
    env.alice_signed = _acknowledge(env, "alice", monitoring).signed_at
    env.clock.advance(15 * DAY)
    _grant(env, "carol", "LABTECH")
    env.docs = {"monitoring": monitoring, "samples": samples, "draft": draft}
    return env


def _reader(env, who: str = "insp"):  # type: ignore[no-untyped-def]
    return login(env.client(), who)


def _cell(html: str, username: str, column: int) -> str:
    """The text of one matrix cell: the row of `username`, the `column`-th document (0-based)."""
    row = re.search(rf'<tr><th scope="row"[^>]*><a href="/training/people/{username}">.*?</tr>', html, re.S)
    assert row, f"no row for {username}"
    cells = re.findall(r"<td( class=\"[^\"]*\")?>(.*?)</td>", row.group(0), re.S)
    return re.sub(r"<[^>]+>", " ", cells[column][0] + " " + cells[column][1]).strip()


# --- the matrix -------------------------------------------------------------------------------------------------


@pytest.mark.req("TR-MATRIX")
def test_the_matrix_shows_each_persons_status_on_the_version_in_force(team):
    env = team
    monitoring, samples, draft = env.docs["monitoring"], env.docs["samples"], env.docs["draft"]
    page = _reader(env).get("/training/matrix")
    assert page.status_code == 200, page.text
    html = page.text
    columns = re.findall(r'<th scope="col"><a href="/documents/([^"]+)"[^>]*>[^<]+</a><span>([^<]+)</span>', html)
    assert columns == sorted([(monitoring, "v1.0"), (samples, "v1.0"), (draft, "no version")])
    index = {number: n for n, (number, _) in enumerate(columns)}
    signed_day = env.alice_signed.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    due_day = (env.published + 14 * DAY).astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert _cell(html, "alice", index[monitoring]) == f'class="trm-ok"  Complete v1.0 {signed_day}'
    assert _cell(html, "bob", index[monitoring]) == f'class="trm-over"  Overdue {due_day}'
    assert _cell(html, "alice", index[draft]) == 'class="trm-none" no version'
    assert _cell(html, "alice", index[samples]) == ""  # not required: blank
    carol_due = (env.clock.now() + 14 * DAY).astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    assert _cell(html, "carol", index[samples]) == f'class="trm-due"  Due {carol_due}'
    # each status cell links to its assignment, each name to the transcript
    assert f'href="/training/assignments/{_open(env, "bob", monitoring)}"' in html
    assert 'href="/training/people/carol">Carol Clark</a>' in html
    found = re.findall(r"<li class=\"trm-\w+\"><strong>(\d+)</strong> ([^<]+)</li>", html)
    totals = {label: int(n) for n, label in found}
    assert totals == {"Complete": 1, "Due": 1, "Overdue": 1, "No effective version": 2, "Not assigned": 0}
    for link in ("/training/matrix.csv", "/training/compliance", "/training/overdue", "/training/point-in-time"):
        assert f'href="{link}"' in html


@pytest.mark.req("TR-MATRIX")
def test_the_matrix_filters_by_department_and_function_and_htmx_gets_the_table_only(env):
    env.user("writer", "author")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        _person(env, name, role, f"{name.title()} Signer", ready=True)
    env.user("boss", "inspector")
    for n in range(3):
        _person(env, f"p{n}", "staff", f"Person {n}", "CLIN" if n < 2 else "LAB")
    monitoring = _document(env, "Monitoring visits", "CLIN")
    samples = _document(env, "Sample handling", "LAB")
    _function(env, "CRA", "Clinical research associate", monitoring)
    _function(env, "LABTECH", "Laboratory technician", samples)
    for n in range(3):
        _grant(env, f"p{n}", "CRA" if n < 2 else "LABTECH")
    _publish(env, monitoring, "1.0")
    _publish(env, samples, "1.0")
    client = _reader(env, "boss")
    by_department = client.get("/training/matrix", params={"department": "LAB"}).text
    assert "/training/people/p2" in by_department and "/training/people/p0" not in by_department
    assert "1 person holding a job function" in by_department
    assert 'href="/training/matrix.csv?department=LAB"' in by_department
    by_function = client.get("/training/matrix", params={"function": "CRA"}).text
    assert "/training/people/p0" in by_function and "/training/people/p2" not in by_function
    assert samples not in by_function  # only the documents of the function are columns
    fragment = client.get("/training/matrix", params={"function": "cra"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "/training/people/p1" in fragment.text
    assert client.get("/training/matrix", params={"function": "NOPE"}).status_code == 404


def test_the_matrix_pages_its_people(env, monkeypatch):
    from docctl.web.routes import training_reports as routes

    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    env.user("writer", "author")
    for name, role in (("rev", "reviewer"), ("appr", "approver"), ("qa1", "qa")):
        _person(env, name, role, f"{name.title()} Signer", ready=True)
    env.user("boss", "admin")
    monitoring = _document(env, "Monitoring visits", "CLIN")
    _function(env, "CRA", "Clinical research associate", monitoring)
    for n in range(5):
        env.user(f"p{n}", "staff")
        _grant(env, f"p{n}", "CRA")
    _publish(env, monitoring, "1.0")
    client = _reader(env, "boss")
    second = client.get("/training/matrix", params={"page": 2}).text
    assert "5 people holding a job function, 3–4 shown" in second
    assert "/training/people/p2" in second and "/training/people/p4" not in second
    assert 'href="/training/matrix?page=3"' in second


@pytest.mark.req("TR-MATRIX")
def test_the_matrix_csv_holds_every_required_pair_and_its_export_is_audited(team):
    env = team
    monitoring, draft = env.docs["monitoring"], env.docs["draft"]
    client = _reader(env)
    start = last_seq(env.db)
    response = client.get("/training/matrix.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    stamp = env.clock.now().strftime("%Y%m%dT%H%M%SZ")
    assert response.headers["content-disposition"] == f'attachment; filename="docctl-training-matrix-{stamp}.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert list(rows[0].keys()) == CSV_HEADER
    by = {(r["username"], r["document"]): r for r in rows}
    assert set(by) == {("alice", monitoring), ("alice", draft), ("bob", monitoring), ("bob", draft),
                       ("carol", env.docs["samples"])}
    alice = by[("alice", monitoring)]
    assert (alice["status"], alice["version_in_force"], alice["version_trained"], alice["name"],
            alice["department"], alice["functions"]) == ("complete", "1.0", "1.0", "Alice Able", "CLIN", "CRA")
    assert alice["completed_at_utc"].startswith(env.alice_signed.strftime("%Y-%m-%dT%H:%M:%S"))
    bob = by[("bob", monitoring)]
    assert bob["status"] == "overdue" and bob["completed_at_utc"] == "" and bob["assignment_id"]
    assert bob["due_at_utc"].startswith((env.published + 14 * DAY).strftime("%Y-%m-%dT%H:%M:%S"))
    assert by[("alice", draft)]["status"] == "no_version"
    exported = [e for e in events_since(env.db, start) if e["action"] == "training:export"]
    assert len(exported) == 1
    assert exported[0]["actor"]["username"] == "insp"
    assert exported[0]["after"] == {"what": "matrix", "filters": {}}
    # filtered: the same filters in the file and in the trail
    start = last_seq(env.db)
    lab = client.get("/training/matrix.csv", params={"department": "LAB"}).content.decode("utf-8")
    assert [r["username"] for r in csv.DictReader(io.StringIO(lab[1:]))] == ["carol"]
    assert [e["after"] for e in events_since(env.db, start) if e["action"] == "training:export"] == [
        {"what": "matrix", "filters": {"department": "LAB"}}]


# --- compliance and overdue -------------------------------------------------------------------------------------


@pytest.mark.req("TR-MATRIX")
def test_compliance_per_function_and_department_with_an_accessible_chart(team):
    env = team
    page = _reader(env).get("/training/compliance")
    assert page.status_code == 200, page.text
    html = page.text

    def row(label: str) -> list[str]:
        found = re.search(rf"<th scope=\"row\">(?:<strong>)?{label}.*?</tr>", html, re.S)
        assert found, label
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td class=\"trr-n\">(.*?)</td>",
                                                                       found.group(0), re.S)]

    # people, required, complete, due, overdue, percent
    assert row("CRA") == ["2", "2", "1", "0", "1", "50 %"]
    assert row("LABTECH") == ["1", "1", "0", "1", "0", "0 %"]
    assert row("CLIN") == ["2", "2", "1", "0", "1", "50 %"]
    assert row("LAB") == ["1", "1", "0", "1", "0", "0 %"]
    assert re.search(r'class="trr-big"><strong>33 %</strong> complete', html)
    assert "1 of 3 required trainings" in html
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(charts) == 2
    for chart in charts:
        assert 'role="img"' in chart and "<title id=" in chart and "<desc id=" in chart
        assert "<script" not in chart and "style=" not in chart
    assert "50 %" in charts[0] and "(1/2)" in charts[0] and "CRA · Clinical research associate" in charts[0]
    assert "0 %" in charts[1] and "LAB" in charts[1]


def test_the_overdue_list_and_its_csv(team):
    env = team
    client = _reader(env)
    html = client.get("/training/overdue").text
    assert "Bob Baker" in html and "Alice Able" not in html and "Carol Clark" not in html
    assert re.search(r'<span class="trr-over">1</span>', html)  # a day past the due date
    assert client.get("/training/overdue", params={"department": "LAB"}).text.count("Bob Baker") == 0
    start = last_seq(env.db)
    response = client.get("/training/overdue.csv", params={"function": "CRA"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8")[1:])))
    assert [(r["username"], r["document"], r["version"], r["days_overdue"]) for r in rows] == [
        ("bob", env.docs["monitoring"], "1.0", "1")]
    assert [e["after"] for e in events_since(env.db, start) if e["action"] == "training:export"] == [
        {"what": "overdue", "filters": {"function": "CRA"}}]


# --- who may read what ------------------------------------------------------------------------------------------


@pytest.mark.req("TR-MATRIX")
def test_staff_see_only_their_own_transcript_and_inspectors_read_everything(team):
    env = team
    staff = login(env.client(), "bob")
    for path in ("/training/matrix", "/training/matrix.csv", "/training/compliance", "/training/overdue",
                 "/training/overdue.csv", "/training/people/alice", "/training/people/alice/transcript.pdf"):
        assert staff.get(path).status_code == 403, path
    assert staff.get("/training/point-in-time", params={"user": "alice", "document": env.docs["monitoring"]}
                     ).status_code == 403
    own = staff.get("/training/people/bob")
    assert own.status_code == 200 and "Bob Baker" in own.text and "Overdue" in own.text
    inspector = _reader(env)
    for path in ("/training/matrix", "/training/compliance", "/training/overdue", "/training/people/bob",
                 "/training/people/carol", "/training/point-in-time"):
        assert inspector.get(path).status_code == 200, path
    assert inspector.get("/training/people/nobody").status_code == 404


# --- the transcript ---------------------------------------------------------------------------------------------


@pytest.mark.req("ISO-6.2e")
def test_the_transcript_gives_document_version_method_times_trainer_result_and_signature(team):
    env = team
    performed = (env.clock.now() - DAY).date()
    _offline(env, "dora", "carol", env.docs["samples"], performed)
    client = _reader(env)
    html = client.get("/training/people/alice").text
    assert "Alice Able" in html and "CLIN" in html
    assert "CRA" in html and "joined the team" in html  # the function, granted when and why
    berlin = ZoneInfo("Europe/Berlin")
    signed_local = env.alice_signed.astimezone(berlin).isoformat(sep=" ", timespec="seconds")
    assert env.docs["monitoring"] in html and "Read and understood (e-signature)" in html
    assert "<strong>Read and understood</strong>" in html and "Alice Able" in html
    assert signed_local in html  # performed, recorded and signed: local with offset and zone
    assert env.alice_signed.strftime("%Y-%m-%d %H:%M:%S UTC") in html  # and in UTC
    with env.db.read() as s:
        sig_id = s.scalars(select(TrainingRecord.signature_id).join(
            TrainingAssignment, TrainingAssignment.record_id == TrainingRecord.id)
            .where(TrainingAssignment.id == env.alice_assignment)).one()
    assert f'href="/api/v1/signatures/{sig_id}"' in html and f"sig {str(sig_id)[:8]}…" in html
    assert "Nothing open." in html
    # carol: offline training, performed the day before it was recorded, with the trainer
    carol = client.get("/training/people/carol").text
    assert "Trained by a trainer (offline)" in carol and "Dora Trainer" in carol and "Passed" in carol
    assert "classroom session" in carol
    assert f'{performed.isoformat()} <div class="small muted">the day given</div>' in carol  # performed: a day
    assert env.clock.now().astimezone(berlin).isoformat(sep=" ", timespec="seconds") in carol  # recorded: now
    assert "Trainer sign-off: training delivered and assessed: Carol Clark (carol)" in carol


@pytest.mark.req("ISO-6.2e")
def test_the_transcript_pdf_prints_the_signatures_in_full_and_its_export_is_audited(team):
    env = team
    start = last_seq(env.db)
    own = login(env.client(), "alice").get("/training/people/alice/transcript.pdf")
    assert own.status_code == 200, own.text
    assert own.headers["content-type"] == "application/pdf"
    assert own.headers["content-disposition"].startswith('attachment; filename="docctl-transcript-alice-')
    reader = PdfReader(io.BytesIO(own.content))
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Training transcript: Alice Able" in text
    assert f"Read and understood — Alice Able — {env.alice_signed.strftime('%Y-%m-%d %H:%M:%S')} UTC" in text
    assert f"{env.docs['monitoring']} v1.0 — signature" in text
    assert f"Generated {env.clock.now().strftime('%Y-%m-%d %H:%M:%S')} UTC by Alice Able (alice)" in text
    assert re.search(r"Page 1 of \d+", text)
    exported = [e for e in events_since(env.db, start) if e["action"] == "training:export"]
    assert [(e["actor"]["username"], e["after"]) for e in exported] == [
        ("alice", {"what": "transcript", "filters": {"user": "alice"}})]
    assert _reader(env).get("/training/people/bob/transcript.pdf").status_code == 200
    start = last_seq(env.db)
    assert login(env.client(), "bob").get("/training/people/alice/transcript.pdf").status_code == 403
    assert [e for e in events_since(env.db, start) if e["action"] == "training:export"] == []


# --- point in time ----------------------------------------------------------------------------------------------


def _ask(client, user: str, number: str, at: datetime, zone: str = "Europe/Berlin"):  # type: ignore[no-untyped-def]
    local = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(timespec="seconds")
    return client.get("/training/point-in-time", params={"user": user, "document": number, "at": local})


@pytest.mark.req("TR-PIT")
def test_point_in_time_across_two_revisions(any_env):
    env = any_env
    _staff(env)
    _person(env, "alice", "staff", "Alice Able", "CLIN", ready=True)
    number = _document(env, "Monitoring visits", "CLIN")
    _function(env, "CRA", "Clinical research associate", number)
    _grant(env, "alice", "CRA")
    _publish(env, number, "1.0")
    v1_effective = env.clock.now()
    env.clock.advance(HOUR)
    v1_signed = _acknowledge(env, "alice", number).signed_at
    env.clock.advance(DAY)
    _revision(env, number, "second")
    _publish(env, number, "2.0")
    v2_effective = env.clock.now()
    env.clock.advance(DAY)
    v2_signed = _acknowledge(env, "alice", number).signed_at
    env.clock.advance(DAY)
    client = _reader(env)

    before = _ask(client, "alice", number, v1_effective + 30 * timedelta(minutes=1))
    assert "No, not trained" in before.text and "completed training on it only later" in before.text

    between = _ask(client, "alice", number, v1_signed + HOUR)
    assert between.status_code == 200
    assert "Yes, trained" in between.text
    assert re.search(r"Version in force then</dt><dd><a [^>]+>1\.0</a>", between.text)
    assert re.search(r"Version trained on</dt><dd>1\.0", between.text)
    assert "<strong>Read and understood</strong> — Alice Able" in between.text
    assert v1_signed.strftime("%Y-%m-%d %H:%M:%S UTC") in between.text
    assert '<span class="tag">CRA</span>' in between.text

    not_yet = _ask(client, "alice", number, v2_effective + HOUR)
    assert "No, not trained" in not_yet.text
    assert re.search(r"Version in force then</dt><dd><a [^>]+>2\.0</a>", not_yet.text)
    assert "completed training on it only later" in not_yet.text
    assert re.search(r"Trained later on</dt><dd>2\.0", not_yet.text)

    after = _ask(client, "alice", number, v2_signed + HOUR)
    assert "Yes, trained" in after.text
    assert re.search(r"Version trained on</dt><dd>2\.0", after.text)
    assert v2_signed.strftime("%Y-%m-%d %H:%M:%S UTC") in after.text

    # the moment is read in the viewer's zone: one second before the signature (Berlin time) is still "No"
    edge = _ask(client, "alice", number, v2_signed - timedelta(seconds=1))
    assert "No, not trained" in edge.text


@pytest.mark.req("TR-PIT")
def test_point_in_time_for_oneself_and_its_mistakes(team):
    env = team
    number = env.docs["monitoring"]
    alice = login(env.client(), "alice")
    form = alice.get("/training/point-in-time")
    assert form.status_code == 200 and 'name="user" value="alice"' in form.text and "readonly" in form.text
    own = _ask(alice, "alice", number, env.clock.now(), zone="UTC")
    assert own.status_code == 200 and "Yes, trained" in own.text
    assert _ask(alice, "bob", number, env.clock.now(), zone="UTC").status_code == 403
    client = _reader(env)
    prefilled = client.get("/training/point-in-time", params={"user": "bob"})
    assert prefilled.status_code == 200 and 'name="user" value="bob"' in prefilled.text
    assert "alert" not in prefilled.text
    wrong_date = client.get("/training/point-in-time", params={"user": "alice", "document": number, "at": "soon"})
    assert wrong_date.status_code == 422 and "is not a date and time" in wrong_date.text
    unknown = _ask(client, "alice", "SOP-NOPE-999", env.clock.now())
    assert unknown.status_code == 404 and "No document SOP-NOPE-999" in unknown.text
    nobody = _ask(client, "nobody", number, env.clock.now())
    assert nobody.status_code == 404 and "No user" in nobody.text
    assigned = _ask(client, "bob", number, env.published + DAY)
    assert "No, not trained" in assigned.text and "assigned and not yet due" in assigned.text
    overdue = _ask(client, "bob", number, env.clock.now())
    assert "assigned and overdue" in overdue.text
    before_any = _ask(client, "alice", number, env.published - DAY)
    assert "No version of" in before_any.text and "was in force at that moment" in before_any.text
