"""Reading, measuring, handing out and deleting checkpoint files on a team's storage backend.

Two kinds of store: a file system mounted at the same path on the control plane and on the
cluster's nodes (``local``, ``nfs``, ``lustre``, ``beegfs``), and S3-compatible object stores
(``s3``), reached with boto3 and the backend's own endpoint and credentials. A job never gets
those credentials: it writes and reads through short-lived presigned URLs for the paths it may
touch. Every call to an object store has a deadline.

URIs are ``file:///abs/path/…`` and ``s3://bucket/key/…``; a checkpoint is a "directory" (a
prefix ending in ``/``). :func:`normalise` refuses anything with ``..``, empty or odd segments,
so a prefix test on normalised URIs is a containment test.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings

from apps.inventory.choices import FILESYSTEM_STORAGE_KINDS, StorageKind
from apps.inventory.models import StorageBackend

# One PUT carries at most this much (S3's limit for a single upload).
MAX_FILE_BYTES = 5 * 2**30
MAX_FILES = 10_000
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
_SEGMENT = re.compile(r"^[A-Za-z0-9._+=@,:~-]+$")


class StorageError(Exception):
    """A storage call failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the checkpoint's URI, "/"-separated
    size: int


@dataclass(frozen=True)
class Measured:
    bytes: int
    file_count: int
    sha256: str  # "" when the checkpoint is too big to read back cheaply


def normalise(uri: str, *, directory: bool = False) -> str:
    """The canonical form of a ``file://`` or ``s3://`` URI; ValueError for anything else."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("file", "s3") or parts.query or parts.fragment:
        raise ValueError("Give a file:// or s3:// URI without a query or fragment.")
    if parts.scheme == "s3" and not parts.netloc:
        raise ValueError("An s3:// URI names its bucket: s3://bucket/key.")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ValueError("A file:// URI names a path on this machine: file:///path.")
    segments = [unquote(segment) for segment in parts.path.split("/")]
    inner = segments[1:-1] if parts.path.endswith("/") else segments[1:]
    if any(segment in ("", ".", "..") or not _SEGMENT.match(segment) for segment in inner):
        raise ValueError("The path has an empty, '.', '..' or unusual segment.")
    path = "/" + "/".join(quote(segment, safe="._+=@,:~-") for segment in inner)
    if directory and not path.endswith("/"):
        path += "/"
    host = parts.netloc if parts.scheme == "s3" else ""
    return f"{parts.scheme}://{host}{path}"


def within(prefix: str, uri: str) -> bool:
    """True when ``uri`` lies under the directory ``prefix`` (both normalised by the caller)."""
    return uri.startswith(prefix if prefix.endswith("/") else prefix + "/") and uri != prefix


def root_uri(storage: StorageBackend) -> str:
    """The storage's root as a directory URI."""
    raw = storage.uri.strip()
    if storage.kind in FILESYSTEM_STORAGE_KINDS:
        path = raw.removeprefix("file://")
        if not path.startswith("/"):
            raise StorageError(f"storage {storage.name}: give an absolute path, not {raw!r}", retryable=False)
        return normalise("file://" + path, directory=True)
    if storage.kind == StorageKind.S3:
        return normalise(raw, directory=True)
    raise StorageError(
        f"storage {storage.name} is of kind {storage.kind}, which Paddock cannot keep checkpoints on yet "
        "(use a file system or an S3-compatible store)",
        retryable=False,
    )


def job_prefix(storage: StorageBackend, team_slug: str, job_id: int) -> str:
    return job_prefix_at(root_uri(storage), team_slug, job_id)


def job_prefix_at(root: str, team_slug: str, job_id: int) -> str:
    """A job's checkpoint prefix under a storage root (:func:`root_uri`)."""
    return f"{root}teams/{team_slug}/jobs/{job_id}/"


def datasets_prefix(storage: StorageBackend, team_slug: str) -> str:
    return f"{root_uri(storage)}teams/{team_slug}/datasets/"


def checkpoint_uri(prefix: str, step: int) -> str:
    return f"{prefix}step-{step:08d}/"


def check_relative_path(path: Any) -> str:
    """A file's path inside a checkpoint; ValueError unless it is relative and plain."""
    if not isinstance(path, str) or not path or len(path) > 500 or path.startswith("/"):
        raise ValueError("Give a relative path of at most 500 characters.")
    segments = path.split("/")
    if any(segment in ("", ".", "..") or not _SEGMENT.match(segment) for segment in segments):
        raise ValueError(f"{path!r} has an empty, '.', '..' or unusual segment.")
    return path


class Store:
    """What Paddock does with files on one storage backend."""

    kind = ""

    def files(self, uri: str) -> list[StoredFile]:
        raise NotImplementedError

    def delete(self, uri: str) -> int:
        raise NotImplementedError

    def read(self, uri: str, path: str) -> Iterable[bytes]:
        raise NotImplementedError

    def upload_targets(self, uri: str, paths: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def download_sources(self, uri: str, files: list[StoredFile]) -> dict[str, Any]:
        raise NotImplementedError

    def measure(self, uri: str) -> Measured:
        """Size and file count from the storage itself; a sha256 of (path, content) pairs when
        the whole checkpoint is at most PADDOCK_CHECKPOINT_HASH_MAX_BYTES."""
        files = self.files(uri)
        total = sum(item.size for item in files)
        digest = ""
        if files and total <= int(settings.PADDOCK_CHECKPOINT_HASH_MAX_BYTES):
            manifest = hashlib.sha256()
            for item in sorted(files, key=lambda f: f.path):
                content = hashlib.sha256()
                for block in self.read(uri, item.path):
                    content.update(block)
                manifest.update(f"{item.path}\0{content.hexdigest()}\n".encode())
            digest = manifest.hexdigest()
        return Measured(bytes=total, file_count=len(files), sha256=digest)


class LocalStore(Store):
    """A file system mounted at the same path everywhere (a local disk for one machine)."""

    kind = "local"

    @staticmethod
    def path(uri: str) -> Path:
        return Path(unquote(urlsplit(uri).path))

    def files(self, uri: str) -> list[StoredFile]:
        root = self.path(uri)
        if not root.is_dir():
            return []
        found: list[StoredFile] = []
        try:
            for directory, _, names in os.walk(root):
                for name in names:
                    full = Path(directory) / name
                    if full.is_symlink() or not full.is_file():
                        continue  # a link could point anywhere: never counted, read or handed out
                    found.append(StoredFile(full.relative_to(root).as_posix(), full.stat().st_size))
        except OSError as exc:
            raise StorageError(f"cannot list {uri}: {exc.strerror}", retryable=True) from exc
        return sorted(found, key=lambda f: f.path)

    def read(self, uri: str, path: str) -> Iterable[bytes]:
        with open(self.path(uri) / path, "rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    def delete(self, uri: str) -> int:
        root = self.path(uri)
        if not root.exists():
            return 0
        count = len(self.files(uri))
        try:
            shutil.rmtree(root)
        except OSError as exc:
            raise StorageError(f"cannot delete {uri}: {exc.strerror}", retryable=True) from exc
        return count

    def upload_targets(self, uri: str, paths: list[str]) -> dict[str, Any]:
        root = self.path(uri)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {uri}: {exc.strerror}", retryable=True) from exc
        return {"directory": str(root), "files": [{"path": p, "local_path": str(root / p)} for p in paths]}

    def download_sources(self, uri: str, files: list[StoredFile]) -> dict[str, Any]:
        root = self.path(uri)
        return {
            "directory": str(root),
            "files": [{"path": f.path, "size": f.size, "local_path": str(root / f.path)} for f in files],
        }


class S3Store(Store):
    """An S3-compatible object store, with the backend's endpoint and credentials."""

    kind = "s3"

    def __init__(self, storage: StorageBackend) -> None:
        import boto3
        from botocore.config import Config

        self.name = storage.name
        self.client = boto3.client(
            "s3",
            endpoint_url=storage.endpoint_url or None,
            region_name=storage.region or "us-east-1",
            aws_access_key_id=storage.access_key_id or None,
            aws_secret_access_key=storage.secret_access_key or None,
            config=Config(
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"},
                signature_version="s3v4",
            ),
        )

    @staticmethod
    def _split(uri: str) -> tuple[str, str]:
        parts = urlsplit(uri)
        return parts.netloc, unquote(parts.path.lstrip("/"))

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            code = exc.response.get("Error", {}).get("Code", "")
            raise StorageError(
                f"storage {self.name}: {what}: {code or status}", retryable=status >= 500 or status in (408, 429)
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(f"storage {self.name}: {what}: {exc}", retryable=True) from exc

    def files(self, uri: str) -> list[StoredFile]:
        bucket, key = self._split(uri)
        found: list[StoredFile] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list", self.client.list_objects_v2, **kwargs)
            for item in page.get("Contents") or []:
                found.append(StoredFile(item["Key"][len(key) :], int(item["Size"])))
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
            if len(found) > MAX_FILES:
                raise StorageError(f"{uri} holds more than {MAX_FILES} files", retryable=False)
        return sorted(found, key=lambda f: f.path)

    def read(self, uri: str, path: str) -> Iterable[bytes]:
        bucket, key = self._split(uri)
        body = self._call("read", self.client.get_object, Bucket=bucket, Key=key + path)["Body"]
        try:
            while block := body.read(1024 * 1024):
                yield block
        finally:
            body.close()

    def delete(self, uri: str) -> int:
        bucket, key = self._split(uri)
        files = self.files(uri)
        for start in range(0, len(files), 1000):
            batch = [{"Key": key + f.path} for f in files[start : start + 1000]]
            answer = self._call(
                "delete", self.client.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"storage {self.name}: delete {first.get('Key')}: {first.get('Code')}", retryable=True
                )
        return len(files)

    def _presign(self, method: str, uri: str, path: str) -> str:
        bucket, key = self._split(uri)
        return str(
            self._call(
                "presign",
                self.client.generate_presigned_url,
                ClientMethod=method,
                Params={"Bucket": bucket, "Key": key + path},
                ExpiresIn=int(settings.PADDOCK_STORAGE_URL_SECONDS),
            )
        )

    def upload_targets(self, uri: str, paths: list[str]) -> dict[str, Any]:
        # Sent with each PUT: without it a client's default (urllib's form encoding) may be
        # taken by some S3-compatible servers as a form to parse, and the object stored empty.
        headers = {"Content-Type": "application/octet-stream"}
        return {"files": [{"path": p, "url": self._presign("put_object", uri, p), "headers": headers} for p in paths]}

    def download_sources(self, uri: str, files: list[StoredFile]) -> dict[str, Any]:
        return {
            "files": [{"path": f.path, "size": f.size, "url": self._presign("get_object", uri, f.path)} for f in files]
        }


def store_for(storage: StorageBackend) -> Store:
    root_uri(storage)  # refuses kinds Paddock cannot use
    return S3Store(storage) if storage.kind == StorageKind.S3 else LocalStore()
