"""DOCX to PDF with LibreOffice: headless, in a fresh private profile per run, with a timeout.

The profile is written before LibreOffice starts, with macros disabled and links to outside resources
neither followed nor updated: the documents converted here come from uploads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from docctl.errors import RenditionFailed
from docctl.renditions.process import run, tail

NOT_INSTALLED = "LibreOffice (soffice) is not installed, so the Word document cannot be converted to PDF."

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="UseOpenCL" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""  # noqa: E501


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def soffice_available() -> bool:
    return soffice_path() is not None


def convert_to_pdf(path: Path, out_dir: Path, *, timeout: float = 60.0) -> Path:
    """Convert one DOCX to `out_dir/<stem>.pdf` (replacing a file of that name); RenditionFailed on failure."""
    path = Path(path)
    return convert_many([path], out_dir, timeout=timeout)[path]


def convert_many(paths: Sequence[Path], out_dir: Path, *, timeout: float = 300.0) -> dict[Path, Path]:
    """Convert several DOCX files in ONE LibreOffice run (it starts once: much faster than one run each).

    Returns {source: pdf}; outputs are `out_dir/<stem>.pdf`, with `-2`, `-3`... added when stems repeat.
    `timeout` bounds the whole run. RenditionFailed names the files LibreOffice could not convert.
    """
    executable = soffice_path()
    if executable is None:
        raise RenditionFailed(NOT_INSTALLED)
    sources = [Path(p) for p in paths]
    if not sources:
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="docctl-soffice-") as scratch:
        work = Path(scratch)
        staged = _stage(sources, work / "in")
        profile = work / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
        command = [executable, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
                   "--nologo", "--nodefault", "--nolockcheck", "--norestore",
                   "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(work / "out"), *map(str, staged)]
        env = {**os.environ, "HOME": str(work)}  # nothing of LibreOffice's lands in the service's home
        result = run(command, timeout=timeout, what="LibreOffice", env=env, cwd=work)
        converted: dict[Path, Path] = {}
        failed = []
        used: set[str] = set()
        for source, staged_path in zip(sources, staged, strict=True):
            produced = work / "out" / f"{staged_path.stem}.pdf"
            if not produced.is_file() or produced.stat().st_size == 0:
                failed.append(source.name)
                continue
            target = out_dir / f"{_unique(source.stem, used)}.pdf"
            shutil.move(produced, target)
            converted[source] = target
    if failed:
        detail = tail(result.stderr) or tail(result.stdout) or f"exit status {result.returncode}"
        raise RenditionFailed(f"LibreOffice could not convert {', '.join(failed)} to PDF ({detail}).")
    return converted


def _stage(sources: list[Path], directory: Path) -> list[Path]:
    """Links with plain names (0001.docx, ...): the upload's own name never reaches LibreOffice's command line."""
    directory.mkdir()
    staged = []
    for number, source in enumerate(sources, 1):
        link = directory / f"{number:04d}.docx"
        try:
            link.symlink_to(source.resolve())
        except OSError:
            shutil.copyfile(source, link)
        staged.append(link)
    return staged


def _unique(stem: str, used: set[str]) -> str:
    name, number = stem, 1
    while name in used:
        number += 1
        name = f"{stem}-{number}"
    used.add(name)
    return name
