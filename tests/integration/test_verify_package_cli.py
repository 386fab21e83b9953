"""`docctl verify-package` as an inspector runs it on a laptop: a subprocess with an empty environment (no DOCCTL_*
settings, no database, no server) in an empty directory; and the README's openssl commands, run with the real
`openssl` and `sha256sum` binaries on the unpacked package."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docctl.evidence import layout
from tests.fixtures.evidence import document_with_history, download, rewrite
from tests.web.conftest import _env

OPENSSL = shutil.which("openssl")
SHA256SUM = shutil.which("sha256sum")


@pytest.fixture
def package(sqlite_url, tmp_path, clock) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    for env in _env(sqlite_url, tmp_path / "server", clock):
        number = document_with_history(env)
        response = download(env, number)
        assert response.status_code == 200, response.text
        yield response.content


def _verify(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    return subprocess.run([sys.executable, "-m", "docctl", "verify-package", str(path)], cwd=cwd,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)


@pytest.mark.req("FDAQA-Q3", "P11-10a")
def test_verify_package_needs_no_server_database_or_settings(package, tmp_path):
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    good = laptop / "evidence.zip"
    good.write_bytes(package)
    result = _verify(good, laptop)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evidence package verified" in result.stdout
    assert "SHA-256 fingerprint" in result.stdout and "audit events" in result.stdout

    tampered = laptop / "tampered.zip"
    tampered.write_bytes(rewrite(package, change="revisions/1.0/original.pdf"))
    result = _verify(tampered, laptop)
    assert result.returncode == 1
    assert "revisions/1.0/original.pdf" in result.stderr

    not_zip = laptop / "notes.txt"
    not_zip.write_text("not a zip")
    result = _verify(not_zip, laptop)
    assert result.returncode == 2 and "not a zip" in result.stderr
    assert _verify(laptop / "missing.zip", laptop).returncode == 2
    assert sorted(p.name for p in laptop.iterdir()) == ["evidence.zip", "notes.txt", "tampered.zip"]


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """One README line as a person runs it: a shell line (it uses `>`), from the unpacked package."""
    return subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=60,  # noqa: S602
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


@pytest.mark.skipif(OPENSSL is None or SHA256SUM is None, reason="openssl or sha256sum is not installed")
@pytest.mark.req("FDAQA-Q3")
def test_the_readme_commands_check_the_package_with_openssl_alone(package, tmp_path):
    unpacked = tmp_path / "evidence"
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        zf.extractall(unpacked)  # the test's own package: trusted here
    readme = (unpacked / "README.txt").read_text()
    commands = layout.readme_commands(readme)
    assert len(commands) >= 8 and any("signatures/" in c for c in commands)
    outputs = []
    for command in commands:
        result = _sh(command, unpacked)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    text = "\n".join(outputs)
    assert text.count("Verified OK") == 3  # manifest, checkpoint, one signature
    assert ": OK" in text and "FAILED" not in text
    fingerprint = layout.ca_fingerprint((unpacked / "ca.pem").read_bytes())
    assert fingerprint in text and fingerprint in readme

    # the same commands fail on a changed member
    (unpacked / "record.pdf").write_bytes((unpacked / "record.pdf").read_bytes() + b"\n")
    result = _sh(commands[0], unpacked)
    assert result.returncode != 0 and "record.pdf: FAILED" in result.stdout
    manifest = unpacked / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"v":1', b'"v":2'))
    result = _sh(commands[3], unpacked)
    assert result.returncode != 0 and "Verification failure" in result.stdout + result.stderr
