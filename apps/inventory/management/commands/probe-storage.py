"""``manage.py probe-storage NAME [--size-mb 256]``: measure a file-system storage backend's
write and read throughput from this machine, and its capacity, and record them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.inventory import services
from apps.inventory.models import StorageBackend


def _size(value: str) -> int:
    size = int(value)
    if size < 1:
        raise ValueError(value)
    return size


class Command(BaseCommand):
    help = (
        "Write a temporary file to a file-system storage backend (4 MiB blocks, fsync), drop it from the "
        "page cache, read it back, and record the measured GB/s and the file system's capacity and use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the storage backend's name")
        parser.add_argument(
            "--size-mb", type=_size, default=256, help="MiB to write and read back (default 256; larger is steadier)"
        )
        parser.add_argument("--organisation", help="the organisation's slug, when several have a backend of that name")

    def handle(self, *args: Any, **options: Any) -> None:
        backends = StorageBackend.objects.filter(name=options["name"]).select_related("organisation")
        if options["organisation"]:
            backends = backends.filter(organisation__slug=options["organisation"])
        found = list(backends[:2])
        if not found:
            raise CommandError(f"No storage backend is named {options['name']!r}.")
        if len(found) > 1:
            raise CommandError(f"Several organisations have a backend named {options['name']!r}: pass --organisation.")
        backend = found[0]
        try:
            probe = services.probe_storage(actor=None, backend=backend, size_mb=options["size_mb"])
        except services.StorageProbeError as exc:
            raise CommandError(str(exc)) from exc
        used, capacity = probe.used_bytes / 1e9, probe.capacity_bytes / 1e9
        self.stdout.write(
            f"{backend.name} ({backend.uri}): write {probe.write_gbps:.2f} GB/s, read {probe.read_gbps:.2f} GB/s "
            f"({probe.size_bytes // 2**20} MiB); {used:.1f} of {capacity:.1f} GB used"
        )
