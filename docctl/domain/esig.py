"""When a person may sign electronically (21 CFR 11.100, 11.200; Annex 11 §14), and the accountability statement."""

from __future__ import annotations

from dataclasses import dataclass

STATEMENT_VERSION = "esig-statement-v1"
STATEMENT = (
    "I understand that my electronic signature in docctl is the legally binding equivalent of my handwritten "
    "signature, that I am accountable and responsible for actions taken under it, and that I must never share "
    "my user ID and password or let anyone else sign for me."
)


@dataclass(frozen=True)
class SigningReadiness:
    identity_verified: bool
    statement_accepted: bool
    own_password: bool
    active: bool

    @property
    def ready(self) -> bool:
        return self.identity_verified and self.statement_accepted and self.own_password and self.active

    def missing(self) -> list[str]:
        out = []
        if not self.active:
            out.append("the account is not active")
        if not self.identity_verified:
            out.append("an administrator has not yet recorded the verification of your identity (P11-100b)")
        if not self.statement_accepted:
            out.append("you have not yet accepted the electronic signature accountability statement (P11-100c)")
        if not self.own_password:
            out.append("your password was set by an administrator: set your own before signing (P11-200a2-3)")
        return out
