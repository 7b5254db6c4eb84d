"""The zip of ``paddock`` that jobs get through Ray's ``py_modules``."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from paddock.bundle import build_bundle, client_bundle


def test_the_bundle_is_deterministic_and_cached() -> None:
    digest, data = client_bundle()
    assert client_bundle() is client_bundle()
    assert build_bundle() == (digest, data)  # built again from the files: the same bytes
    assert hashlib.sha256(data).hexdigest() == digest
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    assert names == sorted(names)
    assert "paddock/__init__.py" in names
    assert "paddock/job.py" in names
    assert all(name.startswith("paddock/") and name.endswith(".py") for name in names)
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in archive.infolist()} == {0o100644}


def test_the_bundle_imports_paddock_job_alone_without_requests(tmp_path: Path) -> None:
    _, data = client_bundle()
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path / "unpacked")
    (tmp_path / "bundle.zip").write_bytes(data)
    # -S -I: no site-packages (so no requests) and no user paths; only the bundle on the path.
    probe = "import sys, paddock.job; assert 'requests' not in sys.modules; print(paddock.job.__file__)"
    for path in [tmp_path / "unpacked", tmp_path / "bundle.zip"]:
        out = subprocess.run(
            [sys.executable, "-S", "-c", probe],
            env={"PYTHONPATH": str(path), "PATH": os.environ.get("PATH", "")},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert str(path) in out.stdout
