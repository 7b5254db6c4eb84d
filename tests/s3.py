"""A real S3-compatible server (moto's, in-process, on 127.0.0.1) and storage backends on it;
its fixtures are the suite's (``tests/conftest.py``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import StorageBackendFactory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> Iterator[Any]:
    """A fresh bucket; the client is boto3's own (the plain path the benchmark compares with)."""
    import uuid

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106
    )
    name = f"ckpt-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield client, name


def s3_storage(org: Any, endpoint: str, bucket: str, **extra: Any) -> Any:
    storage = StorageBackendFactory(
        organisation=org,
        name=extra.pop("name", "s3-checkpoints"),
        kind="s3",
        uri=f"s3://{bucket}/paddock",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test",
        **extra,
    )
    storage.set_secret_access_key("test")
    storage.save()
    return storage
