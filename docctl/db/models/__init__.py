"""All tables. Importing this package registers every model on `Base.metadata`."""

from docctl.db.models.accounts import ApiToken, PasswordHistory, User, UserRole, WebSession
from docctl.db.models.approvals import ApprovalRoute, ApprovalTask, RouteStage, Signature
from docctl.db.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditSubtree, IntegrityCheck
from docctl.db.models.audit_reviews import AuditReview
from docctl.db.models.blobs import Blob
from docctl.db.models.documents import Document, DocumentHistory, DocumentType, NumberCounter, Revision
from docctl.db.models.notifications import Notification
from docctl.db.models.signing import InstanceAuthority, SigningKey
from docctl.db.models.training import (
    JobFunction,
    TrainingAssignment,
    TrainingComplianceSnapshot,
    TrainingRecord,
    TrainingRequirement,
    UserJobFunction,
)

# Tables whose rows are never changed once written: the database refuses UPDATE, DELETE and TRUNCATE on them
# (triggers on SQLite and PostgreSQL), and the PostgreSQL application role may only SELECT and INSERT.
HISTORY_TABLES: tuple[str, ...] = (
    "audit_events",
    "blobs",
    "password_history",
    "document_history",
    "instance_ca",
    "approval_routes",
    "route_stages",
    "signatures",
    "training_records",
    "audit_checkpoints",
    "audit_reviews",
)

# Derived data that is not a record (recomputable caches): the only tables the application may delete from.
DERIVED_TABLES: tuple[str, ...] = ("training_compliance_snapshots", "audit_subtrees")

__all__ = [
    "DERIVED_TABLES",
    "HISTORY_TABLES",
    "ApiToken",
    "ApprovalRoute",
    "ApprovalTask",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditReview",
    "AuditSubtree",
    "Blob",
    "IntegrityCheck",
    "Document",
    "DocumentHistory",
    "DocumentType",
    "InstanceAuthority",
    "JobFunction",
    "NumberCounter",
    "Revision",
    "RouteStage",
    "Signature",
    "SigningKey",
    "TrainingAssignment",
    "TrainingComplianceSnapshot",
    "TrainingRecord",
    "TrainingRequirement",
    "UserJobFunction",
    "Notification",
    "PasswordHistory",
    "User",
    "UserRole",
    "WebSession",
]
