"""The pure rules: password policy, user IDs, the permission matrix, settings. No I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docctl.config import DEV_SECRET, Settings
from docctl.domain.passwords import PasswordPolicy
from docctl.domain.policy import POLICY, Permission, Role, allows, permissions_of
from docctl.domain.usernames import check_username, username_key
from docctl.errors import InvalidInput, PasswordPolicyViolation


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Short-1a", "at least 12 characters"),
        ("alllowercaseletters", "at least 3 of"),
        ("Has-jsmith-Inside-9", "must not contain the user ID"),
        ("Jonathan-Is-Great-9", "must not contain your name"),
        ("x" * 257 + "A1-", "at most 256 characters"),
    ],
)
def test_password_policy_names_what_is_wrong(password, problem):
    with pytest.raises(PasswordPolicyViolation) as err:
        PasswordPolicy().check(password, username="jsmith", full_name="Jonathan Smith")
    assert problem in err.value.message


def test_a_good_password_passes():
    PasswordPolicy().check("Correct-Horse-42-Battery", username="jsmith", full_name="Jonathan Smith")


@pytest.mark.req("P11-300a")
@given(st.sampled_from(["jsmith", "JSmith", "JSMITH", "jSmItH", "ｊｓｍｉｔｈ"]))
def test_user_ids_compare_case_insensitively(variant):
    assert username_key(variant) == "jsmith"


@pytest.mark.parametrize("bad", ["", "a", "-lead", "has space", "x" * 64, "semi;colon", "emoji☃"])
def test_malformed_user_ids_are_refused(bad):
    with pytest.raises(InvalidInput):
        check_username(bad)


@pytest.mark.req("P11-10g")
def test_permission_matrix():
    assert allows([Role.ADMIN], Permission.USERS_MANAGE)
    assert not allows([Role.QA, Role.INSPECTOR, Role.APPROVER], Permission.USERS_MANAGE)
    assert allows([Role.INSPECTOR], Permission.AUDIT_READ)
    assert not allows([Role.STAFF, Role.AUTHOR, Role.REVIEWER], Permission.AUDIT_READ)
    assert permissions_of([]) == set()
    assert set(POLICY) == set(Permission)


def test_production_refuses_development_settings():
    with pytest.raises(ValueError) as err:
        Settings(mode="production")
    message = str(err.value)
    for problem in ("DOCCTL_SECRET_KEY", "PostgreSQL", "S3", "https"):
        assert problem in message
    with pytest.raises(ValueError, match="ARGON2_MEMORY_KIB"):
        Settings(mode="production", argon2_memory_kib=1024)
    ok = Settings(
        mode="production", secret_key="k" * 40, database_url="postgresql+psycopg://app@db/docctl",
        blobstore_url="s3://docs?endpoint=minio:9000", base_url="https://docs.example.org",
    )
    assert ok.secure_cookies and not ok.embedded


def test_secrets_do_not_print():
    settings = Settings()
    assert DEV_SECRET not in repr(settings) and "**********" in repr(settings)


def test_data_dir_moves_the_embedded_database_and_blobs(tmp_path):
    settings = Settings(data_dir=tmp_path / "elsewhere")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'docctl.sqlite3'}"
    assert settings.resolved_blobstore_url == (tmp_path / "elsewhere" / "blobs").as_uri()
