"""Password hashing (argon2id) and random tokens. Hashes are slow by design: callers run them off the event loop
(FastAPI runs the sync routes that call these in its thread pool)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from docctl.config import Settings
from docctl.domain.passwords import PasswordPolicy


class Hasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._ph = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy = self._ph.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        try:
            return self._ph.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time a real check would, so an unknown user ID cannot be told apart by timing."""
        self.verify(self._dummy, password)


@dataclass(frozen=True)
class AccountConfig:
    """What the account services need from the settings, built once."""

    hasher: Hasher
    policy: PasswordPolicy
    lockout_threshold: int
    session_idle: timedelta
    session_absolute: timedelta
    api_token_lifetime: timedelta
    secret: bytes
    kdf_n: int = 2**15  # scrypt cost for signing-key wrapping
    training_gate: bool = False  # TR-GATE: approvals wait until the signer's training on documents in force is done

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountConfig:
        return cls(
            hasher=Hasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            policy=settings.password_policy,
            lockout_threshold=settings.lockout_threshold,
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_absolute=timedelta(hours=settings.session_absolute_hours),
            api_token_lifetime=timedelta(days=settings.api_token_days),
            secret=settings.secret_key.get_secret_value().encode(),
            kdf_n=settings.signing_kdf_n,
            training_gate=settings.training_gate,
        )


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def keyed(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def temporary_password(length: int = 16) -> str:
    """A one-time password an administrator hands over; it meets the policy and must be changed at first login."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length - 2)) + "-" + secrets.choice(string.digits)
        if any(c.islower() for c in pw) and any(c.isupper() for c in pw):
            return pw
