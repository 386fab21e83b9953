"""Checkpoints (signed tree heads): the stable bytes, signing with the instance CA key, and each named failure."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from docctl.audit.checkpoints import checkpoint_bytes, parse_checkpoint, sign_checkpoint, verify_checkpoint
from docctl.errors import SignatureInvalid
from tests.fixtures.signatures import make_ca

ISSUED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
AT = datetime(2026, 11, 21, 10, 5, 7, 123456, tzinfo=UTC)
ROOT = hashlib.sha256(b"docctl").digest()


@pytest.fixture(scope="module")
def ca():
    return make_ca(ISSUED)


def test_checkpoint_bytes_known_answer():
    # written by hand from DESIGN.md: keys sorted, no whitespace, root lower-case hex, at RFC 3339 UTC with Z
    expected = (
        b'{"at":"2026-11-21T10:05:07.123456Z",'
        b'"root":"8bdda14d882956dc13fa186d9c78e55b3dad4e09a52cad19caaac3556e16295f",'
        b'"tree_size":42,"type":"docctl.checkpoint","v":1}'
    )
    assert checkpoint_bytes(42, ROOT, AT) == expected
    # the same instant written in another zone gives the same bytes
    assert checkpoint_bytes(42, ROOT, AT.astimezone(timezone(timedelta(hours=-5)))) == expected


def test_checkpoint_bytes_refuses_bad_input():
    with pytest.raises(ValueError):
        checkpoint_bytes(-1, ROOT, AT)
    with pytest.raises(ValueError):
        checkpoint_bytes(1, ROOT[:31], AT)
    with pytest.raises(ValueError):
        checkpoint_bytes(1, ROOT, AT.replace(tzinfo=None))


def test_sign_and_verify(ca):
    instance, key = ca
    data = checkpoint_bytes(7, ROOT, AT)
    signature = sign_checkpoint(key, data)
    parsed = verify_checkpoint(data, signature, instance.certificate_pem)
    assert parsed == {"v": 1, "type": "docctl.checkpoint", "tree_size": 7, "root": ROOT.hex(),
                      "at": "2026-11-21T10:05:07.123456Z"}
    assert parse_checkpoint(data) == parsed


def test_a_changed_body_or_signature_does_not_verify(ca):
    instance, key = ca
    data = checkpoint_bytes(7, ROOT, AT)
    signature = sign_checkpoint(key, data)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_checkpoint(checkpoint_bytes(8, ROOT, AT), signature, instance.certificate_pem)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_checkpoint(data, signature[:-1] + bytes([signature[-1] ^ 1]), instance.certificate_pem)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_checkpoint(data, b"not der", instance.certificate_pem)


def test_another_ca_does_not_verify(ca):
    _, key = ca
    other, _ = make_ca(ISSUED, name="other")
    data = checkpoint_bytes(7, ROOT, AT)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_checkpoint(data, sign_checkpoint(key, data), other.certificate_pem)
    with pytest.raises(SignatureInvalid, match="cannot be read"):
        verify_checkpoint(data, sign_checkpoint(key, data), b"garbage")


def test_ca_not_valid_at_the_checkpoint_time(ca):
    instance, key = ca
    data = checkpoint_bytes(7, ROOT, ISSUED - timedelta(days=400))
    with pytest.raises(SignatureInvalid, match="not valid"):
        verify_checkpoint(data, sign_checkpoint(key, data), instance.certificate_pem)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"at":"2026-11-21T10:05:07.123456Z","root":"00","tree_size":1,"type":"docctl.checkpoint","v":1}',
        b'{"at":"2026-11-21T10:05:07Z","root":"' + ROOT.hex().encode() + b'","tree_size":1,'
        b'"type":"docctl.checkpoint","v":1}',
        b'{"at":"2026-11-21T10:05:07.123456Z","root":"' + ROOT.hex().upper().encode() + b'","tree_size":1,'
        b'"type":"docctl.checkpoint","v":1}',
        b'{"at":"2026-11-21T10:05:07.123456Z","root":"' + ROOT.hex().encode() + b'","tree_size":1,'
        b'"type":"docctl.signature","v":1}',
        b'{"at":"2026-11-21T10:05:07.123456Z","root":"' + ROOT.hex().encode() + b'","tree_size":-1,'
        b'"type":"docctl.checkpoint","v":1}',
        b'{"v":1,"type":"docctl.checkpoint","tree_size":1,"root":"' + ROOT.hex().encode() + b'",'
        b'"at":"2026-11-21T10:05:07.123456Z"}',  # not canonical: keys out of order
        b'{"at":"2026-11-21T10:05:07.123456Z","extra":"x","root":"' + ROOT.hex().encode() + b'","tree_size":1,'
        b'"type":"docctl.checkpoint","v":1}',
    ],
)
def test_malformed_checkpoints_are_refused(ca, data):
    instance, key = ca
    with pytest.raises(SignatureInvalid):
        verify_checkpoint(data, sign_checkpoint(key, data), instance.certificate_pem)


def test_refuses_a_key_on_another_curve():
    with pytest.raises(ValueError):
        sign_checkpoint(ec.generate_private_key(ec.SECP384R1()), checkpoint_bytes(1, ROOT, AT))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_a_checkpoint(ca, tmp_path):
    """The DESIGN.md promise: a checkpoint checks with openssl alone, given the CA's public key."""
    instance, key = ca
    data = checkpoint_bytes(3, ROOT, AT)
    (tmp_path / "checkpoint.json").write_bytes(data)
    (tmp_path / "checkpoint.sig").write_bytes(sign_checkpoint(key, data))
    (tmp_path / "ca-pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = subprocess.run(  # noqa: S603
        ["openssl", "dgst", "-sha256", "-verify", "ca-pub.pem", "-signature", "checkpoint.sig", "checkpoint.json"],  # noqa: S607
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert instance.certificate_pem
