"""Named failures. Pure: the domain, services and web all raise these; `web/errors.py` maps them to HTTP once."""

from __future__ import annotations


class DocctlError(Exception):
    """Base of every failure docctl reports to a person."""

    message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidInput(DocctlError):
    message = "The input is not valid."


class NotFound(DocctlError):
    message = "Not found."


class NotAuthenticated(DocctlError):
    message = "Please log in."


class PermissionDenied(DocctlError):
    message = "You do not have permission to do this."


class Conflict(DocctlError):
    message = "The request conflicts with the current state; reload and try again."


class LoginFailed(NotAuthenticated):
    # One message for unknown user, wrong password, locked and deactivated: never tell which (P11-300d).
    message = "The user ID or password is incorrect, or the account cannot log in."


class PasswordChangeRequired(DocctlError):
    message = "You must set a new password before continuing."


class PasswordPolicyViolation(InvalidInput):
    message = "The password does not meet the password policy."


class UsernameTaken(Conflict):
    message = "That user ID exists or existed before; user IDs are never reused."


class InvalidTransition(Conflict):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"A change from {current!r} to {target!r} is not allowed.")
        self.current = current
        self.target = target


class AuditTampered(DocctlError):
    """The audit trail does not verify: `seq` names the first event that does not match."""

    def __init__(self, seq: int, what: str, expected: str = "", found: str = "") -> None:
        detail = f"audit event {seq}: {what}"
        if expected or found:
            detail += f" (expected {expected}, found {found})"
        super().__init__(detail)
        self.seq = seq
        self.what = what
        self.expected = expected
        self.found = found


class BlobError(DocctlError):
    message = "The stored file could not be read or written."


class BlobNotFound(BlobError, NotFound):
    message = "The stored file is missing."


class BlobCorrupt(BlobError):
    message = "The stored file does not match its checksum."


class BlobTooLarge(InvalidInput):
    message = "The file is larger than the configured limit."


class ConfigurationError(DocctlError):
    message = "docctl is not configured correctly."


class UploadRejected(InvalidInput):
    """An upload that is not an acceptable controlled document; the message names the problem for the person."""

    message = "The file cannot be accepted."


class RenditionFailed(DocctlError):
    message = "The document could not be converted to PDF."


class SignatureInvalid(DocctlError):
    """A signature, its certificate chain or the signed content does not verify; `reason` says which check."""

    message = "The signature does not verify."

    def __init__(self, reason: str) -> None:
        super().__init__(f"The signature does not verify: {reason}")
        self.reason = reason


class KeyUnwrapFailed(DocctlError):
    """A signing key could not be unlocked with the password given (wrong password or damaged key)."""

    message = "The signing key could not be unlocked with this password."
