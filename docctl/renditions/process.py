"""Running a converter (soffice, pdftoppm) with a timeout that stops it and everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from docctl.errors import RenditionFailed


def run(command: list[str], *, timeout: float, what: str, env: Mapping[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` in its own process group; on timeout kill the whole group and raise RenditionFailed."""
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace", env=env, cwd=cwd,
                                   start_new_session=True)
    except OSError as exc:
        raise RenditionFailed(f"{what} could not be started: {exc.strerror or exc}.") from exc
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise RenditionFailed(f"{what} did not finish within {timeout:g} seconds and was stopped.") from None
    except BaseException:
        _kill_group(process)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    # The group we created with start_new_session, and only that; the leader is not yet reaped, so its id
    # cannot have been reused.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def tail(text: str, lines: int = 3) -> str:
    """The last lines of a converter's output, for an error message."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept)
