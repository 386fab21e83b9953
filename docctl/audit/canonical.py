"""Canonical JSON (DESIGN.md, "Formats that must stay stable").

UTF-8, keys sorted, no insignificant whitespace, no floats: numbers are integers, everything else is a string,
a boolean, null, a list or an object. Timestamps are written by `docctl.clock.rfc3339` before they get here.
"""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON has no floats")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("canonical JSON keys are strings")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)
    elif not (value is None or isinstance(value, str | int | bool)):
        raise TypeError(f"canonical JSON cannot hold {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of `value`; raises TypeError for anything outside the format."""
    _check(value)
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate is not text
        raise TypeError(f"canonical JSON holds only valid Unicode text: {exc.reason}") from None
