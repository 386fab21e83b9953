"""Approval routes: who must sign a submission, stage by stage (pure rules; services supply the people)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from docctl.domain.policy import Role
from docctl.errors import InvalidInput

MEANINGS = (
    "Reviewed",
    "Approved",
    "QA Approved",
    "Authored",
    "Verified",
    "Released",
    "Responsibility Accepted",
)


@dataclass(frozen=True)
class StageRule:
    position: int
    name: str
    meaning: str
    rule: str  # "role": any `required` holders of `role`; "users": `required` of the named users
    role: str | None = None
    user_ids: tuple[uuid.UUID, ...] = field(default_factory=tuple)
    required: int = 1
    author_may_sign: bool = False

    def check(self) -> None:
        if not self.name.strip() or not self.meaning.strip():
            raise InvalidInput(f"Stage {self.position} needs a name and a meaning.")
        if self.rule == "role":
            try:
                Role(self.role or "")
            except ValueError:
                raise InvalidInput(f"Stage {self.position}: unknown role {self.role!r}.") from None
        elif self.rule == "users":
            if not self.user_ids:
                raise InvalidInput(f"Stage {self.position}: name at least one user.")
            if self.required > len(set(self.user_ids)):
                raise InvalidInput(f"Stage {self.position}: more signatures required than users named.")
        else:
            raise InvalidInput(f"Stage {self.position}: the rule is 'role' or 'users'.")
        if not 1 <= self.required <= 10:
            raise InvalidInput(f"Stage {self.position}: 1 to 10 signatures.")


def check_route(stages: Sequence[StageRule]) -> None:
    if not stages:
        raise InvalidInput("A route has at least one stage.")
    if [s.position for s in stages] != list(range(1, len(stages) + 1)):
        raise InvalidInput("Stages are numbered 1, 2, 3, ... in order.")
    for stage in stages:
        stage.check()


def assignees(
    stage: StageRule, *, holders: Mapping[str, Iterable[uuid.UUID]], author_id: uuid.UUID,
    already_signed: Iterable[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """The people to ask for this stage: the named users or the role's holders, without the author (unless the
    stage allows it) and without anyone who has signed another stage of the same submission."""
    pool = list(stage.user_ids) if stage.rule == "users" else list(holders.get(stage.role or "", ()))
    excluded = set(already_signed)
    if not stage.author_may_sign:
        excluded.add(author_id)
    return [p for p in dict.fromkeys(pool) if p not in excluded]


def stage_complete(stage: StageRule, signed: int) -> bool:
    return signed >= stage.required


def functions(stages: Sequence[StageRule]) -> set[tuple[str, str]]:
    """The approving functions of a route (for ISO-4.2.4-chg: a new revision goes to the same ones)."""
    return {(s.meaning, s.role or ",".join(sorted(str(u) for u in s.user_ids))) for s in stages}
