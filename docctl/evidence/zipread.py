"""Reading an untrusted zip without extracting it: safe member names, no duplicates, bounded sizes and
compression ratios, streamed reads that turn every zip, zlib and CRC failure into one error. Pure (stdlib)."""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_MEMBERS = 100_000
MAX_MEMBER_BYTES = 8 * 1024**3  # an original file; uploads are far smaller
MAX_TOTAL_BYTES = 64 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed, for members above RATIO_FLOOR (zip bombs)
RATIO_FLOOR = 4 * 1024**2
MAX_PARSED_BYTES = 256 * 1024**2  # a member read into memory to be parsed (JSON, PEM, signatures)
CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
_UTF8_FLAG = 0x800
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


class MemberUnreadable(Exception):
    """A member's bytes cannot be read as the zip describes them (corrupt, CRC, too large)."""


@dataclass
class Members:
    """The members that passed the name and size checks, by name, and what was wrong with the others."""

    infos: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name as printable text, why)


def _printable(raw: str) -> str:
    return raw if raw.isprintable() and raw.isascii() else repr(raw)


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if not (info.flag_bits & _UTF8_FLAG) and not name.isascii():
        return "the name is not UTF-8 (a legacy code page name)"
    if info.is_dir():
        return "a directory entry (the package has files only)"
    if not _SAFE_NAME.fullmatch(name) or ".." in name.split("/"):
        return "an unsafe name (absolute, parent directory, backslash or unexpected characters)"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return "an unsupported compression method"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"larger than {MAX_MEMBER_BYTES} bytes"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return f"compressed more than {MAX_RATIO}:1 (a zip bomb?)"
    return None


def members(zf: zipfile.ZipFile) -> Members:
    """Every member checked for its name, compression and declared size; duplicates refused (all copies)."""
    found = Members()
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        found.refused.append(("(zip)", f"more than {MAX_MEMBERS} members"))
        return found
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.filename] = counts.get(info.filename, 0) + 1
    total = 0
    for info in infos:
        shown = _printable(info.filename)
        if counts[info.filename] > 1:
            if info.filename not in {n for n, _ in found.refused}:
                found.refused.append((shown, f"appears {counts[info.filename]} times in the zip"))
            continue
        problem = _name_problem(info)
        if problem:
            found.refused.append((shown, problem))
            continue
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            found.refused.append((shown, f"the members add up to more than {MAX_TOTAL_BYTES} bytes"))
            continue
        found.infos[info.filename] = info
    return found


def chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes, a chunk at a time; MemberUnreadable for anything the zip gets wrong (CRC included)."""
    try:
        with zf.open(info) as reader:
            read = 0
            while chunk := reader.read(CHUNK):
                read += len(chunk)
                if read > info.file_size:
                    raise MemberUnreadable("longer than its declared size")
                yield chunk
    except READ_ERRORS as exc:
        raise MemberUnreadable(f"cannot be read from the zip ({type(exc).__name__}: {exc})") from None


def digest(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    """(SHA-256 hex, size) of the member's bytes, streamed."""
    h, size = hashlib.sha256(), 0
    for chunk in chunks(zf, info):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_PARSED_BYTES) -> bytes:
    """The whole member, for members that are parsed; MemberUnreadable above `limit` bytes."""
    if info.file_size > limit:
        raise MemberUnreadable(f"larger than {limit} bytes, too large to parse")
    return b"".join(chunks(zf, info))
