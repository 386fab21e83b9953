"""An inspector's offline check: the exported bundle verifies with the `openssl` command line alone, no docctl code
in the verification path (issue 4, item 3; DESIGN.md "Formats that must stay stable")."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docctl.signatures import openssl_bundle
from docctl.signatures.export import COMMANDS
from tests.fixtures.signatures import make_ca, make_manifest, make_signer

OPENSSL = shutil.which("openssl")
pytestmark = [
    pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed"),
    pytest.mark.req("P11-70"),
]


def _openssl(*args: str, cwd: Path, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


def _verify_cert(cwd: Path) -> subprocess.CompletedProcess:
    return _openssl("verify", "-CAfile", "ca.pem", "signer.pem", cwd=cwd)


def _extract_pubkey(cwd: Path, name: str) -> None:
    with (cwd / name).open("w") as out:  # the `> signer-pubkey.pem` of VERIFY.txt
        result = _openssl("x509", "-in", "signer.pem", "-pubkey", "-noout", cwd=cwd, stdout=out)
    assert result.returncode == 0, result.stderr


def _verify_signature(cwd: Path, pubkey: str = "signer-pubkey.pem") -> subprocess.CompletedProcess:
    return _openssl("dgst", "-sha256", "-verify", pubkey, "-signature", "signature.der", "manifest.json", cwd=cwd)


@pytest.fixture(scope="module")
def signed():
    at = datetime.now(UTC) - timedelta(minutes=5)  # `openssl verify` checks validity at the current time
    ca, ca_key = make_ca(at)
    signer = make_signer(ca, ca_key, at=at)
    manifest = make_manifest(signer, signed_at=at + timedelta(minutes=1))
    return ca, signer, manifest, signer.sign(manifest)


def _bundle(directory: Path, signed, **overrides) -> Path:
    ca, signer, manifest, signature = signed
    values = {"manifest": manifest, "signature_der": signature, "cert_pem": signer.cert_pem,
              "ca_certificate_pem": ca.certificate_pem, **overrides}
    paths = openssl_bundle(directory, **values)
    assert set(paths) == {"manifest.json", "signature.der", "signer.pem", "signer-pubkey.pem", "ca.pem", "VERIFY.txt"}
    return directory


def test_openssl_verifies_the_bundle(tmp_path: Path, signed) -> None:
    bundle = _bundle(tmp_path / "bundle", signed)
    instructions = (bundle / "VERIFY.txt").read_text()
    for command in COMMANDS:
        assert command in instructions
    included = (bundle / "signer-pubkey.pem").read_bytes()
    result = _verify_cert(bundle)
    assert result.returncode == 0 and result.stdout.strip() == "signer.pem: OK", result.stdout + result.stderr
    _extract_pubkey(bundle, "signer-pubkey.pem")
    assert (bundle / "signer-pubkey.pem").read_bytes() == included  # openssl's own extraction is identical
    result = _verify_signature(bundle)
    assert result.returncode == 0 and result.stdout.strip() == "Verified OK", result.stdout + result.stderr
    assert (bundle / "manifest.json").read_bytes() == signed[2]


def test_one_changed_byte_fails(tmp_path: Path, signed) -> None:
    bundle = _bundle(tmp_path / "bundle", signed)
    _extract_pubkey(bundle, "signer-pubkey.pem")
    data = bytearray((bundle / "manifest.json").read_bytes())
    position = data.index(b'"Approved"') + 1
    data[position] ^= 0x20  # "Approved" -> "approved"
    (bundle / "manifest.json").write_bytes(bytes(data))
    result = _verify_signature(bundle)
    assert result.returncode != 0
    assert "Verification failure" in result.stdout + result.stderr


def test_certificate_from_another_ca_fails(tmp_path: Path, signed) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    other_ca, other_key = make_ca(at)  # same CA name, another key
    outsider = make_signer(other_ca, other_key, at=at)
    manifest = make_manifest(outsider, signed_at=at)
    bundle = _bundle(tmp_path / "bundle", signed, manifest=manifest, signature_der=outsider.sign(manifest),
                     cert_pem=outsider.cert_pem)
    result = _verify_cert(bundle)
    assert result.returncode != 0
    assert "signer.pem: OK" not in result.stdout
    assert "error" in (result.stdout + result.stderr).lower()
    # its signature over the manifest is fine: only the chain to this instance's CA is wrong
    _extract_pubkey(bundle, "signer-pubkey.pem")
    assert _verify_signature(bundle).stdout.strip() == "Verified OK"
