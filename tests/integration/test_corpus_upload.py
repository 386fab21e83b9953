"""Every real-world file in ../shared/corpus uploaded through the services, as an author's upload is: PDFs get the
page count files.json gives (or a clear refusal naming the problem), the encrypted PDF a clear refusal, every DOCX
its text and a controlled copy. (Conversion of each DOCX by LibreOffice is covered file by file in
test_corpus_renditions.py; here the Word file is its own rendition so the run stays short.)"""

from __future__ import annotations

import html
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docctl.blobstore.local import LocalBlobStore
from docctl.errors import UploadRejected
from docctl.services import accounts, copies, documents, revisions
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal
from tests.conftest import make_settings
from tests.integration.test_corpus_renditions import DAMAGED

AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _pages_by_file(corpus: Path) -> dict[str, int]:
    meta = json.loads((corpus / "pdf" / "files.json").read_text())
    entries = meta["data"] if isinstance(meta, dict) and "data" in meta else meta
    return {e["path"].replace("/", "_", 1): e["pages"] for e in entries if "pages" in e}


@pytest.fixture
def setup(sqlite_db, tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    operator = Principal.operator()
    with sqlite_db.unit_of_work() as s:
        config = AccountConfig.from_settings(make_settings(tmp_path))
        user = accounts.create_user(s, config, principal=operator, username="dc", full_name="Dana Control",
                                    roles=["document_control"], at=AT).user
    return sqlite_db, store, Principal.of(user)


def _upload(db, store, principal, path: Path, n: int):
    with db.unit_of_work() as s:
        number = documents.create_document(s, principal=principal, type_code="SOP", title=path.stem[:200],
                                           department="QA", at=AT).number
    with path.open("rb") as fh:
        prepared = revisions.prepare_upload(store, stream=fh, filename=path.name, max_bytes=100 * 1024 * 1024,
                                            convert=False)
    with db.unit_of_work() as s:
        r = revisions.create_revision(s, principal=principal, number=number, upload=prepared, change="major",
                                      change_summary="corpus file", at=AT)
        return number, r


def test_every_corpus_pdf_through_the_upload_service(setup, shared_dir):
    db, store, principal = setup
    corpus = shared_dir / "corpus"
    expected = _pages_by_file(corpus)
    files = sorted((corpus / "pdf").glob("*.pdf"))
    assert len(files) >= 31
    for n, path in enumerate(files):
        if "password" in path.name:
            with pytest.raises(UploadRejected, match="(?i)password"):
                _upload(db, store, principal, path, n)
            continue
        if path.name in DAMAGED:
            with pytest.raises(UploadRejected, match=DAMAGED[path.name]):
                _upload(db, store, principal, path, n)
            continue
        number, r = _upload(db, store, principal, path, n)
        assert r.page_count == expected[path.name], path.name
        assert r.rendition_kind == "pdf" and r.rendition_sha256 == r.source_sha256


@pytest.mark.req("A11-8.1")
def test_every_corpus_docx_gets_text_and_a_controlled_copy(setup, shared_dir, tmp_path):
    db, store, principal = setup
    files = sorted((shared_dir / "corpus" / "docx").glob("*.docx"))
    assert len(files) >= 45
    for n, path in enumerate(files):
        number, r = _upload(db, store, principal, path, n)
        # an independent oracle: the words in the body's <w:t> runs; every one of them must be searchable text
        runs = re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", _body_xml(path))
        words = re.findall(r"\w+", html.unescape(" ".join(runs)))
        assert bool(r.text.strip()) == bool(words), path.name
        assert all(w in r.text for w in words[:50]), path.name
        with db.read() as s:
            d, rev = revisions.get_revision(s, principal=principal, number=number, version=r.version)
            made = copies.make_copy(s, store, principal=principal, document=d, revision=rev, zone="Europe/Berlin",
                                    base_url="https://docctl.example.org", at=AT)
        assert made.path.stat().st_size > 0 and made.media_type.endswith("document")


def _body_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("word/document.xml").decode("utf-8", "replace")
