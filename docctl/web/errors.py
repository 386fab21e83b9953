"""The one table from failures to HTTP responses, for pages and for the JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from docctl import errors as e

STATUS: dict[type[e.DocctlError], int] = {
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.Conflict: 409,
    e.PasswordChangeRequired: 403,
    e.BlobCorrupt: 500,
    e.RenditionFailed: 502,
    e.SignatureInvalid: 409,
    e.KeyUnwrapFailed: 403,
    e.BlobError: 503,
    e.AuditTampered: 500,
    e.ConfigurationError: 500,
}


def status_for(exc: e.DocctlError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def wants_page(request: Request) -> bool:
    return not is_api(request) and "HX-Request" not in request.headers


def _json(status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    from docctl.web.render import render_error  # the pages depend on the app state; import late

    @app.exception_handler(e.DocctlError)
    async def docctl_error(request: Request, exc: e.DocctlError) -> Response:
        status = status_for(exc)
        if is_api(request):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return _json(status, type(exc).__name__, exc.message, headers=headers)
        if isinstance(exc, e.NotAuthenticated) and request.method in ("GET", "HEAD") and wants_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
        if isinstance(exc, e.NotAuthenticated) and "HX-Request" in request.headers:
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        if isinstance(exc, e.PasswordChangeRequired) and request.method in ("GET", "HEAD"):
            return RedirectResponse("/account/password", status_code=303)
        return render_error(request, status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]), "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        if is_api(request):
            return _json(422, "InvalidInput", "The request is not valid.", details)
        text = "; ".join(f"{d['field'] or 'input'}: {d['problem']}" for d in details)
        return render_error(request, 422, f"The form is not valid: {text}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if is_api(request):
            return _json(exc.status_code, "HTTPError", message, headers=getattr(exc, "headers", None))
        return render_error(request, exc.status_code, message)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
