"""Training pages: My training, reading and signing read and understood, offline training, job functions, their
holders and requirements, the HR file import and the grid editor."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
