"""Renditions: (1) a controlled copy (stamp_pdf) of a 100-page PDF; (2) time from file to viewable rendition for
every file of ../shared/corpus (inspect + LibreOffice for DOCX + the first page as PNG). Prints figures only.

    .venv/bin/python bench/renditions_bench.py
    .venv/bin/python bench/renditions_bench.py --pages 300 --runs 10 --skip-corpus
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docctl.errors import UploadRejected  # noqa: E402
from docctl.renditions import (  # noqa: E402
    StampInfo,
    convert_to_pdf,
    inspect_file,
    page_images,
    soffice_available,
    stamp_pdf,
)
from docctl.renditions.overlay import draw_overlay, layout_signatures, signature_size  # noqa: E402

INFO = StampInfo(
    number="SOP-QA-007", title="Line clearance of filling line 3", version="2.1", state="superseded",
    effective_date="2026-11-21", printed_by="Erika Mustermann", printed_at="2026-11-21 10:00:00+01:00 (Europe/Berlin)",
    check_url="https://docctl.example.org/documents/SOP-QA-007", watermark="SUPERSEDED",
    signature_lines=tuple(f"Signer {n}: Name {n} (user{n}) — 2026-11-0{n} 09:00:00+01:00 — Approval"
                          for n in range(1, 5)),
)
WORDS = ["the", "operator", "records", "each", "deviation", "in", "the", "batch", "record", "and", "informs",
         "quality", "assurance", "before", "the", "line", "is", "released", "for", "the", "next", "batch",
         "according", "to", "the", "approved", "procedure"]


def make_pdf(path: Path, pages: int) -> None:
    """A text-heavy document: 46 lines of body text per A4 page, as a long SOP would have."""
    drawing = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        drawing.setFont("Helvetica-Bold", 14)
        drawing.drawString(72, 770, f"Section {number}")
        drawing.setFont("Times-Roman", 10.5)
        for line in range(46):
            start = (number * 7 + line * 3) % len(WORDS)
            drawing.drawString(72, 745 - line * 14.5, " ".join((WORDS * 2)[start : start + 14]))
        drawing.drawCentredString(297, 40, str(number))
        drawing.showPage()
    drawing.save()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def bench_stamp(source: Path, label: str, runs: int, reference: bool) -> None:
    pages = len(PdfReader(source).pages)
    print(f"(1) controlled copy (stamp_pdf) of {label} ({pages} pages, {source.stat().st_size / 1024:,.0f} KiB), "
          f"{runs} runs after one warm-up:")
    times = []
    for run in range(runs + 1):
        out = io.BytesIO()
        started = time.perf_counter()
        total = stamp_pdf(source, out, INFO)
        if run:
            times.append(time.perf_counter() - started)
    print(f"    median {statistics.median(times) * 1000:7.0f} ms   min {min(times) * 1000:7.0f} ms   "
          f"max {max(times) * 1000:7.0f} ms   (target < 1000 ms for 100 pages)")
    print(f"    output: {total} pages ({pages} + signature page), {len(out.getvalue()) / 1024:,.0f} KiB")
    if reference:
        started = time.perf_counter()
        size = len(merge_page_copy(source))
        print(f"    reference, the same overlay with pypdf's merge_page (not used): "
              f"{(time.perf_counter() - started) * 1000:7.0f} ms, {size / 1024:,.0f} KiB")


def merge_page_copy(source: Path) -> bytes:
    """The obvious alternative, for reference: the same overlay pages, merged with pypdf's merge_page (it parses
    each overlay stream and writes every page's content anew, uncompressed)."""
    pages = PdfReader(source).pages
    sizes = [(float(page.mediabox.width), float(page.mediabox.height)) for page in pages]
    overlay = PdfReader(io.BytesIO(draw_overlay(INFO, sizes, layout_signatures(INFO, signature_size(sizes[0])))))
    writer = PdfWriter(clone_from=PdfReader(source))
    for page, stamp in zip(writer.pages, overlay.pages, strict=False):
        page.merge_page(stamp)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bench_corpus(corpus: Path, work: Path) -> None:
    files = sorted((corpus / "pdf").glob("*.pdf")) + sorted((corpus / "docx").glob("*.docx"))
    if not files:
        print(f"(2) no corpus at {corpus}")
        return
    if not soffice_available():
        print("(2) LibreOffice (soffice) is not installed: DOCX files get no PDF rendition; skipped")
        return
    print(f"(2) file to viewable rendition, every corpus file one after another ({len(files)} files): "
          "inspect_file, convert_to_pdf for DOCX (its own LibreOffice start, fresh profile), first page as PNG "
          "(80 dpi)")
    timings: dict[str, list[float]] = {"pdf": [], "docx": []}
    slowest: list[tuple[float, str]] = []
    refused = []
    for number, path in enumerate(files):
        target = work / f"file-{number}"
        started = time.perf_counter()
        try:
            found = inspect_file(path)
        except UploadRejected as exc:
            refused.append((path.name, time.perf_counter() - started, exc.message))
            continue
        rendition = path if found.kind == "pdf" else convert_to_pdf(path, target, timeout=60)
        page_images(rendition, target / "images", dpi=80, first=1, last=1)
        elapsed = time.perf_counter() - started
        timings[found.kind].append(elapsed)
        slowest.append((elapsed, path.name))
    every = timings["pdf"] + timings["docx"]
    for label, values in (("PDF", timings["pdf"]), ("DOCX", timings["docx"]), ("all", every)):
        if values:
            within = sum(1 for v in values if v <= 5.0) / len(values)
            print(f"    {label:<5} n={len(values):3d}   p50 {statistics.median(values):6.2f} s   "
                  f"p95 {percentile(values, 0.95):6.2f} s   max {max(values):6.2f} s   within 5 s: {within:6.1%}"
                  + ("   (target 95 %)" if label == "all" else ""))
    print("    slowest: " + ", ".join(f"{name} {seconds:.2f} s" for seconds, name in sorted(slowest)[-3:][::-1]))
    for name, seconds, message in refused:
        print(f"    refused in {seconds * 1000:.0f} ms: {name}: {message[:90]}...")


def main() -> None:
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # real files make pypdf warn a lot; figures only here
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--no-reference", action="store_true", help="skip the pypdf merge_page reference")
    parser.add_argument("--source", type=Path, help="stamp this PDF instead of a generated one")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    version = subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout.strip() \
        if soffice_available() else "not installed"
    print(f"CPUs: {os.cpu_count()}, Python {sys.version.split()[0]}, LibreOffice: {version}")
    with tempfile.TemporaryDirectory(prefix="docctl-renditions-bench-") as scratch:
        generated = Path(scratch) / f"{args.pages}-pages.pdf"
        make_pdf(generated, args.pages)
        sources = [(args.source, args.source.name)] if args.source else [
            (generated, f"a generated {args.pages}-page text PDF"),
            (args.corpus / "pdf" / "009-pdflatex-geotopo_GeoTopo-komprimiert.pdf", "the corpus' LaTeX book")]
        for source, label in sources:
            if source.exists():
                bench_stamp(source, label, args.runs, reference=not args.no_reference)
        if not args.skip_corpus:
            bench_corpus(args.corpus, Path(scratch))


if __name__ == "__main__":
    main()
