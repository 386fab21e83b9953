"""What a file really is, from its first bytes: never from its name or a browser's content type."""

from __future__ import annotations

import struct
from pathlib import Path

HEAD_BYTES = 8192  # enough for every signature below; the file itself is never read whole

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# (signature at offset 0, what it looks like to a person)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document (save it as .docx or PDF)"),
    (b"%!PS", "a PostScript file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
)


def is_pdf(head: bytes) -> bool:
    # Readers accept the header anywhere in the first 1024 bytes (ISO 32000-1, annex H).
    return b"%PDF-" in head[:1024]


def is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def describe(head: bytes, path: Path) -> str:
    """A short phrase naming what a file that is neither PDF nor ZIP looks like: "a PNG image", "plain text"."""
    if head.startswith(_OLE_MAGIC):
        return _describe_ole(path)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "a HEIC image"
    if head[4:8] == b"ftyp":
        return "a video or audio file (MP4/QuickTime)"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00" and len(head) >= 26:  # reserved fields are zero
        return "a BMP image"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] == b"1AY&SY":
        return "a bzip2 archive"
    return _describe_text(head)


def _describe_text(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "plain text (UTF-16)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "a file of an unknown type"
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html")) or "<html" in stripped[:1024]:
        return "an HTML page"
    if stripped.startswith("<?xml"):
        return "an XML file (a Word 2003 XML or other XML document, not a .docx)"
    if stripped.startswith(("{", "[")):
        return "a JSON or other text file"
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    if text and printable / len(text) > 0.95:
        return "plain text"
    return "a file of an unknown type"


def _describe_ole(path: Path) -> str:
    """An OLE compound file: legacy .doc/.xls/.ppt, or an encrypted (password-protected) Office 2007+ file."""
    names = _ole_names(path)
    if "EncryptedPackage" in names or "EncryptionInfo" in names:
        return "a password-protected Office document (remove the password in Word and upload the .docx)"
    if "WordDocument" in names:
        return "a legacy Word .doc (OLE) file (save it as .docx or PDF)"
    if "Workbook" in names or "Book" in names:
        return "a legacy Excel .xls (OLE) file"
    if "PowerPoint Document" in names:
        return "a legacy PowerPoint .ppt (OLE) file"
    return "a legacy Microsoft Office (OLE) file, not a .docx"


def _ole_names(path: Path) -> set[str]:
    """Names in the first directory sector of an OLE compound file (the root's streams live there)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(512)
            shift, = struct.unpack_from("<H", header, 0x1E)
            first_dir, = struct.unpack_from("<I", header, 0x30)
            if not 7 <= shift <= 16:
                return set()
            fh.seek((first_dir + 1) << shift)
            sector = fh.read(1 << shift)
    except (OSError, struct.error):
        return set()
    names = set()
    for offset in range(0, len(sector) - 127, 128):  # 128-byte directory entries
        length, = struct.unpack_from("<H", sector, offset + 64)
        if 2 <= length <= 64:
            names.add(sector[offset : offset + length - 2].decode("utf-16-le", "replace"))
    return names
