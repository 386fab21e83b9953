"""The `docctl` command (also `python -m docctl`). Every command runs without a terminal and exits non-zero on
failure, so scripts and cron can rely on it."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import Annotated

import typer

from docctl.blobstore.factory import blobstore_from_url
from docctl.clock import SystemClock
from docctl.config import Settings, load_settings
from docctl.db import migrate as migrations
from docctl.db.session import Database, make_engine
from docctl.domain.policy import Role
from docctl.errors import AuditTampered, DocctlError
from docctl.services import accounts, demo, demo_documents, demo_training, signing_keys, system
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal

app = typer.Typer(help="docctl: document control and Part 11 electronic signatures.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
user_app = typer.Typer(help="Manage user accounts (as the operator of this server).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
storage_app = typer.Typer(help="The blob store.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(storage_app, name="storage")

log = logging.getLogger("docctl")


def _settings(**overrides: object) -> Settings:
    return load_settings(**overrides)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"docctl: {message}", err=True)
    return typer.Exit(code)


def _database(settings: Settings, *, migrate_embedded: bool = True) -> Database:
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_url(settings.resolved_database_url)
    if settings.embedded and migrate_embedded:
        migrations.upgrade(database.engine)
    elif not settings.embedded:
        _require_migrated(database)
    return database


def _require_migrated(database: Database) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config(str(database.engine.url)))
    current = migrations.current_revision(database.engine)
    if current != script.get_current_head():
        raise _fail(
            f"the database is at revision {current or 'none'}, the code needs {script.get_current_head()}: "
            "run `docctl migrate` as the database owner first"
        )


def _record_configuration(database: Database, settings: Settings, *, first_at: datetime | None = None) -> None:
    """Record the configuration (and create the instance CA the first time) now, or at `first_at` when the instance
    is new (the demo, whose history starts weeks back: its CA must be valid when its first signatures were made)."""
    with database.unit_of_work() as s:
        new = first_at is not None and signing_keys.instance_ca(s) is None
        system.initialise(s, settings, at=first_at if new and first_at else SystemClock().now())


@app.command()
def init() -> None:
    """Create the data directory and the database (embedded default), and record the configuration."""
    settings = _settings()
    database = _database(settings)
    _record_configuration(database, settings)
    typer.echo(f"docctl initialised: database {settings.resolved_database_url.split('@')[-1]}")
    typer.echo(f"blob store {settings.resolved_blobstore_url.split('?')[0]}")


@app.command()
def migrate(
    owner_url: Annotated[str, typer.Option(help="Connect as the schema owner (default: DOCCTL_DATABASE_URL).")] = "",
    grant_to: Annotated[str, typer.Option(help="PostgreSQL application role to grant SELECT/INSERT(/UPDATE) to "
                                              "(default: DOCCTL_PG_APP_ROLE; '-' to skip).")] = "",
) -> None:
    """Apply the database migrations (as the owner) and grant the application role its rights."""
    settings = _settings()
    url = owner_url or settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    migrations.upgrade(engine)
    typer.echo(f"schema at revision {migrations.current_revision(engine)}")
    role = grant_to or settings.pg_app_role
    if engine.dialect.name == "postgresql" and role != "-":
        try:
            migrations.grant_app_role(engine, role)
        except LookupError as exc:
            raise _fail(str(exc)) from None
        typer.echo(f"granted role {role}: SELECT, INSERT on history tables; SELECT, INSERT, UPDATE elsewhere")
    engine.dispose()


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import os

    import uvicorn

    from docctl.web.app import create_app

    database = _database(settings)
    _record_configuration(database, settings)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if settings.embedded:
        log.warning("embedded mode: SQLite and local files under %s; not for production", settings.data_dir)
    processes = f" with {workers} worker processes" if workers > 1 else ""
    typer.echo(f"docctl serving at http://{host}:{port}/{processes}")
    if workers > 1:
        # each worker process reads the same settings from the environment (the mode too)
        database.dispose()
        os.environ["DOCCTL_MODE"] = settings.mode
        os.environ["DOCCTL_DATA_DIR"] = str(settings.data_dir)
        uvicorn.run("docctl.web.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="info", proxy_headers=False)
        return
    uvicorn.run(create_app(settings, database=database), host=host, port=port, log_level="info",
                proxy_headers=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (one per core).")] = 1,
) -> None:
    """Run the web server (and its scheduler). Migrates the embedded SQLite database first."""
    _serve(_settings(), host, port, workers)


@app.command("demo")
def demo_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server after seeding.")] = True,
) -> None:
    """Seed demo users for every role (passwords printed here, demo mode only) and serve."""
    settings = _settings(mode="demo")
    database = _database(settings)
    # the demo's history starts six weeks ago, so that training assigned then is overdue today (demo mode only)
    now = SystemClock().now()
    start = now - timedelta(days=42)
    _record_configuration(database, settings, first_at=start - timedelta(minutes=5))
    config = AccountConfig.from_settings(settings)
    creds = demo.seed(database, config, settings.data_dir, at=start)
    store = blobstore_from_url(settings.resolved_blobstore_url)
    passwords = {c.username: c.password for c in creds}
    added = demo_documents.seed_documents(database, store, config, author="author", passwords=passwords,
                                          at=start, progress=typer.echo)
    if added:
        typer.echo(f"Added {added} demo documents (Word files written by docctl, converted to PDF by LibreOffice).")
    if demo_training.seed_training(database, config, passwords=passwords, start=start, now=now, progress=typer.echo):
        typer.echo("Added the demo training matrix: staff with training complete, due and overdue.")
        with database.unit_of_work() as s:
            system.tick(s, settings, config, at=now)  # reminders and overdue notices, as the scheduler would
    typer.echo("")
    typer.echo("Demo users (demo mode only; passwords kept in " + str(demo.credentials_file(settings.data_dir)) + "):")
    for cred in creds:
        typer.echo(f"  {cred.username:<12} {cred.role:<17} {cred.password}")
    typer.echo("")
    if serve:
        _serve(settings, host, port)


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise _fail("no password on standard input")
    return password


def _operator_uow(settings: Settings):  # type: ignore[no-untyped-def]
    database = _database(settings)
    return database, AccountConfig.from_settings(settings), Principal.operator(), SystemClock().now()


def _user_id(database: Database, username: str):  # type: ignore[no-untyped-def]
    with database.read() as s:
        user = accounts.find_user(s, username)
        if user is None:
            raise _fail(f"no user {username!r}")
        return user.id


@user_app.command("create")
def user_create(
    username: str,
    name: Annotated[str, typer.Option("--name", help="Full name, printed with every signature.")],
    role: Annotated[list[Role] | None, typer.Option("--role", help="A permission role; repeat for more.")] = None,
    title: Annotated[str, typer.Option(help="Job title.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    time_zone: Annotated[str, typer.Option("--time-zone", help="IANA time zone.")] = "UTC",
    department: Annotated[str, typer.Option("--department", help="Department code, e.g. CLIN.")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the initial password from standard "
                                                 "input (else one is generated and printed).")] = False,
) -> None:
    """Create a user. The initial password counts as set by an administrator: it must be changed at first login."""
    settings = _settings()
    password = _read_password_stdin() if password_stdin else None
    database, config, operator, at = _operator_uow(settings)
    with database.unit_of_work() as s:
        created = accounts.create_user(
            s, config, principal=operator, username=username, full_name=name, title=title, email=email,
            time_zone=time_zone, department=department, roles=[r.value for r in role or []], password=password, at=at,
        )
    typer.echo(f"created {created.user.username} ({created.user.id})")
    if created.temporary_password:
        typer.echo(f"temporary password: {created.temporary_password}")


@user_app.command("deactivate")
def user_deactivate(username: str, reason: Annotated[str, typer.Option(help="Why (recorded).")]) -> None:
    """Deactivate a user (never deleted): sessions and tokens end at once."""
    settings = _settings()
    database, _, operator, at = _operator_uow(settings)
    uid = _user_id(database, username)
    with database.unit_of_work() as s:
        accounts.deactivate_user(s, principal=operator, user_id=uid, reason=reason, at=at)
    typer.echo(f"deactivated {username}")


@user_app.command("reset-password")
def user_reset_password(username: str, reason: Annotated[str, typer.Option(help="Why (recorded).")]) -> None:
    """Issue a temporary password (printed); it must be changed at next login and can never sign."""
    settings = _settings()
    database, config, operator, at = _operator_uow(settings)
    uid = _user_id(database, username)
    with database.unit_of_work() as s:
        temp = accounts.reset_password(s, config, principal=operator, user_id=uid, reason=reason, at=at)
    typer.echo(f"temporary password: {temp}")


@user_app.command("grant")
def user_grant(username: str, role: Role, reason: Annotated[str, typer.Option(help="Why (recorded).")]) -> None:
    """Grant a permission role."""
    settings = _settings()
    database, _, operator, at = _operator_uow(settings)
    uid = _user_id(database, username)
    with database.unit_of_work() as s:
        accounts.grant_role(s, principal=operator, user_id=uid, role=role.value, reason=reason, at=at)
    typer.echo(f"granted {role.value} to {username}")


@user_app.command("revoke")
def user_revoke(username: str, role: Role, reason: Annotated[str, typer.Option(help="Why (recorded).")]) -> None:
    """Revoke a permission role."""
    settings = _settings()
    database, _, operator, at = _operator_uow(settings)
    uid = _user_id(database, username)
    with database.unit_of_work() as s:
        accounts.revoke_role(s, principal=operator, user_id=uid, role=role.value, reason=reason, at=at)
    typer.echo(f"revoked {role.value} from {username}")


@user_app.command("list")
def user_list() -> None:
    """Users with their roles, status and last login (for periodic access review)."""
    settings = _settings()
    database, _, operator, _ = _operator_uow(settings)
    with database.read() as s:
        for u in accounts.list_users(s, principal=operator):
            last = u.last_login_at.isoformat() if u.last_login_at else "never"
            typer.echo(f"{u.username}\t{u.status}\t{','.join(u.roles) or '-'}\t{last}\t{u.full_name}")


class _VerifyProgress:
    """A progress bar on stderr for `audit verify`: bar, events done of the total, events per second. Redrawn in
    place (carriage return) at most ten times a second. Not click's progressbar, which hides itself whenever
    stderr is not a terminal, where `--progress` asks for it all the same."""

    WIDTH = 30

    def __init__(self) -> None:
        import time

        self._now = time.monotonic
        self.start = self._now()
        self.total = 0
        self.done = 0
        self._drawn = 0.0

    def set_total(self, total: int) -> None:
        self.total = total
        self._draw()

    def advance(self, events: int) -> None:
        self.done += events
        if self._now() - self._drawn >= 0.1 or self.done >= self.total:
            self._draw()

    def rate(self) -> float:
        elapsed = self._now() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _draw(self) -> None:
        self._drawn = self._now()
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        sys.stderr.write(f"\rverifying audit trail [{bar}] {fraction:4.0%} {self.done}/{self.total} events, "
                         f"{self.rate():,.0f} events/s")
        sys.stderr.flush()

    def finish(self) -> None:
        self._draw()
        sys.stderr.write("\n")
        sys.stderr.flush()


@audit_app.command("verify")
def audit_verify(
    progress: Annotated[bool, typer.Option("--progress", help="Show the progress bar even when stderr is not a "
                                           "terminal.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Recompute every leaf hash and tree root, then check every signed checkpoint; exit 1 naming the first event
    that does not match, or each checkpoint problem."""
    import time

    from sqlalchemy import func, select

    from docctl.audit.verify import verify_log
    from docctl.db.models import AuditCheckpoint
    from docctl.services import checkpoints

    settings = _settings()
    database = _database(settings, migrate_embedded=False)
    bar = _VerifyProgress() if not quiet and (progress or sys.stderr.isatty()) else None
    tampered: AuditTampered | None = None
    started = time.monotonic()
    with database.read() as s:
        try:
            report = verify_log(s, progress=bar.advance if bar else None, total=bar.set_total if bar else None)
        except AuditTampered as exc:
            tampered = exc
        finally:
            if bar is not None:
                bar.finish()
        seconds = time.monotonic() - started
        count = s.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
        problems: list[str] = []
        if count:  # the blob store is built only when there is a checkpoint to compare with its copy
            problems = checkpoints.check_consistency(s, blobstore_from_url(settings.resolved_blobstore_url))
            latest = checkpoints.latest(s)
            latest_size = latest.tree_size if latest is not None else 0
    if tampered is not None:
        typer.echo(f"docctl: AUDIT TRAIL DOES NOT VERIFY: {tampered.message}", err=True)
    else:
        typer.echo(f"audit trail verified: {report.size} events, root {report.root.hex()}")
        if bar is not None:
            typer.echo(f"verified in {seconds:.2f} s ({report.size / seconds if seconds > 0 else 0:,.0f} events/s)",
                       err=True)
    for problem in problems:
        typer.echo(f"docctl: CHECKPOINT DOES NOT VERIFY: {problem}", err=True)
    if count and not problems:
        typer.echo(f"{count} checkpoints verified (latest tree size {latest_size})")
    elif not count:
        typer.echo("no checkpoints to verify yet")
    if tampered is not None or problems:
        raise typer.Exit(1)


@app.command("verify-package")
def verify_package_command(
    file: Annotated[str, typer.Argument(help="The evidence package (.zip) to check.")],
) -> None:
    """Check an evidence package with no server, database or settings: every member's SHA-256, the CA's signatures
    on the manifest and the checkpoint, every audit event's inclusion proof and every electronic signature. Exit 0
    when all is well, 1 naming each member that fails, 2 when the file is not a readable zip."""
    from docctl.evidence.verify import NotAPackage, verify_package

    try:
        report = verify_package(file)
    except NotAPackage as exc:
        raise _fail(f"{file}: {exc}", 2) from None
    typer.echo(f"evidence package {file}")
    if report.ca_fingerprint:
        typer.echo(f"instance CA certificate (ca.pem) SHA-256 fingerprint: {report.ca_fingerprint}")
        typer.echo("  compare it with the fingerprint your organisation published: every check below trusts ca.pem")
    for line in report.checked:
        typer.echo(f"checked: {line}")
    for problem in report.problems:
        typer.echo(f"docctl: PACKAGE DOES NOT VERIFY: {problem}", err=True)
    if not report.ok:
        raise _fail(f"{len(report.problems)} problem(s) in {file}", 1)
    typer.echo("evidence package verified: no problems")


@storage_app.command("scrub")
def storage_scrub(
    no_content: Annotated[bool, typer.Option("--no-content", help="Check presence and size only, not hashes.")] = False,
) -> None:
    """Report blobs no row references and rows whose blob is missing or altered. Deletes nothing referenced."""
    from docctl.services.storage import scrub

    settings = _settings()
    database = _database(settings, migrate_embedded=False)
    report = scrub(database, blobstore_from_url(settings.resolved_blobstore_url), verify_content=not no_content)
    for line in report.lines():
        typer.echo(line)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def tick() -> None:
    """Run one pass of background work (for cron, when the in-process scheduler is off)."""
    settings = _settings()
    database = _database(settings, migrate_embedded=False)
    with database.unit_of_work() as s:
        report = system.tick(s, settings, AccountConfig.from_settings(settings), at=SystemClock().now(),
                             store=blobstore_from_url(settings.resolved_blobstore_url))
    for line in report.lines():
        typer.echo(line)
    if not report.skipped:
        refreshed = system.refresh_reports(database, at=SystemClock().now())
        typer.echo(f"training compliance summary: {'recomputed' if refreshed else 'up to date'}")


def main() -> None:
    try:
        app()
    except DocctlError as exc:
        typer.echo(f"docctl: {exc.message}", err=True)
        sys.exit(1)



