"""Training report pages: the matrix, compliance with a chart, the overdue list, CSV export, transcripts (page and
PDF) and the point-in-time answer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
