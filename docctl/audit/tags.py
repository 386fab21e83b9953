"""Audit action tags: `"subject:verb"` strings, greppable, one enum."""

from __future__ import annotations

from enum import StrEnum


class Tag(StrEnum):
    USER_LOGIN = "user:login"
    USER_LOGIN_FAILED = "user:login_failed"
    USER_LOGOUT = "user:logout"
    USER_LOCKED = "user:locked"
    USER_UNLOCKED = "user:unlocked"
    USER_CREATE = "user:create"
    USER_UPDATE = "user:update"
    USER_DEACTIVATE = "user:deactivate"
    USER_PASSWORD_CHANGE = "user:password_change"
    USER_PASSWORD_CHANGE_FAILED = "user:password_change_failed"
    USER_PASSWORD_RESET = "user:password_reset"
    ROLE_GRANT = "role:grant"
    ROLE_REVOKE = "role:revoke"
    SESSION_TIMEOUT = "session:timeout"
    TOKEN_ISSUE = "token:issue"
    TOKEN_REVOKE = "token:revoke"
    CONFIG_CHANGE = "config:change"
    ACCESS_REVIEW_EXPORT = "access_review:export"
    SYSTEM_INIT = "system:init"
    AUDIT_VERIFY = "audit:verify"
    STORAGE_SCRUB = "storage:scrub"
    BLOB_STORE = "blob:store"
