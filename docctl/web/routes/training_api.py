"""The training JSON API (`/api/v1/training/...`)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
