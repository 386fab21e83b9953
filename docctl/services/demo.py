"""Demo data: one user for every role, with random passwords kept in the data directory (demo mode only)."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docctl.db.session import Database
from docctl.domain.policy import Role
from docctl.services import accounts, sessions
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal

# user ID, name, title, role, time zone, department
DEMO_USERS: tuple[tuple[str, str, str, Role, str, str], ...] = (
    ("admin", "Alex Morgan", "System Administrator", Role.ADMIN, "Europe/London", "IT"),
    ("doccontrol", "Dana Kim", "Document Control Specialist", Role.DOCUMENT_CONTROL, "Europe/London", "QA"),
    ("author", "Priya Shah", "Clinical Scientist", Role.AUTHOR, "Europe/London", "CLIN"),
    ("reviewer", "Tom Becker", "Senior Clinical Research Associate", Role.REVIEWER, "Europe/Berlin", "CLIN"),
    ("approver", "Maria Lopez", "Head of Clinical Operations", Role.APPROVER, "America/New_York", "CLIN"),
    ("qa", "Sam Okafor", "QA Manager", Role.QA, "Europe/London", "QA"),
    ("staff", "Lee Chen", "Clinical Research Associate", Role.STAFF, "Asia/Singapore", "CLIN"),
    ("inspector", "Irene Novak", "GCP Inspector", Role.INSPECTOR, "Europe/Paris", ""),
    ("cra2", "Jonas Weber", "Clinical Research Associate", Role.STAFF, "Europe/Berlin", "CLIN"),
    ("datamgr", "Aiko Tanaka", "Data Manager", Role.STAFF, "Asia/Tokyo", "DM"),
    ("auditor", "Nora Quinn", "QA Auditor", Role.STAFF, "Europe/Dublin", "QA"),
)


@dataclass(frozen=True)
class DemoCredential:
    username: str
    role: str
    password: str


def _demo_password(username: str, full_name: str, config: AccountConfig) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:  # random letters can spell the user ID ("qa"): draw again until the policy accepts it
        body = "".join(secrets.choice(alphabet) for _ in range(10))
        password = f"Demo-{body}-{secrets.randbelow(90) + 10}"
        if not config.policy.problems(password, username=username, full_name=full_name):
            return password


def _ready_to_sign(database: Database, config: AccountConfig, known: dict[str, DemoCredential], at: datetime) -> None:
    """Demo signers get what a real signer needs: identity verified (by the operator) and the accountability
    statement accepted with their own password."""
    for cred in known.values():
        with database.read() as s:
            user = accounts.find_user(s, cred.username)
            if user is None or (user.identity_verified_at and user.esig_accepted_at):
                continue
            verdict = sessions.verify_credentials(s, config, username=cred.username, password=cred.password)
        with database.unit_of_work() as s:
            if user.identity_verified_at is None:
                accounts.verify_identity(s, principal=Principal.operator(), user_id=user.id,
                                         evidence="demo user: identity taken as verified for the demonstration", at=at)
        with database.unit_of_work() as s:
            if user.esig_accepted_at is None:
                accounts.accept_statement(s, config, user_id=user.id, verified_hash=verdict.verified_hash, at=at)


def credentials_file(data_dir: Path) -> Path:
    return data_dir / "demo-credentials.txt"


def seed(database: Database, config: AccountConfig, data_dir: Path, *, at: datetime) -> list[DemoCredential]:
    """Create the demo users that do not exist yet; return every demo credential (read back from the file)."""
    path = credentials_file(data_dir)
    known: dict[str, DemoCredential] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                username, role, password = line.split("\t")
                known[username] = DemoCredential(username, role, password)
    operator = Principal.operator()
    for username, name, title, role, zone, department in DEMO_USERS:
        with database.unit_of_work() as s:
            if accounts.find_user(s, username) is not None:
                continue
            created = accounts.create_user(
                s, config, principal=operator, username=username, full_name=name, title=title,
                email=f"{username}@demo.docctl.invalid", time_zone=zone, department=department, roles=[role], at=at,
            )
        # the demo user then sets their own password, as a real one must at first login
        password = _demo_password(username, name, config)
        assert created.temporary_password is not None
        with database.read() as s:
            change = accounts.prepare_password_change(
                s, config, user_id=created.user.id, current_password=created.temporary_password,
                new_password=password, at=at,
            )
        with database.unit_of_work() as s:
            accounts.change_password(s, config, change=change, at=at)
        known[username] = DemoCredential(username, role.value, password)
    _ready_to_sign(database, config, known, at)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# docctl demo users (demo mode only): user ID, role, password\n")
        for cred in known.values():
            fh.write(f"{cred.username}\t{cred.role}\t{cred.password}\n")
    return [known[u] for u, *_ in DEMO_USERS if u in known]
