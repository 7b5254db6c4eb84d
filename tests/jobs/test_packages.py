"""Code packages: a team uploads a zip of its code; its jobs name it; Paddock ships it."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEntry
from apps.jobs import services
from apps.jobs.models import CodePackage, Job
from apps.jobs.packages import PackageError, inspect_package

pytestmark = pytest.mark.django_db

GOOD = {"name": "hello", "team": "alpha", "entrypoint": "python main.py"}


def make_zip(files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in (files or {"main.py": b"print('hi')\n"}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def upload(client: Any, data: bytes, team: str = "alpha", name: str = "code.zip") -> Any:
    return client.post("/api/v1/packages/", {"team": team, "file": SimpleUploadedFile(name, data)}, format="multipart")


def test_a_zip_becomes_a_package_with_its_uri(world: Any) -> None:
    data = make_zip({"main.py": b"print('hi')\n", "lib/util.py": b"X = 1\n", "lib/": b""})

    response = upload(world.client(world.member), data)

    assert response.status_code == 201, response.content
    body = response.json()
    sha = hashlib.sha256(data).hexdigest()
    assert body["uri"] == f"paddock://packages/{sha}"
    assert body["sha256"] == sha
    assert (body["team"], body["size_bytes"], body["file_count"]) == ("alpha", len(data), 2)
    assert body["created_by"] == "max"
    assert "content" not in body
    assert bytes(CodePackage.objects.values_list("content", flat=True).get()) == data
    assert AuditEntry.objects.filter(action="jobs.package_uploaded").count() == 1


def test_the_same_bytes_again_are_the_same_package(world: Any) -> None:
    data = make_zip()
    client = world.client(world.member)

    first = upload(client, data)
    again = upload(client, data)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert CodePackage.objects.count() == 1


def too_many_members() -> bytes:
    """A small zip whose end record declares a million members."""
    data = bytearray(make_zip())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 0xFFFF, 0xFFFF)
    return bytes(data)


def with_member_named(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(b"print('not a zip')\n", "Not a zip", id="not-a-zip"),
        pytest.param(make_zip()[:-30], "Not a zip", id="truncated"),
        pytest.param(with_member_named("../../etc/cron.d/x"), "'..'", id="zip-slip"),
        pytest.param(with_member_named("a/../../x"), "'..'", id="zip-slip-nested"),
        pytest.param(with_member_named("/etc/passwd"), "absolute", id="absolute"),
        pytest.param(with_member_named("C:/Windows/x"), "absolute", id="drive"),
        pytest.param(make_zip({"empty/": b""}), "no files", id="no-files"),
        pytest.param(too_many_members(), "members", id="member-count"),
    ],
)
def test_what_is_not_a_safe_zip_is_refused(world: Any, data: bytes, words: str) -> None:
    response = upload(world.client(world.member), data)

    assert response.status_code == 400, response.content
    assert words in response.json()["file"][0]
    assert CodePackage.objects.count() == 0


def test_a_zip_bomb_is_refused_by_its_declared_size(world: Any, settings: Any) -> None:
    settings.PADDOCK_PACKAGE_MAX_UNCOMPRESSED_BYTES = 1024 * 1024
    bomb = make_zip({"zeros.bin": b"\0" * (2 * 1024 * 1024)})  # a few KiB that unpack to 2 MiB

    response = upload(world.client(world.member), bomb)

    assert response.status_code == 400
    assert "unpacks to" in response.json()["file"][0]


def test_too_big_is_refused_before_it_is_read(world: Any, settings: Any) -> None:
    settings.PADDOCK_PACKAGE_MAX_BYTES = 1000
    data = make_zip({"big.bin": os.urandom(4000)})  # random: does not compress

    response = upload(world.client(world.member), data)
    huge = world.client(world.member).post(
        "/api/v1/packages/", b"x" * 200_000, content_type="multipart/form-data; boundary=x"
    )

    assert response.status_code == 400
    assert "at most 1000 bytes" in response.json()["file"][0]
    assert huge.status_code == 400 and "at most 1000 bytes" in huge.json()["file"][0]
    assert CodePackage.objects.count() == 0


def test_the_package_limit_is_rays_own(settings: Any) -> None:
    from ray._private import ray_constants

    # Ray's dashboard refuses request bodies over this size, so a larger package never arrives.
    assert settings.RAY_MAX_PACKAGE_BYTES == ray_constants.DASHBOARD_CLIENT_MAX_SIZE
    assert settings.PADDOCK_PACKAGE_MAX_BYTES <= ray_constants.DASHBOARD_CLIENT_MAX_SIZE


def test_readers_cannot_upload(world: Any) -> None:
    data = make_zip()

    read_token = upload(world.client(world.member, scope="read"), data)
    viewer = upload(world.client(world.viewer), data)
    stranger = upload(world.client(world.outsider), data)

    assert read_token.status_code == 403
    assert viewer.status_code == 403
    assert stranger.status_code == 400 and "team" in stranger.json()
    assert CodePackage.objects.count() == 0


def test_packages_are_listed_and_read_only_within_their_team(world: Any) -> None:
    mine = upload(world.client(world.member), make_zip()).json()
    theirs = upload(world.client(world.outsider), make_zip({"other.py": b""}), team="beta").json()
    client = world.client(world.viewer)

    listed = client.get("/api/v1/packages/").json()
    by_sha = client.get(f"/api/v1/packages/?sha256={mine['sha256']}&team=alpha").json()

    assert [p["id"] for p in listed["results"]] == [mine["id"]]
    assert by_sha["count"] == 1
    assert client.get(f"/api/v1/packages/{mine['id']}/").json()["uri"] == mine["uri"]
    assert client.get(f"/api/v1/packages/{theirs['id']}/").status_code == 404


def test_the_list_costs_the_same_queries_however_many_packages(world: Any) -> None:
    client = world.client(world.member)

    def grow(n: int) -> None:
        for _ in range(n):
            services.upload_package(
                actor=world.member, team=world.alpha, data=make_zip({"f.py": str(CodePackage.objects.count()).encode()})
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/packages/")
            assert response.status_code == 200
        assert all("content" not in query["sql"] for query in ctx.captured_queries)
        return len(ctx.captured_queries)

    grow(2)
    count()  # the first request also records the token's last use
    few = count()
    grow(10)
    assert count() == few


def test_a_job_may_name_only_its_own_teams_package(world: Any, fake_backend: Any) -> None:
    theirs = upload(world.client(world.outsider), make_zip(), team="beta").json()
    unknown = "paddock://packages/" + "0" * 64

    for runtime_env in ({"working_dir": theirs["uri"]}, {"py_modules": [unknown]}):
        response = world.client(world.member).post("/api/v1/jobs/", {**GOOD, "runtime_env": runtime_env}, format="json")
        assert response.status_code == 400, response.content
        assert "has no package" in str(response.json()["runtime_env"])
    assert Job.objects.count() == 0
    assert fake_backend.list_remote_ids() == []


@pytest.mark.django_db(transaction=True)  # the scheduler sends from a thread of its own: committed rows
def test_a_job_with_its_package_ships_it_to_the_cluster(
    world: Any, fake_backend: Any, django_capture_on_commit_callbacks: Any
) -> None:
    package = upload(world.client(world.member), make_zip()).json()

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client(world.member).post(
            "/api/v1/jobs/", {**GOOD, "runtime_env": {"working_dir": package["uri"]}}, format="json"
        )

    assert response.status_code == 201, response.content
    assert response.json()["runtime_env"]["working_dir"] == package["uri"]
    (remote_id,) = fake_backend.list_remote_ids()
    spec = fake_backend.spec_of(remote_id)
    # Its own package, and Paddock's reporting client (every attempt gets it on py_modules).
    assert list(spec.packages) == [package["uri"], services.client_package().uri]
    assert spec.runtime_env["py_modules"] == [services.client_package().uri]
    assert fake_backend.has_package(package["sha256"])


def test_a_stored_job_naming_a_local_path_fails_without_being_sent(world: Any, fake_backend: Any) -> None:
    """Jobs saved before the rules may hold a path: dispatch fails them, it never ships the path."""
    from apps.jobs.models import Attempt
    from tests.factories import JobFactory

    job = JobFactory(
        team=world.alpha,
        cluster=world.cluster,
        state="admitted",
        max_retries=3,
        runtime_env={"working_dir": "/var/lib/paddock"},
    )
    attempt = Attempt.objects.create(job=job, number=1)

    assert services.dispatch_attempt(str(attempt.pk)) == "refused"

    job.refresh_from_db()
    attempt.refresh_from_db()
    assert (job.state, attempt.state) == ("failed", "failed")
    assert "working_dir" in job.state_reason and "path" in job.state_reason
    assert fake_backend.list_remote_ids() == []


def test_inspect_reads_no_more_than_the_central_directory() -> None:
    data = make_zip({"a.py": b"1", "b/c.py": b"22"})

    facts = inspect_package(data, max_bytes=10_000, max_files=10, max_uncompressed_bytes=100)

    assert (facts.file_count, facts.uncompressed_bytes, facts.size_bytes) == (2, 3, len(data))
    with pytest.raises(PackageError):
        inspect_package(data, max_bytes=10_000, max_files=1, max_uncompressed_bytes=100)


def test_operators_see_packages_in_the_admin_without_their_bytes(world: Any) -> None:
    from django.test import Client
    from django.urls import reverse

    from tests.factories import UserFactory

    package, _ = services.upload_package(actor=world.member, team=world.alpha, data=make_zip())
    console = Client()
    console.force_login(UserFactory(username="root-operator", is_staff=True, is_superuser=True))

    with CaptureQueriesContext(connection) as ctx:
        listing = console.get(reverse("admin:jobs_codepackage_changelist"))
        detail = console.get(reverse("admin:jobs_codepackage_change", args=[package.pk]))

    assert listing.status_code == 200 and package.sha256[:16] in listing.content.decode()
    assert detail.status_code == 200 and package.sha256 in detail.content.decode()
    assert all('"content"' not in query["sql"] for query in ctx.captured_queries)
