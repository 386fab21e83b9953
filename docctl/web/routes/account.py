"""The person's own electronic-signature set-up: readiness and the accountability statement (P11-100c)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from docctl.domain import esig
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.domain.usernames import username_key
from docctl.services import accounts, sessions
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.render import render

router = APIRouter(prefix="/account")

Me = Annotated[Caller, Depends(Require())]
# accepting the accountability statement is for those whose roles sign (inspectors and administrators never do)
SignerMe = Annotated[Caller, Depends(Require(Permission.SIGN))]


def _page(request: Request, state: State, caller: Caller, *, error: str | None = None, status: int = 200) -> Response:
    with state.db.read() as s:
        user = accounts.get_user(s, caller.user.id)
        verifier = accounts.get_user(s, user.identity_verified_by_id) if user.identity_verified_by_id else None
    return render(request, "pages/account_signature.html", caller=caller, user=user, verifier=verifier,
                  readiness=accounts.signing_readiness(user), statement=esig.STATEMENT,
                  statement_version=esig.STATEMENT_VERSION, error=error, status_code=status)


@router.get("/signature")
def signature_page(request: Request, state: State, caller: Me) -> Response:
    return _page(request, state, caller)


@router.post("/signature")
def accept(
    request: Request, state: State, info: Info, caller: SignerMe,
    username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    agree: Annotated[bool, Form()] = False,
) -> Response:
    if not agree:
        return _page(request, state, caller, error="Tick the box to confirm that you accept the statement.",
                     status=422)
    if username_key(username) != caller.user.username_key:
        return _page(request, state, caller, error="Enter your own user ID.", status=422)
    with state.db.read() as s:
        verdict = sessions.verify_credentials(s, state.accounts, username=username, password=password)
    with state.db.unit_of_work() as s:
        ok = accounts.accept_statement(s, state.accounts, user_id=caller.user.id, verified_hash=verdict.verified_hash,
                                       at=state.clock.now(), request=info)
    if not ok:
        return _page(request, state, caller, error="The user ID or password is incorrect.", status=422)
    return RedirectResponse("/account/signature?accepted=1", status_code=303)
