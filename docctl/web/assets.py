"""Static assets and their integrity values."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class Vendored:
    file: str
    version: str
    sha256: str


HTMX = Vendored("htmx-2.0.11.min.js", "2.0.11", "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717")


@cache
def sri(name: str) -> str:
    """The Subresource Integrity value of a static file (sha384, as browsers expect)."""
    digest = hashlib.sha384((STATIC_DIR / name).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()
