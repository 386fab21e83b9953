"""The revision lifecycle (DESIGN.md "Document lifecycle"), enforced here and nowhere else (P11-10f).

    draft -> in_review -> approved -> effective -> superseded | obsolete
    in_review -> draft      (rejection, reason required; or recall by the author)
    draft -> withdrawn
"""

from __future__ import annotations

from enum import StrEnum

from docctl.errors import InvalidInput, InvalidTransition


class State(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    EFFECTIVE = "effective"
    SUPERSEDED = "superseded"
    OBSOLETE = "obsolete"
    WITHDRAWN = "withdrawn"


class Step(StrEnum):
    """What moves a revision from one state to another; each is an audit action `revision:<step>`."""

    SUBMIT = "submit"
    REJECT = "reject"
    RECALL = "recall"
    APPROVE = "approve"
    MAKE_EFFECTIVE = "make_effective"
    SUPERSEDE = "supersede"
    RETIRE = "retire"
    WITHDRAW = "withdraw"


TRANSITIONS: dict[tuple[State, Step], State] = {
    (State.DRAFT, Step.SUBMIT): State.IN_REVIEW,
    (State.DRAFT, Step.WITHDRAW): State.WITHDRAWN,
    (State.IN_REVIEW, Step.REJECT): State.DRAFT,
    (State.IN_REVIEW, Step.RECALL): State.DRAFT,
    (State.IN_REVIEW, Step.APPROVE): State.APPROVED,
    (State.APPROVED, Step.MAKE_EFFECTIVE): State.EFFECTIVE,
    (State.EFFECTIVE, Step.SUPERSEDE): State.SUPERSEDED,
    (State.EFFECTIVE, Step.RETIRE): State.OBSOLETE,
}

REASON_REQUIRED = frozenset({Step.REJECT, Step.WITHDRAW, Step.RETIRE})

# States whose revision a person may use at the point of use (ISO-4.2.4d); the others are history or work.
CURRENT = frozenset({State.EFFECTIVE})
HISTORICAL = frozenset({State.SUPERSEDED, State.OBSOLETE})
WORK_IN_PROGRESS = frozenset({State.DRAFT, State.IN_REVIEW, State.APPROVED})
TERMINAL = frozenset({State.SUPERSEDED, State.OBSOLETE, State.WITHDRAWN})


def next_state(current: State, step: Step, *, reason: str | None = None) -> State:
    """The state `step` leads to from `current`; InvalidTransition if the lifecycle does not allow it."""
    target = TRANSITIONS.get((current, step))
    if target is None:
        raise InvalidTransition(current.value, _STEP_TARGET_NAME.get(step, step.value))
    if step in REASON_REQUIRED and not (reason or "").strip():
        raise InvalidInput(f"A reason is required to {step.value.replace('_', ' ')} a revision.")
    return target


_STEP_TARGET_NAME = {
    Step.SUBMIT: State.IN_REVIEW.value,
    Step.REJECT: State.DRAFT.value,
    Step.RECALL: State.DRAFT.value,
    Step.APPROVE: State.APPROVED.value,
    Step.MAKE_EFFECTIVE: State.EFFECTIVE.value,
    Step.SUPERSEDE: State.SUPERSEDED.value,
    Step.RETIRE: State.OBSOLETE.value,
    Step.WITHDRAW: State.WITHDRAWN.value,
}
