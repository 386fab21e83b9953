"""Settings: read once from `DOCCTL_*` environment variables into `Settings`, then passed down."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from docctl.domain.passwords import PasswordPolicy
from docctl.errors import ConfigurationError

DEV_SECRET = "docctl-development-secret-do-not-use-in-production"  # noqa: S105 (a marker, refused in production)


class Settings(BaseSettings):
    """Every knob docctl has. A production setting left at a development default refuses to start."""

    model_config = SettingsConfigDict(env_prefix="DOCCTL_", extra="ignore", frozen=True)

    mode: Literal["development", "demo", "production"] = "development"
    data_dir: Path = Path("storage")
    database_url: str = ""  # default: sqlite:///<data_dir>/docctl.sqlite3
    blobstore_url: str = ""  # default: file://<data_dir>/blobs
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    base_url: str = "http://127.0.0.1:8000"
    display_timezone: str = "UTC"  # default zone for users who have not chosen one

    session_idle_minutes: int = Field(15, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(12, ge=1, le=24 * 7)
    lockout_threshold: int = Field(5, ge=1, le=100)
    password_min_length: int = Field(12, ge=8, le=128)
    password_history: int = Field(5, ge=0, le=50)
    password_max_age_days: int = Field(365, ge=0)
    api_token_days: int = Field(30, ge=1, le=366)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)
    signing_kdf_n: int = Field(2**15, ge=2**8, le=2**20)  # scrypt cost wrapping each signing key
    max_request_bytes: int = Field(1024 * 1024, ge=1024)  # forms and JSON; uploads have their own limit
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    scheduler_interval_seconds: int = Field(30, ge=0)  # 0 = no in-process scheduler (use `docctl tick`)
    training_gate: bool = False  # TR-GATE: nobody signs approvals while training on documents in force is open
    training_reminder_days: int = Field(3, ge=0, le=60)  # remind this many days before training falls due
    checkpoint_minutes: int = Field(5, ge=1)  # sign a checkpoint of the audit trail this often when it grew
    audit_pdf_max_events: int = Field(20_000, ge=1)  # a larger PDF export is refused: narrow the filters or use CSV
    working_hours: str = "07:00-19:00"  # the outside-working-hours exception report (MHRA-6.13/EMA-6.2.2)
    working_days: str = "Mon-Fri"
    working_timezone: str = ""  # default: display_timezone
    smtp_url: str = ""  # smtp://host:port (e-mail notifications; empty = in-app only)
    mail_from: str = "docctl@localhost"
    pg_app_role: str = "docctl_app"  # the role the application connects as on PostgreSQL

    @model_validator(mode="after")
    def _refuse_development_defaults_in_production(self) -> Settings:
        if self.mode != "production":
            return self
        problems = []
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET or len(secret) < 32:
            problems.append("DOCCTL_SECRET_KEY must be set to a random value of at least 32 characters")
        if not self.database_url.startswith("postgresql"):
            problems.append("DOCCTL_DATABASE_URL must point at PostgreSQL")
        if not self.blobstore_url.startswith("s3://"):
            problems.append("DOCCTL_BLOBSTORE_URL must point at S3 (MinIO) with object lock")
        if not self.base_url.startswith("https://"):
            problems.append("DOCCTL_BASE_URL must be https")
        if self.signing_kdf_n < 2**14:
            problems.append("DOCCTL_SIGNING_KDF_N must be at least 16384")
        if self.argon2_memory_kib < 19456:
            problems.append("DOCCTL_ARGON2_MEMORY_KIB must be at least 19456 (OWASP minimum)")
        if problems:
            raise ValueError("production mode refuses development settings: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _working_hours_are_valid(self) -> Settings:
        """DOCCTL_WORKING_HOURS/_DAYS/_TIMEZONE are checked at start-up, not when the report is first opened."""
        from docctl.services.audit_exceptions import WorkingHours  # the report's own parser

        try:
            WorkingHours.from_settings(self)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'docctl.sqlite3').resolve()}"

    @property
    def resolved_blobstore_url(self) -> str:
        return self.blobstore_url or (self.data_dir / "blobs").resolve().as_uri()

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @cached_property
    def password_policy(self) -> PasswordPolicy:
        return PasswordPolicy(
            min_length=self.password_min_length,
            history=self.password_history,
            max_age_days=self.password_max_age_days,
        )


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a bad value becomes one clear ConfigurationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
