"""Is a ZIP file a plain Word document, and is it safe to open? Checked before python-docx sees it.

In order: the end-of-central-directory record (member count and directory size, before zipfile parses the
directory), the directory's declared sizes and compression ratios (zip bomb), macros, the main part's content
type, then one bounded pass that decompresses every member itself and stops as soon as a member yields more than
its header declared (headers that lie) or the total passes the limit, checking each CRC on the way.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from docctl.errors import UploadRejected
from docctl.renditions.model import Limits

DAMAGED = "The file is damaged or not a valid Word document: it could not be read."
MACROS = (
    "The Word document contains macros (a macro-enabled .docm or template, possibly renamed to .docx). "
    "Macro-enabled documents are not accepted: save it in Word as a plain Word Document (.docx) and upload that."
)
NOT_WORD = "Only PDF and Word (.docx) documents can be uploaded; this file looks like {what}."

WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_OTHER_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml":
        "a Word template (.dotx), not a document (save it as a Word Document, .docx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "an Excel workbook (.xlsx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "an Excel template (.xltx)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml":
        "a PowerPoint presentation (.pptx)",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": "a PowerPoint show (.ppsx)",
    "application/vnd.ms-visio.drawing.main+xml": "a Visio drawing (.vsdx)",
}
_ODF = {
    "application/vnd.oasis.opendocument.text": "an OpenDocument text (.odt) file (save it as .docx or PDF)",
    "application/vnd.oasis.opendocument.spreadsheet": "an OpenDocument spreadsheet (.ods)",
    "application/vnd.oasis.opendocument.presentation": "an OpenDocument presentation (.odp)",
    "application/epub+zip": "an EPUB e-book",
}
_MACRO_NAMES = ("vbaproject.bin", "vbadata.xml", "vbaprojectsignature.bin")
_MACRO_EXTENSIONS = (".docm", ".dotm", ".xlsm", ".xltm", ".xlsb", ".pptm", ".potm", ".ppsm")
_LARGE_MEMBER = 1024 * 1024  # the ratio is checked per member only from this size (small XML compresses a lot)
_SMALL_PART = 4 * 1024 * 1024  # [Content_Types].xml and [mimetype] are read whole only below this
_CHUNK = 1024 * 1024


def check_docx(path: Path, limits: Limits) -> None:
    """Return if `path` is a ZIP holding a plain Word document within `limits`; raise UploadRejected otherwise."""
    with open(path, "rb") as fh:
        _check_directory_record(fh, limits)
        try:
            archive = zipfile.ZipFile(fh)
            members = archive.infolist()
        except Exception as exc:  # BadZipFile, overlapping entries, bad ZIP64 records...: never a crash
            raise UploadRejected(DAMAGED) from exc
        _check_sizes(members, fh, limits)
        _check_macros(members, archive)
        _check_main_part(archive)
        total = 0
        for info in members:
            total += _verified_size(fh, info, limits.max_docx_uncompressed - total)


def _check_directory_record(fh: BinaryIO, limits: Limits) -> None:
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - 22 - 65535))
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise UploadRejected(DAMAGED)
    entries, directory_size = struct.unpack_from("<xxxxxxxxxxHL", tail, at)
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:  # ZIP64: the real figures are in the ZIP64 record
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            raise UploadRejected(DAMAGED)
        fh.seek(struct.unpack_from("<Q", locator, 8)[0])
        record = fh.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 56:
            raise UploadRejected(DAMAGED)
        entries, directory_size = struct.unpack_from("<QQ", record, 32)
    if entries > limits.max_docx_members or directory_size > max(1 << 20, limits.max_docx_members * 1024):
        raise UploadRejected(_too_many(entries, limits))


def _too_many(count: int, limits: Limits) -> str:
    return (f"The Word document is not accepted: it is a ZIP archive of {count:,} parts, more than the "
            f"{limits.max_docx_members:,} a Word document may have.")


def _bomb(detail: str) -> str:
    return (f"The Word document is not accepted: {detail}. This is what a 'zip bomb' looks like; "
            "a real Word document does not do this.")


def _check_sizes(members: list[zipfile.ZipInfo], fh: BinaryIO, limits: Limits) -> None:
    if len(members) > limits.max_docx_members:
        raise UploadRejected(_too_many(len(members), limits))
    total = sum(info.file_size for info in members)
    if total > limits.max_docx_uncompressed:
        raise UploadRejected(_bomb(f"it would unpack to {_mb(total)}, more than the limit of "
                                   f"{_mb(limits.max_docx_uncompressed)}"))
    archive_size = fh.seek(0, 2)
    if total > _LARGE_MEMBER and total > limits.max_docx_ratio * max(archive_size, 1):
        raise UploadRejected(_bomb(f"it would unpack to {total // max(archive_size, 1):,} times its size, more "
                                   f"than the limit of {limits.max_docx_ratio}"))
    for info in members:
        if info.file_size > _LARGE_MEMBER and info.file_size > limits.max_docx_ratio * max(info.compress_size, 1):
            raise UploadRejected(_bomb(f"its part {info.filename!r} would unpack to "
                                       f"{info.file_size // max(info.compress_size, 1):,} times its compressed "
                                       f"size, more than the limit of {limits.max_docx_ratio}"))


def _check_macros(members: list[zipfile.ZipInfo], archive: zipfile.ZipFile) -> None:
    for info in members:
        name = info.filename.lower()
        if name.rsplit("/", 1)[-1] in _MACRO_NAMES:
            raise UploadRejected(MACROS)
        if "/embeddings/" in f"/{name}" and name.endswith(_MACRO_EXTENSIONS):
            raise UploadRejected("The Word document contains an embedded macro-enabled file "
                                 f"({info.filename.rsplit('/', 1)[-1]}); documents with macros are not accepted.")
    types = _small_member(archive, "[Content_Types].xml")
    if types is not None and (b"macroenabled" in types.lower() or b"vbaproject" in types.lower()):
        raise UploadRejected(MACROS)


def _check_main_part(archive: zipfile.ZipFile) -> None:
    types = _small_member(archive, "[Content_Types].xml")
    if types is None:
        mimetype = _small_member(archive, "mimetype")
        what = _ODF.get(mimetype.decode("ascii", "replace").strip() if mimetype else "",
                        "a ZIP archive that is not a Word document")
        raise UploadRejected(NOT_WORD.format(what=what))
    content_types = _content_types(types)
    if WORD_MAIN in content_types:
        return
    for content_type, what in _OTHER_MAIN.items():
        if content_type in content_types:
            raise UploadRejected(NOT_WORD.format(what=what))
    raise UploadRejected(NOT_WORD.format(what="an Office Open XML package that is not a Word document"))


def _content_types(xml: bytes) -> set[str]:
    # OOXML never has a DTD; refusing one rules out entity expansion before the parser sees the bytes.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise UploadRejected(DAMAGED)
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - no DTD, so no entities; size bounded by _small_member
    except ElementTree.ParseError as exc:
        raise UploadRejected(DAMAGED) from exc
    return {el.get("ContentType", "") for el in root}


def _small_member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _SMALL_PART:
        raise UploadRejected(DAMAGED)
    try:
        with archive.open(info) as member:
            return member.read(_SMALL_PART + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
        raise UploadRejected(DAMAGED) from exc


def _verified_size(fh: BinaryIO, info: zipfile.ZipInfo, budget: int) -> int:
    """Decompress one member from its local header, never producing more than declared or than `budget`."""
    if info.flag_bits & 0x1:
        raise UploadRejected("The Word document is password-protected (encrypted parts). "
                             "Remove the password in Word and upload it again.")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UploadRejected(DAMAGED)
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise UploadRejected(DAMAGED)
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    fh.seek(info.header_offset + 30 + name_length + extra_length)
    limit = min(info.file_size, budget)
    remaining = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = crc = 0
    pending = b""
    try:
        while True:
            if not pending:
                if remaining <= 0:
                    break
                pending = fh.read(min(_CHUNK, remaining))
                if not pending:
                    break  # the file ends inside the member: truncated
                remaining -= len(pending)
            if inflater is None:
                data, pending = pending, b""
            else:
                data = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
            produced += len(data)
            if produced > limit:
                if produced > info.file_size:
                    raise UploadRejected(_bomb(f"its part {info.filename!r} unpacks to more than the "
                                               f"{info.file_size:,} bytes its header declares"))
                raise UploadRejected(_bomb("it unpacks to more than the size limit"))
            crc = zlib.crc32(data, crc)
            if inflater is not None and inflater.eof:
                break
    except zlib.error as exc:
        raise UploadRejected(DAMAGED) from exc
    if produced != info.file_size or crc != info.CRC:
        raise UploadRejected(DAMAGED)
    return produced


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"
