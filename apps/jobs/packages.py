"""Checking an uploaded code package before Paddock keeps it (pure: bytes in, facts out).

A package is a zip of a job's working directory, made by ``paddock submit --workdir`` or by
hand. Ray unpacks it on the cluster, so it must be a real zip whose members stay inside the
directory they are unpacked into, and small enough (in members and unpacked bytes) that
unpacking cannot fill a node's disk. Only the central directory is read: nothing is
decompressed here (Python's zipfile, which Ray unpacks with, never writes more than a
member's declared size, so the declared sizes bound what unpacking can write).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class PackageError(ValueError):
    """The upload is not a package Paddock keeps; the message says why, for the user."""


@dataclass(frozen=True)
class PackageFacts:
    sha256: str
    size_bytes: int
    file_count: int
    uncompressed_bytes: int


def inspect_package(data: bytes, *, max_bytes: int, max_files: int, max_uncompressed_bytes: int) -> PackageFacts:
    """The facts of a valid package; :class:`PackageError` for anything Paddock will not keep."""
    if len(data) > max_bytes:
        raise PackageError(f"The package is {len(data)} bytes; at most {max_bytes} bytes are accepted.")
    # Count the members before zipfile builds an object for each: a small file can declare
    # millions of them.
    entries = _declared_entries(data)
    if entries > max_files:
        raise PackageError(f"The zip holds {entries} members; at most {max_files} are accepted.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise PackageError(f"Not a zip archive ({exc}).") from None
    members = archive.infolist()
    if len(members) > max_files:
        raise PackageError(f"The zip holds {len(members)} members; at most {max_files} are accepted.")
    total = 0
    files = 0
    for member in members:
        problem = _member_problem(member)
        if problem:
            raise PackageError(f"Member {member.filename!r}: {problem}")
        total += member.file_size
        if not member.is_dir():
            files += 1
    if total > max_uncompressed_bytes:
        raise PackageError(
            f"The zip unpacks to {total} bytes; at most {max_uncompressed_bytes} are accepted. "
            "Leave data and checkpoints out of the package (add them to .gitignore) and read them from storage."
        )
    if files == 0:
        raise PackageError("The zip holds no files.")
    return PackageFacts(
        sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), file_count=files, uncompressed_bytes=total
    )


def _member_problem(member: zipfile.ZipInfo) -> str:
    name = member.filename
    if not name or "\x00" in name:
        return "an empty or NUL name."
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path; members must be relative to the package's top."
    if ".." in name.replace("\\", "/").split("/"):
        return "a '..' in its path would unpack outside the package."
    if member.flag_bits & 0x1:
        return "encrypted members are not supported."
    if member.compress_type not in _SUPPORTED_METHODS:
        return f"compression method {member.compress_type} is not supported (use deflate)."
    return ""


def _declared_entries(data: bytes) -> int:
    """The member count the end-of-central-directory record declares (zip64 included)."""
    tail_start = max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT)
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or at + _EOCD_SIZE > len(data):
        raise PackageError("Not a zip archive (no end-of-central-directory record).")
    entries = int(struct.unpack_from("<H", data, at + 10)[0])
    locator = at - 20
    if entries == 0xFFFF and locator >= 0 and data[locator : locator + 4] == _EOCD64_LOCATOR:
        offset = int(struct.unpack_from("<Q", data, locator + 8)[0])
        if offset + 56 <= len(data) and data[offset : offset + 4] == _EOCD64:
            entries = int(struct.unpack_from("<Q", data, offset + 32)[0])
    return entries
