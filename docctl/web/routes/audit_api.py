"""The audit-trail JSON API: signed checkpoints (tree heads) and inclusion proofs (RFC 6962) against them.

Reading needs AUDIT_READ (admin, QA, inspector). Making a checkpoint on demand writes a row, a blob and an audit
event, so it is a change and not for the read-only inspector: it needs USERS_MANAGE (the administrator, who runs
the system). The scheduler makes one every few minutes anyway, so nobody else needs to.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from docctl.domain.policy import Permission
from docctl.errors import NotFound
from docctl.services import checkpoints, signing_keys
from docctl.web.deps import Caller, Info, RequireApi, State

router = APIRouter(prefix="/api/v1")

AuditReader = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_READ))]
Admin = Annotated[Caller, Depends(RequireApi(Permission.USERS_MANAGE))]


def _ca_pem(session: Any) -> bytes | None:
    ca = signing_keys.instance_ca(session)
    return ca.certificate_pem if ca is not None else None


@router.get("/checkpoints/latest")
def latest_checkpoint(state: State, caller: AuditReader) -> dict[str, Any]:
    """The latest signed checkpoint: its body (parsed, and as signed), the DER signature in base64, the instance CA
    certificate that verifies it, and the SHA-256 of its copy in the blob store."""
    with state.db.read() as s:
        row = checkpoints.latest(s)
        if row is None:
            raise NotFound("No checkpoint has been made yet.")
        return checkpoints.checkpoint_json(row, _ca_pem(s))


@router.post("/checkpoints")
def make_checkpoint(state: State, info: Info, caller: Admin) -> JSONResponse:
    """Sign a checkpoint of the trail now (201); when nothing was appended since the last one, that one (200)."""
    at = state.clock.now()
    with state.db.unit_of_work() as s:
        row = checkpoints.make_checkpoint(s, state.blobs, secret=state.settings.secret_key.get_secret_value().encode(),
                                          at=at, made_by="on demand", principal=caller.principal, request=info)
        made = row is not None
        row = row or checkpoints.latest(s)
        if row is None:
            raise NotFound("The audit trail is empty: there is nothing to checkpoint.")
        out = checkpoints.checkpoint_json(row, _ca_pem(s))
    return JSONResponse({**out, "made": made}, status_code=201 if made else 200)


@router.get("/audit/{seq}/proof")
def inclusion_proof(
    seq: int, state: State, caller: AuditReader, tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The RFC 6962 audit path of event `seq` against the latest checkpoint covering it (or the one of
    `tree_size`): leaf hash, leaf index (seq - 1), tree size, the path from the leaf upwards as hex, the root and
    the signed checkpoint."""
    with state.db.read() as s:
        proof = checkpoints.inclusion_proof(s, seq, tree_size)
        return {**proof.as_json(), "checkpoint": checkpoints.checkpoint_json(proof.checkpoint, _ca_pem(s))}


@router.get("/checkpoints/consistency")
def consistency_proof(
    state: State, caller: AuditReader, first: Annotated[int, Query(ge=1)],
    second: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The RFC 6962 consistency proof from the checkpoint of tree size `first` to that of `second` (the latest when
    not given), with both signed checkpoints: anyone holding the two can check that the trail before `first` was
    neither changed nor removed, without the log (RFC 9162 section 2.1.4.2)."""
    with state.db.read() as s:
        proof = checkpoints.consistency_proof(s, first, second)
        ca = _ca_pem(s)
        return {**proof.as_json(), "first_checkpoint": checkpoints.checkpoint_json(proof.first, ca),
                "second_checkpoint": checkpoints.checkpoint_json(proof.second, ca)}
