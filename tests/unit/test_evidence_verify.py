"""The package verifier is pure and treats the zip as hostile: unsafe names, duplicates, legacy-encoded names and
zip bombs are refused by name, nothing is extracted, nothing crashes."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from docctl.evidence import zipread
from docctl.evidence.verify import NotAPackage, verify_package


def _zip(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data)
    return out.getvalue()


def _problems(data: bytes) -> dict[str, str]:
    report = verify_package(io.BytesIO(data))
    assert not report.ok
    return {p.member: p.message for p in report.problems}


def test_the_verifier_imports_no_database_settings_or_web_code():
    code = ("import sys, docctl.evidence.verify\n"
            "bad = ('sqlalchemy', 'fastapi', 'starlette', 'pydantic', 'docctl.db', 'docctl.config', "
            "'docctl.services', 'docctl.web', 'docctl.blobstore')\n"
            "print(sorted(m for m in sys.modules if m.startswith(bad)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04broken"])
def test_a_file_that_is_not_a_zip_is_not_a_package(data):
    with pytest.raises(NotAPackage):
        verify_package(io.BytesIO(data))


def test_unsafe_names_are_refused_by_name_and_nothing_is_extracted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    problems = _problems(_zip(("../evil.txt", b"x"), ("/etc/passwd", b"x"), ("a\\b.txt", b"x"),
                              ("ok/../../up.txt", b"x"), ("dir/", b"")))
    for name in ("../evil.txt", "/etc/passwd", "a\\b.txt", "ok/../../up.txt", "dir/"):
        assert name in problems, name
    assert "manifest.json" in problems  # and the package has no manifest
    assert list(tmp_path.iterdir()) == []


def test_a_duplicated_member_is_refused():
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile warns when writing one, and allows it
        data = _zip(("README.txt", b"one"), ("README.txt", b"two"))
    problems = _problems(data)
    assert "appears 2 times" in problems["README.txt"]


def test_a_name_that_is_not_utf8_is_refused():
    data = _zip(("cafX.txt", b"x")).replace(b"cafX.txt", b"caf\x82.txt")  # cp437 bytes, no UTF-8 flag
    problems = _problems(data)
    assert any("not UTF-8" in message for message in problems.values())


def test_a_zip_bomb_is_refused_without_being_inflated():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("audit/events.jsonl", "w") as member:
        for _ in range(64):
            member.write(bytes(1024 * 1024))
    problems = _problems(out.getvalue())
    assert "zip bomb" in problems["audit/events.jsonl"]


def test_a_member_longer_than_its_header_says_is_unreadable():
    data = _zip(("a.txt", b"hello world"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("a.txt")
        info.CRC ^= 1  # a corrupt member: the CRC check fails when read
        with pytest.raises(zipread.MemberUnreadable):
            zipread.digest(zf, info)
