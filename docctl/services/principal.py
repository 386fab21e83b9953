"""Who is acting: an authenticated user, or the operator at the command line."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from docctl.audit.log import Actor
from docctl.db.models import User
from docctl.domain.policy import Permission, Role, allows
from docctl.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    actor: Actor
    roles: frozenset[str] = field(default_factory=frozenset)
    user: User | None = None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(actor=actor_of(user), roles=frozenset(user.roles), user=user)

    @classmethod
    def operator(cls) -> Principal:
        """The person at the server's command line (a shell on the host is already administrative access);
        recorded in the trail with their operating-system login."""
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        return cls(actor=Actor(id=None, username="system", name=f"docctl CLI ({login})"), roles=frozenset({Role.ADMIN}))

    def can(self, permission: Permission) -> bool:
        return allows(self.roles, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied()


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, name=user.full_name)
