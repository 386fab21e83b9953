"""The application factory: everything the app needs is built once here and kept on `app.state.docctl`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from docctl import __version__
from docctl.blobstore.base import BlobStore
from docctl.blobstore.factory import blobstore_from_url
from docctl.clock import Clock, SystemClock
from docctl.config import Settings
from docctl.db.session import Database
from docctl.services import system
from docctl.services.credentials import AccountConfig
from docctl.web import errors, security
from docctl.web.assets import STATIC_DIR
from docctl.web.deps import AppState, Caller, Public, RequireApi
from docctl.web.routes import (
    access_review,
    account,
    admin_users,
    api,
    approvals,
    approvals_api,
    audit,
    audit_api,
    audit_reports,
    audit_reviews,
    audit_reviews_api,
    auth,
    document_types,
    documents,
    documents_api,
    evidence,
    integrity,
    signatures,
    training,
    training_api,
    training_reports,
)

log = logging.getLogger("docctl")


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    blobs: BlobStore | None = None,
    clock: Clock | None = None,
    accounts: AccountConfig | None = None,
    run_scheduler: bool | None = None,
) -> FastAPI:
    database = database or Database.from_url(settings.resolved_database_url)
    state = AppState(
        settings=settings,
        db=database,
        clock=clock or SystemClock(),
        accounts=accounts or AccountConfig.from_settings(settings),
        blobs=blobs or blobstore_from_url(settings.resolved_blobstore_url),
    )
    scheduler = settings.scheduler_interval_seconds > 0 if run_scheduler is None else run_scheduler

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_scheduler_loop(state)) if scheduler else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="docctl",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.docctl = state
    upload_limit = settings.max_upload_bytes + 64 * 1024

    def limit_for(path: str) -> int:
        return upload_limit if path.endswith("/revisions") else settings.max_request_bytes

    app.add_middleware(security.BodyLimit, limit_for=limit_for)
    app.add_middleware(security.SecurityHeaders, https=settings.secure_cookies)
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    pages_routers = (auth, account, approvals, access_review, admin_users, audit, documents, document_types, training,
                     training_reports, audit_reviews, audit_reports, integrity, signatures)
    for pages in (module.router for module in pages_routers):
        app.include_router(pages, include_in_schema=False)  # the OpenAPI document describes the JSON API only
    app.include_router(api.router)
    app.include_router(documents_api.router)
    app.include_router(approvals_api.router)
    app.include_router(training_api.router)
    app.include_router(audit_api.router)
    app.include_router(integrity.api)
    app.include_router(evidence.router, include_in_schema=False)
    app.include_router(evidence.api_router)
    app.include_router(audit_reviews_api.router)

    @app.get("/healthz", dependencies=[Depends(Public())], include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(caller: Annotated[Caller, Depends(RequireApi())]) -> dict[str, Any]:
        return get_openapi(title=app.title, version=app.version, routes=app.routes)

    return app


async def _scheduler_loop(state: AppState) -> None:
    """The in-process scheduler of `docctl serve`; `docctl tick` runs the same pass from cron."""
    interval = state.settings.scheduler_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(_tick_once, state)
        except Exception:  # the loop must survive a failing pass; the next one retries
            log.exception("scheduler pass failed")


def _tick_once(state: AppState) -> None:
    with state.db.unit_of_work() as s:
        system.tick(s, state.settings, state.accounts, at=state.clock.now(), store=state.blobs)
    system.refresh_reports(state.db, at=state.clock.now())


def app_from_environment() -> FastAPI:
    """The application of one worker process of `docctl serve --workers N`: settings read from the environment.
    Every worker runs the scheduler loop; on PostgreSQL an advisory lock lets one act at a time, and on SQLite the
    write lock serializes them (each pass is idempotent)."""
    from docctl.config import load_settings

    return create_app(load_settings())
