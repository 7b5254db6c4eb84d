"""Packing a local working directory into a zip on the user's machine (``paddock submit --workdir``).

Which files: inside a git work tree, exactly what git would commit (tracked files plus
untracked ones that .gitignore does not exclude: ``git ls-files --cached --others
--exclude-standard``); elsewhere every file except ``.git/`` and what the directory's own
top-level ``.gitignore`` excludes (simple patterns; ``!`` re-includes are not supported).
Only regular files are packed (a symbolic link to a file packs the file's content). The zip
is deterministic: the same files give the same bytes, so an unchanged directory is not
uploaded twice.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import stat
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Ray's dashboard accepts uploads of at most 100 MiB; Paddock's default limit is the same.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_PIECE = 1024 * 1024


class PackageTooBig(ValueError):
    """The directory does not fit in a package; the message names the largest files."""


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    file_count: int


def package_directory(root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Package:
    """Zip ``root``'s files (see the module's docstring); :class:`PackageTooBig` past ``max_bytes``."""
    root = root.resolve()
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    files = list_files(root)
    if not files:
        raise ValueError(f"{root} holds no files to pack")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, mode in files:
            info = zipfile.ZipInfo(relative.as_posix(), date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            with (root / relative).open("rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while piece := source.read(_PIECE):
                    target.write(piece)
                    if buffer.tell() > max_bytes:
                        raise PackageTooBig(_too_big_message(root, files, max_bytes))
    data = buffer.getvalue()
    if len(data) > max_bytes:
        raise PackageTooBig(_too_big_message(root, files, max_bytes))
    return Package(data=data, sha256=hashlib.sha256(data).hexdigest(), file_count=len(files))


def list_files(root: Path) -> list[tuple[PurePosixPath, int]]:
    """The files to pack, relative to ``root``, sorted, each with its mode."""
    names = _git_files(root)
    if names is None:
        names = _walk_files(root, _top_level_ignores(root))
    found: list[tuple[PurePosixPath, int]] = []
    for name in sorted(set(names)):
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or ".." in relative.parts or ".git" in relative.parts:
            continue
        try:
            info = (root / name).stat()  # follows a symbolic link to what it names
        except OSError:
            continue  # deleted since git last saw it, or a dangling link
        if stat.S_ISREG(info.st_mode):  # never a FIFO or a device: reading one would hang
            found.append((relative, info.st_mode))
    return found


def _git_files(root: Path) -> list[str] | None:
    """What git would commit under ``root``; None when ``root`` is not in a git work tree."""
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            capture_output=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # Paths are relative to root; a nested repository shows as "dir/" and is left out.
    return [name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name and name[-1] != "/"]


def _top_level_ignores(root: Path) -> list[str]:
    try:
        text = (root / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", "!"))]


def _ignored(relative: str, is_dir: bool, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    for raw in patterns:
        pattern = raw
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        if "/" in pattern:  # anchored at the top: matches the whole relative path
            if fnmatch.fnmatchcase(relative, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _walk_files(root: Path, patterns: list[str]) -> list[str]:
    names: list[str] = []
    for directory, subdirectories, filenames in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        subdirectories[:] = sorted(
            d for d in subdirectories if d != ".git" and not _ignored(prefix + d, True, patterns)
        )
        names.extend(prefix + f for f in filenames if not _ignored(prefix + f, False, patterns))
    return names


def _too_big_message(root: Path, files: list[tuple[PurePosixPath, int]], max_bytes: int) -> str:
    sizes = []
    for relative, _ in files:
        try:
            sizes.append(((root / relative).stat().st_size, relative.as_posix()))
        except OSError:
            continue
    largest = ", ".join(f"{name} ({_mib(size)})" for size, name in sorted(sizes, reverse=True)[:5])
    return (
        f"{root} packs to more than {_mib(max_bytes)}, the most a package may hold. Largest files: {largest}. "
        "Add data, checkpoints and virtualenvs to .gitignore and read them from storage instead."
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
