"""The password policy (P11-300b): length, character variety, not the user ID, not recently used."""

from __future__ import annotations

from dataclasses import dataclass

from docctl.errors import PasswordPolicyViolation

MAX_PASSWORD_LENGTH = 256


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    min_classes: int = 3  # of lower case, upper case, digits, other
    history: int = 5  # the last N passwords may not be reused
    max_age_days: int = 365  # 0 = never expires

    def problems(self, password: str, *, username: str, full_name: str = "") -> list[str]:
        found: list[str] = []
        if len(password) < self.min_length:
            found.append(f"it must have at least {self.min_length} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            found.append(f"it must have at most {MAX_PASSWORD_LENGTH} characters")
        classes = sum(
            [
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(not c.isalnum() for c in password),
            ]
        )
        if classes < self.min_classes:
            found.append(
                f"it must have at least {self.min_classes} of: lower case, upper case, digits, other characters"
            )
        folded = password.casefold()
        if username and username.casefold() in folded:
            found.append("it must not contain the user ID")
        for part in full_name.split():
            if len(part) >= 4 and part.casefold() in folded:
                found.append("it must not contain your name")
                break
        return found

    def check(self, password: str, *, username: str, full_name: str = "") -> None:
        found = self.problems(password, username=username, full_name=full_name)
        if found:
            raise PasswordPolicyViolation("The password is not accepted: " + "; ".join(found) + ".")
