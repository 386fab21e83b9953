"""Key custody (DESIGN.md "Electronic signatures"): user keys only ever stored wrapped under the user's password,
the instance CA key only encrypted under the instance secret."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from docctl.audit.canonical import canonical_json
from docctl.errors import KeyUnwrapFailed
from docctl.signatures import WrappedKey, fingerprint, generate_user_key, load_ca_key, rewrap, unwrap
from docctl.signatures.keys import DEFAULT_KDF_N
from tests.fixtures.signatures import CA_SECRET, FAST_N, PASSWORD, make_ca


@pytest.fixture(scope="module")
def key() -> WrappedKey:
    return generate_user_key(PASSWORD, kdf_n=FAST_N)


def _blob(key: WrappedKey) -> dict:
    return json.loads(key.wrapped)


def _with(key: WrappedKey, **changes: object) -> WrappedKey:
    return WrappedKey(key.public_key_pem, canonical_json({**_blob(key), **changes}))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_round_trip(key: WrappedKey) -> None:
    private_key = unwrap(key, PASSWORD)
    assert isinstance(private_key.curve, ec.SECP256R1)
    assert private_key.public_key() == serialization.load_pem_public_key(key.public_key_pem)
    blob = _blob(key)
    assert key.wrapped == canonical_json(blob)  # the blob is itself canonical JSON
    assert set(blob) == {"v", "kdf", "n", "r", "p", "salt", "aead", "nonce", "ciphertext"}
    assert (blob["v"], blob["kdf"], blob["aead"], blob["n"]) == (1, "scrypt", "AES-256-GCM", FAST_N)


def test_default_cost_round_trip() -> None:
    key = generate_user_key(PASSWORD)
    assert _blob(key)["n"] == DEFAULT_KDF_N == 2**15
    assert unwrap(key, PASSWORD).public_key() == serialization.load_pem_public_key(key.public_key_pem)
    with pytest.raises(KeyUnwrapFailed):
        unwrap(key, PASSWORD + "x")


@pytest.mark.parametrize("wrong", ["", "corr3ct horse battery!", PASSWORD + " ", PASSWORD[:-1]])
def test_wrong_password(key: WrappedKey, wrong: str) -> None:
    with pytest.raises(KeyUnwrapFailed):
        unwrap(key, wrong)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt"])
def test_tampered_bytes(key: WrappedKey, field: str) -> None:
    with pytest.raises(KeyUnwrapFailed):
        unwrap(_with(key, **{field: _flip(_blob(key)[field])}), PASSWORD)


@pytest.mark.parametrize(
    "changes",
    [{"n": FAST_N * 2}, {"r": 4}, {"p": 2}, {"v": 2}, {"kdf": "pbkdf2"}, {"aead": "AES-128-GCM"}, {"extra": "x"},
     {"nonce": "not base64!"}, {"n": 3}, {"n": 2**30}, {"n": 2**20, "r": 16}, {"r": True}],
)
def test_tampered_header(key: WrappedKey, changes: dict) -> None:
    started = time.perf_counter()
    with pytest.raises(KeyUnwrapFailed):
        unwrap(_with(key, **changes), PASSWORD)
    assert time.perf_counter() - started < 2  # an absurd stored cost is refused, not computed


def test_not_json(key: WrappedKey) -> None:
    with pytest.raises(KeyUnwrapFailed):
        unwrap(WrappedKey(key.public_key_pem, b"\x00garbage"), PASSWORD)


def test_public_key_swap(key: WrappedKey) -> None:
    other = generate_user_key(PASSWORD, kdf_n=FAST_N)
    with pytest.raises(KeyUnwrapFailed):
        unwrap(WrappedKey(other.public_key_pem, key.wrapped), PASSWORD)
    with pytest.raises(KeyUnwrapFailed):
        unwrap(WrappedKey(key.public_key_pem, other.wrapped), PASSWORD)


def test_format_opens_independently_and_aad_binds_public_key(key: WrappedKey) -> None:
    """The documented format, decrypted here with hashlib.scrypt and AES-GCM, without docctl's unwrap; the same
    ciphertext under the associated data of another public key does not open."""
    blob = _blob(key)
    kek = hashlib.scrypt(PASSWORD.encode(), salt=base64.b64decode(blob["salt"]), n=blob["n"], r=blob["r"],
                         p=blob["p"], dklen=32)
    header = {k: blob[k] for k in ("v", "kdf", "n", "r", "p", "salt", "aead")}

    def aad(public_key_pem: bytes) -> bytes:
        bound = {"type": "docctl.wrapped_key", **header, "public_key_sha256": fingerprint(public_key_pem)}
        return canonical_json(bound)

    nonce, ciphertext = base64.b64decode(blob["nonce"]), base64.b64decode(blob["ciphertext"])
    der = AESGCM(kek).decrypt(nonce, ciphertext, aad(key.public_key_pem))
    assert serialization.load_der_private_key(der, None).public_key() == unwrap(key, PASSWORD).public_key()
    other = generate_user_key(PASSWORD, kdf_n=FAST_N)
    with pytest.raises(InvalidTag):
        AESGCM(kek).decrypt(nonce, ciphertext, aad(other.public_key_pem))


def test_rewrap(key: WrappedKey) -> None:
    new = rewrap(key, PASSWORD, "A different passw0rd!")
    assert new.public_key_pem == key.public_key_pem
    old_blob, new_blob = _blob(key), _blob(new)
    assert new_blob["salt"] != old_blob["salt"] and new_blob["nonce"] != old_blob["nonce"]
    assert new_blob["n"] == old_blob["n"]
    assert unwrap(new, "A different passw0rd!").private_numbers() == unwrap(key, PASSWORD).private_numbers()
    with pytest.raises(KeyUnwrapFailed):
        unwrap(new, PASSWORD)
    with pytest.raises(KeyUnwrapFailed):
        rewrap(key, "not the password", "whatever")
    assert _blob(rewrap(key, PASSWORD, "x", kdf_n=FAST_N * 2))["n"] == FAST_N * 2


def test_private_key_never_in_clear(key: WrappedKey) -> None:
    private_key = unwrap(key, PASSWORD)
    der = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    for stored in (key.wrapped, key.public_key_pem):
        for secret in (der, scalar, pem, base64.b64encode(der), base64.b64encode(scalar), scalar.hex().encode(),
                       der[-40:], base64.b64encode(der)[-40:]):
            assert secret not in stored
        assert b"PRIVATE KEY" not in stored and b"-----BEGIN" not in stored.replace(b"-----BEGIN PUBLIC KEY", b"")


def test_fingerprint_is_spki_sha256(key: WrappedKey) -> None:
    spki = serialization.load_pem_public_key(key.public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert fingerprint(key.public_key_pem) == hashlib.sha256(spki).hexdigest()
    assert fingerprint(key.public_key_pem.replace(b"\n", b"\r\n")) == fingerprint(key.public_key_pem)


def test_instance_ca(clock) -> None:
    ca, ca_key = make_ca(clock.now(), name="Acme Site 1")
    assert ca.encrypted_key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # encrypted: unusable without the secret
        serialization.load_pem_private_key(ca.encrypted_key_pem, password=None)
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "docctl instance CA Acme Site 1"
    assert certificate.issuer == certificate.subject
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert certificate.not_valid_before_utc == clock.now().replace(microsecond=0)
    assert certificate.not_valid_after_utc.year == clock.now().year + 30
    assert ca_key.public_key() == certificate.public_key()


def test_ca_key_wrong_secret(clock) -> None:
    ca, _ = make_ca(clock.now())
    for wrong in (b"wrong secret", CA_SECRET[:-1], b"x"):
        with pytest.raises(KeyUnwrapFailed):
            load_ca_key(ca, wrong)
    other, _ = make_ca(clock.now())
    with pytest.raises(KeyUnwrapFailed):  # a key that opens but belongs to another CA certificate
        load_ca_key(type(ca)(ca.certificate_pem, other.encrypted_key_pem), CA_SECRET)
