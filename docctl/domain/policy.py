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
    DOCUMENTS_READ = "documents.read"  # current effective revisions: the point of use (ISO-4.2.4d)
    DOCUMENTS_READ_ALL = "documents.read_all"  # drafts, in review, approved, superseded, obsolete, withdrawn
    DOCUMENTS_CREATE = "documents.create"  # create documents and upload revisions
    DOCUMENTS_EDIT = "documents.edit"  # metadata (authors only for documents they own)
    DOCUMENT_TYPES_MANAGE = "document_types.manage"
    TRAINING_MANAGE = "training.manage"  # job functions, their holders, the training matrix
    TRAINING_READ = "training.read"  # everyone's training: matrix, reports, transcripts, point-in-time answers
    TRAINING_RECORD = "training.record"  # record offline (classroom) training as the trainer, with a signature
    SIGN = "sign"  # take part in approvals; each task also names its signer, and readiness is checked
    AUDIT_REVIEW = "audit.review"  # sign "Audit trail review completed" over a range of the trail (MHRA-6.13)


POLICY: dict[Permission, frozenset[Role]] = {
    Permission.USERS_MANAGE: frozenset({Role.ADMIN}),
    Permission.USERS_READ: frozenset({Role.ADMIN, Role.INSPECTOR, Role.QA}),
    Permission.AUDIT_READ: frozenset({Role.ADMIN, Role.INSPECTOR, Role.QA}),
    Permission.DOCUMENTS_READ: frozenset(Role),
    # administrators run the system; they are not given the content of documents in work or retired
    Permission.DOCUMENTS_READ_ALL: frozenset(
        {Role.DOCUMENT_CONTROL, Role.AUTHOR, Role.REVIEWER, Role.APPROVER, Role.QA, Role.INSPECTOR}
    ),
    Permission.DOCUMENTS_CREATE: frozenset({Role.AUTHOR, Role.DOCUMENT_CONTROL}),
    Permission.DOCUMENTS_EDIT: frozenset({Role.AUTHOR, Role.DOCUMENT_CONTROL}),
    Permission.DOCUMENT_TYPES_MANAGE: frozenset({Role.ADMIN, Role.DOCUMENT_CONTROL}),
    Permission.TRAINING_MANAGE: frozenset({Role.ADMIN, Role.DOCUMENT_CONTROL}),
    Permission.TRAINING_READ: frozenset({Role.ADMIN, Role.DOCUMENT_CONTROL, Role.QA, Role.INSPECTOR}),
    Permission.TRAINING_RECORD: frozenset({Role.DOCUMENT_CONTROL, Role.QA}),
    # inspectors are read-only and administrators never sign (MHRA-6.16); a task also names its one signer
    Permission.SIGN: frozenset(
        {Role.REVIEWER, Role.APPROVER, Role.QA, Role.DOCUMENT_CONTROL, Role.AUTHOR, Role.STAFF}
    ),
    # QA reviews the trail and signs for it; inspectors read the reviews, administrators never sign (MHRA-6.16)
    Permission.AUDIT_REVIEW: frozenset({Role.QA}),
}


def allows(roles: Iterable[str], permission: Permission) -> bool:
    allowed = POLICY[permission]
    return any(role in allowed for role in roles)


def permissions_of(roles: Iterable[str]) -> set[Permission]:
    held = set(roles)
    return {perm for perm, allowed in POLICY.items() if held & allowed}
