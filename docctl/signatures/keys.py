"""User signing keys: ECDSA P-256, the private key stored only wrapped under the user's password.

The wrapped form is canonical JSON, self-describing so that its cost can be raised later without a migration:
`{"v":1,"kdf":"scrypt","n","r","p","salt","aead":"AES-256-GCM","nonce","ciphertext"}` (byte strings in standard
base64). The key-encryption key is scrypt(password as UTF-8, salt); the AES-256-GCM plaintext is the PKCS#8 DER
private key; the associated data binds the header and the SHA-256 of the public key, so a wrapped key cannot be
moved under another public key or given other parameters without failing to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from docctl.audit.canonical import canonical_json
from docctl.errors import KeyUnwrapFailed

DEFAULT_KDF_N = 2**15  # ~50 ms and 32 MiB per unwrap with r=8 on this machine
KDF_R = 8
KDF_P = 1
MAX_KDF_N = 2**20
MAX_KDF_MEMORY = 256 * 2**20  # 128 * n * r * p bytes; refuse a stored blob that would ask for more
_DAMAGED = "The signing key is damaged or its parameters are not supported."


@dataclass(frozen=True)
class WrappedKey:
    """A user's public key (SubjectPublicKeyInfo PEM) and the wrapped private key (canonical JSON bytes)."""

    public_key_pem: bytes
    wrapped: bytes


def fingerprint(public_key_pem: bytes) -> str:
    """The public key's fingerprint: SHA-256 hex of its SubjectPublicKeyInfo DER (independent of PEM layout)."""
    public_key = serialization.load_pem_public_key(public_key_pem)
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _kek(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def _aad(header: dict, public_key_pem: bytes) -> bytes:
    return canonical_json({"type": "docctl.wrapped_key", **header, "public_key_sha256": fingerprint(public_key_pem)})


def _wrap(private_key: ec.EllipticCurvePrivateKey, public_key_pem: bytes, password: str, n: int) -> bytes:
    if n < 2 or n > MAX_KDF_N or n & (n - 1):
        raise ValueError(f"scrypt n must be a power of two from 2 to {MAX_KDF_N}")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {"v": 1, "kdf": "scrypt", "n": n, "r": KDF_R, "p": KDF_P, "salt": _b64(salt), "aead": "AES-256-GCM"}
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ciphertext = AESGCM(_kek(password, salt, n, KDF_R, KDF_P)).encrypt(nonce, der, _aad(header, public_key_pem))
    return canonical_json({**header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)})


def _header(wrapped: bytes) -> tuple[dict, bytes, bytes, bytes]:
    """The parsed blob: (header, salt, nonce, ciphertext); `KeyUnwrapFailed` for anything unexpected, before any
    expensive work (a stored blob is not trusted to choose an unbounded scrypt cost)."""
    try:
        blob = json.loads(wrapped)
        header = {key: blob[key] for key in ("v", "kdf", "n", "r", "p", "salt", "aead")}
        n, r, p = header["n"], header["r"], header["p"]
        if set(blob) != {*header, "nonce", "ciphertext"} or (header["v"], header["kdf"], header["aead"]) != (
            1, "scrypt", "AES-256-GCM"
        ):
            raise ValueError("unknown format")
        if not all(type(x) is int and x >= 1 for x in (n, r, p)) or n < 2 or n > MAX_KDF_N or n & (n - 1):
            raise ValueError("bad scrypt parameters")
        if 128 * n * r * p > MAX_KDF_MEMORY:
            raise ValueError("scrypt cost too high")
        salt, nonce, ciphertext = _unb64(blob["salt"]), _unb64(blob["nonce"]), _unb64(blob["ciphertext"])
        if len(salt) < 16 or len(nonce) != 12:
            raise ValueError("bad salt or nonce")
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise KeyUnwrapFailed(_DAMAGED) from None
    return header, salt, nonce, ciphertext


def generate_user_key(password: str, *, kdf_n: int = DEFAULT_KDF_N) -> WrappedKey:
    """A new ECDSA P-256 key pair; the private key leaves this function only wrapped under `password`."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_key_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return WrappedKey(public_key_pem, _wrap(private_key, public_key_pem, password, kdf_n))


def unwrap(key: WrappedKey, password: str) -> ec.EllipticCurvePrivateKey:
    """The private key, for signing now and then dropping (never store or cache it). `KeyUnwrapFailed` for a wrong
    password, a tampered blob or a blob under another public key."""
    header, salt, nonce, ciphertext = _header(key.wrapped)
    try:
        aad = _aad(header, key.public_key_pem)
        kek = _kek(password, salt, header["n"], header["r"], header["p"])
        der = AESGCM(kek).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError, TypeError):
        raise KeyUnwrapFailed() from None
    try:
        private_key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise KeyUnwrapFailed(_DAMAGED) from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
        raise KeyUnwrapFailed(_DAMAGED)
    if private_key.public_key() != serialization.load_pem_public_key(key.public_key_pem):
        raise KeyUnwrapFailed(_DAMAGED)
    return private_key


def rewrap(key: WrappedKey, old_password: str, new_password: str, *, kdf_n: int | None = None) -> WrappedKey:
    """The same key pair wrapped under `new_password` with a fresh salt and nonce (password change). The scrypt
    cost stays as it was unless `kdf_n` is given. `KeyUnwrapFailed` if `old_password` does not open it."""
    private_key = unwrap(key, old_password)
    n = kdf_n if kdf_n is not None else _header(key.wrapped)[0]["n"]
    return WrappedKey(key.public_key_pem, _wrap(private_key, key.public_key_pem, new_password, n))
