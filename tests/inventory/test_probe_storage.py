"""``manage.py probe-storage``: real write and read throughput of a file-system backend."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.models import AuditEntry
from apps.inventory.models import StorageBackend
from tests.factories import StorageBackendFactory

pytestmark = pytest.mark.django_db


def probe(*args: str) -> str:
    out = StringIO()
    call_command("probe-storage", *args, stdout=out)
    return out.getvalue()


def nothing_recorded(backend: StorageBackend) -> bool:
    backend.refresh_from_db()
    fields = (backend.read_gbps, backend.write_gbps, backend.measured_at, backend.capacity_bytes, backend.used_bytes)
    return all(value is None for value in fields) and not AuditEntry.objects.exists()


def test_probe_records_measured_throughput_and_capacity(tmp_path: Path) -> None:
    backend = StorageBackendFactory(name="scratch", kind="local", uri=str(tmp_path))

    output = probe("scratch", "--size-mb", "32")

    backend.refresh_from_db()
    assert backend.write_gbps is not None and backend.write_gbps > 0
    assert backend.read_gbps is not None and backend.read_gbps > 0
    assert backend.measured_at is not None
    usage = shutil.disk_usage(tmp_path)
    assert backend.capacity_bytes == usage.total
    assert backend.used_bytes is not None and 0 < backend.used_bytes <= usage.total
    assert "scratch" in output and "GB/s" in output and "(32 MiB)" in output
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    entry = AuditEntry.objects.get(action="inventory.storage_probed")
    assert entry.target_id == str(backend.pk) and entry.actor is None


def test_a_second_probe_replaces_the_figures(tmp_path: Path) -> None:
    backend = StorageBackendFactory(name="scratch", kind="nfs", uri=str(tmp_path))
    probe("scratch", "--size-mb", "4")
    backend.refresh_from_db()
    first = backend.measured_at
    probe("scratch", "--size-mb", "4")
    backend.refresh_from_db()
    assert backend.measured_at is not None and first is not None and backend.measured_at > first
    assert AuditEntry.objects.filter(action="inventory.storage_probed").count() == 2


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_an_object_store_is_refused_and_nothing_is_recorded(kind: str) -> None:
    backend = StorageBackendFactory(name="bucket", kind=kind, uri="s3://bucket/prefix")
    with pytest.raises(CommandError, match="only file systems"):
        probe("bucket")
    assert nothing_recorded(backend)


def test_a_missing_path_is_refused_and_nothing_is_recorded(tmp_path: Path) -> None:
    backend = StorageBackendFactory(name="gone", kind="lustre", uri=str(tmp_path / "not-mounted"))
    with pytest.raises(CommandError, match="not an existing directory"):
        probe("gone")
    assert nothing_recorded(backend)


def test_a_relative_path_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    backend = StorageBackendFactory(name="relative", kind="local", uri="data")
    with pytest.raises(CommandError, match="not an existing directory"):
        probe("relative")
    assert nothing_recorded(backend)


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """A directory nobody may create files in: mode 0500, or for root the immutable flag."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        undo = ["chmod", "700", str(directory)]
    else:
        if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i")
        undo = ["chattr", "-i", str(directory)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_path_is_refused_and_nothing_is_recorded(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    backend = StorageBackendFactory(name="locked", kind="beegfs", uri=str(locked))
    with unwritable(locked), pytest.raises(CommandError, match="Cannot write"):
        probe("locked")
    assert nothing_recorded(backend)
    assert list(locked.iterdir()) == []


def test_an_unknown_name_and_a_bad_size_are_refused(tmp_path: Path) -> None:
    backend = StorageBackendFactory(name="scratch", kind="local", uri=str(tmp_path))
    with pytest.raises(CommandError, match="No storage backend"):
        probe("nope")
    with pytest.raises(CommandError):
        probe("scratch", "--size-mb", "0")
    assert nothing_recorded(backend)


def test_the_same_name_in_two_organisations_needs_the_organisation(tmp_path: Path) -> None:
    first = StorageBackendFactory(name="shared", kind="local", uri=str(tmp_path))
    StorageBackendFactory(name="shared", kind="local", uri=str(tmp_path))
    with pytest.raises(CommandError, match="--organisation"):
        probe("shared")
    probe("shared", "--organisation", first.organisation.slug, "--size-mb", "4")
    first.refresh_from_db()
    assert first.read_gbps is not None and first.read_gbps > 0
