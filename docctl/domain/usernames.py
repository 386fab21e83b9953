"""User IDs: unique case-insensitively and never reused (P11-100a, P11-300a)."""

from __future__ import annotations

import re
import unicodedata

from docctl.errors import InvalidInput

_ALLOWED = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


def username_key(username: str) -> str:
    """The form two user IDs are compared in: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def check_username(username: str) -> str:
    key = username_key(username)
    if not _ALLOWED.match(key):
        raise InvalidInput(
            "A user ID is 2 to 63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return key
