"""The ``paddock`` package as a zip for a job's ``py_modules`` (deterministic bytes)."""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path


@functools.cache
def client_bundle() -> tuple[str, bytes]:
    """(sha256, zip bytes) of this package's Python files under ``paddock/``."""
    root = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(f"paddock/{path.relative_to(root).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data
