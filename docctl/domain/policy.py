"""Permission roles and what each may do (DESIGN.md "Data model"). The server checks these on every request."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DOCUMENT_CONTROL = "document_control"
    AUTHOR = "author"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    QA = "qa"
    STAFF = "staff"
    INSPECTOR = "inspector"


ROLE_TITLES: dict[Role, str] = {
    Role.ADMIN: "Administrator",
    Role.DOCUMENT_CONTROL: "Document control",
    Role.AUTHOR: "Author",
    Role.REVIEWER: "Reviewer",
    Role.APPROVER: "Approver",
    Role.QA: "Quality assurance",
    Role.STAFF: "Staff",
    Role.INSPECTOR: "Inspector (read-only)",
}


class Permission(StrEnum):
    USERS_MANAGE = "users.manage"  # create, deactivate, reset passwords, grant and revoke roles
    USERS_READ = "users.read"  # the user and access list (E6-4.3.8 periodic access review)
    AUDIT_READ = "audit.read"  # the audit trail and its verification


POLICY: dict[Permission, frozenset[Role]] = {
    Permission.USERS_MANAGE: frozenset({Role.ADMIN}),
    Permission.USERS_READ: frozenset({Role.ADMIN, Role.INSPECTOR, Role.QA}),
    Permission.AUDIT_READ: frozenset({Role.ADMIN, Role.INSPECTOR, Role.QA}),
}


def allows(roles: Iterable[str], permission: Permission) -> bool:
    allowed = POLICY[permission]
    return any(role in allowed for role in roles)


def permissions_of(roles: Iterable[str]) -> set[Permission]:
    held = set(roles)
    return {perm for perm, allowed in POLICY.items() if held & allowed}
