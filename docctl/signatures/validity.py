"""Certificate validity periods: whole seconds in UTC, as X.509 stores them."""

from __future__ import annotations

from datetime import UTC, datetime


def start_of(at: datetime) -> datetime:
    """The notBefore for a certificate issued at `at`: `at` in UTC, truncated to the second (X.509 has no
    fractions), so that anything signed at `at` or later falls inside the period."""
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(UTC).replace(microsecond=0)


def years_after(start: datetime, years: int) -> datetime:
    """`start` plus whole calendar years; 29 February becomes 28 February in a year that has none."""
    if years < 1:
        raise ValueError("a certificate is valid for at least one year")
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)
