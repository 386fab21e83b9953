"""Rendering pages and htmx partials with Jinja2 (autoescaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from docctl import __version__
from docctl.domain.policy import ROLE_TITLES, Permission, Role
from docctl.web import security
from docctl.web.assets import HTMX, TEMPLATES_DIR, sri


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_local(at: datetime | None, zone: str) -> str:
    """ISO 8601 in the viewer's zone with its offset, and the zone's name: never ambiguous (FDAQA-Q14a)."""
    if at is None:
        return ""
    local = at.astimezone(_zone(zone))
    return local.isoformat(sep=" ", timespec="seconds") + f" ({zone})"


def time_element(at: datetime | None, zone: str, *, with_zone: bool = True) -> Markup:
    """A <time> carrying the UTC instant, showing local time with its offset (and zone name unless the
    surrounding table names it once in its header)."""
    if at is None:
        return Markup("")
    utc = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = format_local(at, zone) if with_zone else at.astimezone(_zone(zone)).isoformat(sep=" ", timespec="seconds")
    return Markup('<time datetime="{}" title="{} UTC">{}</time>').format(utc, utc.replace("T", " ").rstrip("Z"), shown)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        htmx_file=HTMX.file,
        htmx_sri=sri(HTMX.file),
        version=__version__,
        role_titles={r.value: t for r, t in ROLE_TITLES.items()},
        roles=[r.value for r in Role],
        Permission=Permission,
    )
    env.filters["e"] = escape
    return env


def _viewer_zone(request: Request, caller: Any) -> str:
    if caller is not None:
        return caller.user.time_zone
    return request.app.state.docctl.settings.display_timezone


def render(
    request: Request,
    template: str,
    partial: str | None = None,
    *,
    caller: Any = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page, or just `partial` when htmx asked for a fragment."""
    name = partial if partial and request.headers.get("HX-Request") else template
    zone = _viewer_zone(request, caller)
    state = request.app.state.docctl
    csrf = caller.csrf_token if caller is not None else _anon_csrf(request)
    ctx = {
        "request": request,
        "caller": caller,
        "csrf_token": csrf,
        "zone": zone,
        "localtime": lambda at: time_element(at, zone),
        "shorttime": lambda at: time_element(at, zone, with_zone=False),
        "embedded": state.settings.embedded,
        "mode": state.settings.mode,
        **context,
    }
    html = environment().get_template(name).render(ctx)
    response = HTMLResponse(html, status_code=status_code)
    if caller is None:
        _ensure_anon_cookie(request, response)
    return response


def _anon_csrf(request: Request) -> str:
    state = request.app.state.docctl
    name = security.anon_cookie_name(state.https)
    anon = request.cookies.get(name) or getattr(request.state, "new_anon", None)
    if not anon:
        anon = security.new_anon_id()
        request.state.new_anon = anon
    return security.csrf_token_for(state.accounts.secret, f"anon:{anon}")


def _ensure_anon_cookie(request: Request, response: HTMLResponse) -> None:
    new = getattr(request.state, "new_anon", None)
    if new:
        state = request.app.state.docctl
        response.set_cookie(security.anon_cookie_name(state.https), new, **security.cookie_options(state.https))


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    caller = getattr(request.state, "caller", None)
    if request.headers.get("HX-Request"):
        return render(request, "partials/_error.html", caller=caller, status_code=status, message=message)
    return render(request, "pages/error.html", caller=caller, status_code=status, message=message, status=status)
