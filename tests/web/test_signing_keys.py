"""Key custody (issue 4, item 1): the instance CA, a key pair per person wrapped under their own password,
re-wrapped on a change, retired on an administrator's reset and replaced at the person's next own password."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from docctl import signatures
from docctl.db.models import SigningKey
from docctl.errors import KeyUnwrapFailed
from docctl.services import signing_keys
from tests.web.audit_helpers import actions_since, last_seq
from tests.web.conftest import STRONG, login, page_csrf


def keys_of(env, user_id):
    with env.db.read() as s:
        return list(s.scalars(select(SigningKey).where(SigningKey.user_id == user_id).order_by(SigningKey.created_at)))


def wrapped(key):
    return signatures.WrappedKey(key.public_key_pem.encode(), key.wrapped)


def test_the_instance_ca_is_created_once_and_recorded(env):
    with env.db.read() as s:
        ca = signing_keys.instance_ca(s)
    assert ca is not None and b"BEGIN CERTIFICATE" in ca.certificate_pem
    assert b"ENCRYPTED PRIVATE KEY" in ca.encrypted_key_pem
    assert "instance_ca:create" in actions_since(env.db, 0)
    with env.db.unit_of_work() as s:
        assert not signing_keys.ensure_instance_ca(s, secret=b"x" * 32, base_url="http://h", at=env.clock.now())


def test_a_key_is_made_when_a_person_sets_their_own_password_never_for_an_admin_set_one(env, tmp_path):
    admin_set = env.user("temp", "approver", own=False)
    assert keys_of(env, admin_set.id) == []
    start = last_seq(env.db)
    bob = env.user("bob", "approver", full_name="Robert Brown")
    assert "signing_key:create" in actions_since(env.db, start)
    [key] = keys_of(env, bob.id)
    assert key.retired_at is None
    private = signatures.unwrap(wrapped(key), STRONG)
    assert private.public_key().public_bytes(*_spki()) == key.public_key_pem.encode()
    with pytest.raises(KeyUnwrapFailed):
        signatures.unwrap(wrapped(key), "Not-The-Password-1")
    info = signatures.certificate_info(key.certificate_pem.encode())
    assert info["subject"]["common_name"] == "Robert Brown" and info["subject"]["user_id"] == str(bob.id)
    # the private key is never stored in clear
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    assert der not in key.wrapped and b"PRIVATE KEY" not in key.wrapped
    # the certificate chains to the instance CA, checked by openssl alone
    with env.db.read() as s:
        ca = signing_keys.instance_ca(s)
    (tmp_path / "ca.pem").write_bytes(ca.certificate_pem)
    (tmp_path / "user.pem").write_text(key.certificate_pem)
    at = str(int(env.clock.now().timestamp()))  # the test clock's "now", not the machine's
    result = subprocess.run(["openssl", "verify", "-attime", at, "-CAfile", str(tmp_path / "ca.pem"),
                             str(tmp_path / "user.pem")], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stdout + result.stderr


def _spki():
    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


def test_changing_the_password_rewraps_the_same_key(env):
    bob = env.user("bob", "approver")
    [before] = keys_of(env, bob.id)
    client = login(env.client(), "bob")
    csrf = page_csrf(client, "/account/password")
    start = last_seq(env.db)
    new = "Second-Own-Password-77"
    assert client.post("/account/password", data={"current_password": STRONG, "new_password": new,
                       "confirm_password": new, "csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert actions_since(env.db, start) == ["user:password_change", "signing_key:rewrap"]
    [after] = keys_of(env, bob.id)
    assert after.id == before.id and after.public_key_pem == before.public_key_pem
    assert after.wrapped != before.wrapped
    signatures.unwrap(wrapped(after), new)
    with pytest.raises(KeyUnwrapFailed):
        signatures.unwrap(wrapped(after), STRONG)


def test_an_administrators_reset_retires_the_key_and_the_next_own_password_makes_a_new_one(env):
    env.user("root", "admin")
    bob = env.user("bob", "approver")
    [old] = keys_of(env, bob.id)
    admin = login(env.client(), "root")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    reset = admin.post(f"/admin/users/{bob.id}/reset-password", data={"reason": "lost", "csrf_token": csrf})
    temp = reset.text.split('<code class="secret">')[1].split("</code>")[0]
    [retired] = keys_of(env, bob.id)
    assert retired.retired_at is not None and retired.retired_reason == "password reset by an administrator"
    client = login(env.client(), "bob", temp)
    csrf = page_csrf(client, "/account/password")
    new = "Fresh-Own-Password-88"
    client.post("/account/password", data={"current_password": temp, "new_password": new,
                                           "confirm_password": new, "csrf_token": csrf})
    keys = keys_of(env, bob.id)
    assert len(keys) == 2 and keys[0].id == old.id and keys[0].retired_at is not None
    assert keys[1].retired_at is None and keys[1].fingerprint != old.fingerprint
    signatures.unwrap(wrapped(keys[1]), new)
