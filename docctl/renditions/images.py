"""PNG images of PDF pages with poppler's pdftoppm, for showing a rendition in the browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from docctl.errors import RenditionFailed
from docctl.renditions.process import run, tail

_PAGE_FILE = re.compile(r"^page-(\d+)\.png$")


def pdftoppm_available() -> bool:
    return shutil.which("pdftoppm") is not None


def page_images(pdf: Path, out_dir: Path, *, dpi: int = 80, first: int = 1, last: int | None = None,
                timeout: float = 60.0) -> list[Path]:
    """`out_dir/page-N.png` for pages first..last (all from `first` if last is None), in page order."""
    executable = shutil.which("pdftoppm")
    if executable is None:
        raise RenditionFailed("pdftoppm (poppler-utils) is not installed, so page images cannot be made.")
    if first < 1 or (last is not None and last < first) or not 1 <= dpi <= 1200:
        raise ValueError("page_images: need 1 <= first <= last and 1 <= dpi <= 1200")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # -cropbox: the area viewers show and printers print (the default would be the media box)
    command = [executable, "-png", "-cropbox", "-r", str(dpi), "-f", str(first)]
    if last is not None:
        command += ["-l", str(last)]
    result = run([*command, str(pdf), str(out_dir / "page")], timeout=timeout, what="pdftoppm")
    pages = []
    for image in out_dir.iterdir():
        match = _PAGE_FILE.match(image.name)
        if match and first <= int(match.group(1)) <= (last if last is not None else 1 << 30):
            pages.append((int(match.group(1)), image))
    if result.returncode != 0 or not pages:
        detail = tail(result.stderr) or f"exit status {result.returncode}"
        raise RenditionFailed(f"The page images could not be made ({detail}).")
    return [image for _number, image in sorted(pages)]
