"""The ``paddock`` package as a zip for Ray's ``py_modules``, so ``import paddock.job`` works in
every job whatever its image holds.

The zip is deterministic (sorted names, fixed timestamps and permissions): the same code gives
the same bytes and the same sha256, so a cluster that has it already is not sent it again.
Names carry the ``paddock/`` prefix: the folder Ray unpacks it into goes on ``PYTHONPATH``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import stat
import zipfile
from pathlib import Path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_ROOT = Path(__file__).resolve().parent


def bundle_files(root: Path = PACKAGE_ROOT) -> list[tuple[str, Path]]:
    """The package's Python files as (name in the zip, path), sorted by name."""
    files = [
        (f"{root.name}/{path.relative_to(root).as_posix()}", path)
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()
    ]
    return sorted(files)


def build_bundle(root: Path = PACKAGE_ROOT) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in bundle_files(root):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3  # Unix, wherever it was built, so the attributes mean the same
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data


@functools.cache
def client_bundle() -> tuple[str, bytes]:
    """(sha256 hex, zip bytes) of this process's ``paddock`` package, built once."""
    return build_bundle()
