"""Text kept for search: control characters out, whitespace collapsed, bounded in size."""

from __future__ import annotations

import re

# C0 controls (tab, newline and carriage return become spaces anyway), DEL, C1 controls, lone surrogates and
# non-characters: PostgreSQL refuses NUL in text and some of the others break encoders.
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """One line of text: unwanted characters become spaces, runs of whitespace one space."""
    return " ".join(_UNWANTED.sub(" ", text).split())


class TextCollector:
    """Collects chunks of text until `limit` characters are reached; `full` tells the extractor to stop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0

    @property
    def full(self) -> bool:
        return self._size >= self.limit

    def add(self, text: str | None) -> None:
        if not text or self.full:
            return
        chunk = clean(text)
        if chunk:
            self._parts.append(chunk)
            self._size += len(chunk) + 1

    def text(self) -> str:
        return " ".join(self._parts)[: self.limit].rstrip()
