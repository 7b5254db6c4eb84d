"""What a job's runtime_env may hold: code only from where the cluster fetches it itself."""

from __future__ import annotations

from typing import Any

import pytest

from apps.dispatch.port import BackendError, JobSpec, PackageRef, Resources
from apps.dispatch.runtime_env import (
    MAX_ENV_TOTAL_BYTES,
    MAX_ENV_VARS,
    RuntimeEnvError,
    checked_for_dispatch,
    package_uris,
    validate_runtime_env,
)

SHA = "ab" * 32
PACKAGE = f"paddock://packages/{SHA}"


@pytest.mark.parametrize(
    "runtime_env",
    [
        {"working_dir": "s3://bucket/code.zip"},
        {"working_dir": "gs://bucket/dir/code.zip"},
        {"working_dir": "https://example.com/code.zip?sig=1"},
        {"working_dir": PACKAGE},
        {"py_modules": [PACKAGE, "s3://bucket/lib.whl", "https://example.com/mod.zip"]},
        {"pip": ["torch==2.3.1", "numpy>=1.26; python_version >= '3.10'", "x[extra]", "y @ https://h/y-1.0.whl"]},
        {"env_vars": {"LR": "0.1", "EMPTY": ""}},
    ],
)
def test_what_the_cluster_fetches_itself_is_allowed(runtime_env: dict[str, Any]) -> None:
    assert validate_runtime_env(runtime_env) == runtime_env


@pytest.mark.parametrize(
    ("runtime_env", "key", "words"),
    [
        ({"working_dir": "/var/lib/paddock"}, "working_dir", "paddock submit --workdir"),
        ({"working_dir": "/proc/self"}, "working_dir", "path"),
        ({"working_dir": "."}, "working_dir", "path"),
        ({"working_dir": "code"}, "working_dir", "path"),
        ({"working_dir": "~/code"}, "working_dir", "path"),
        ({"working_dir": "C:\\code"}, "working_dir", "path"),
        ({"working_dir": "file:///etc/code.zip"}, "working_dir", "file://"),
        ({"working_dir": "local:///opt/code"}, "working_dir", "local://"),
        ({"working_dir": "gcs://_ray_pkg_abc.zip"}, "working_dir", "Ray's internal"),
        ({"working_dir": "http://example.com/code.zip"}, "working_dir", "https://"),
        ({"working_dir": "ftp://example.com/code.zip"}, "working_dir", "not supported"),
        ({"working_dir": "s3://bucket/code"}, "working_dir", ".zip"),
        ({"working_dir": "s3:///code.zip"}, "working_dir", "bucket"),
        ({"working_dir": "paddock://packages/xyz"}, "working_dir", "64 hex"),
        ({"working_dir": ["s3://b/c.zip"]}, "working_dir", "URI"),
        ({"py_modules": ["/opt/lib"]}, "py_modules", "path"),
        ({"py_modules": "s3://b/m.zip"}, "py_modules", "list"),
        ({"py_modules": ["s3://b/m.zip"] * 17}, "py_modules", "At most"),
        ({"pip": "requirements.txt"}, "pip", "requirements file"),
        ({"pip": {"packages": ["x"]}}, "pip", "list"),
        ({"pip": ["-r /etc/requirements.txt"]}, "pip", "options"),
        ({"pip": ["-e ."]}, "pip", "options"),
        ({"pip": ["--index-url=https://evil.example/simple"]}, "pip", "options"),
        ({"pip": ["x @ file:///var/lib/paddock/x.whl"]}, "pip", "local file"),
        ({"pip": ["file:///tmp/x.whl"]}, "pip", "file path"),
        ({"pip": ["./dist/x-1.0.whl"]}, "pip", "file path"),
        ({"pip": ["dist/x-1.0.whl"]}, "pip", "file path"),
        ({"pip": ["/tmp/x-1.0.tar.gz"]}, "pip", "file path"),
        ({"pip": ["x @ http://example.com/x.whl"]}, "pip", "https"),
        ({"pip": ["git+https://github.com/a/b"]}, "pip", "URL on its own"),
        ({"pip": ["not a requirement!"]}, "pip", "PEP 508"),
        ({"pip": [3]}, "pip", "string"),
        ({"pip": ["x" * 501]}, "pip", "at most"),
        ({"pip": [f"p{i}" for i in range(201)]}, "pip", "At most"),
        ({"conda": "environment.yml"}, "conda", "Paddock accepts only: env_vars, pip, py_modules, working_dir"),
        ({"conda": {"dependencies": ["x"]}}, "conda", "not allowed"),
        ({"container": {"image": "x"}}, "container", "not allowed"),
        ({"image_uri": "x"}, "image_uri", "not allowed"),
        ({"uv": ["x"]}, "uv", "not allowed"),
        ({"excludes": ["x"]}, "excludes", "not allowed"),
        ({"env_vars": {"1BAD": "x"}}, "env_vars", "1BAD"),
        ({"env_vars": {"A": 1}}, "env_vars", "strings"),
        ({"env_vars": {"PADDOCK_PLACEMENT": "[]"}}, "env_vars", "PADDOCK_"),
        ({"env_vars": {f"V{i}": "" for i in range(MAX_ENV_VARS + 1)}}, "env_vars", str(MAX_ENV_VARS)),
        ({"env_vars": {f"V{i}": "x" * 20_000 for i in range(4)}}, "env_vars", str(MAX_ENV_TOTAL_BYTES)),
        ({"env_vars": {"V": "x" * 40_000}}, "env_vars", "at most"),
    ],
)
def test_anything_else_is_refused_with_the_key_and_what_to_do(
    runtime_env: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(RuntimeEnvError) as raised:
        validate_runtime_env(runtime_env)

    assert list(raised.value.errors) == [key]
    assert words in str(raised.value)


def test_a_list_entry_is_named_by_its_index() -> None:
    with pytest.raises(RuntimeEnvError) as raised:
        validate_runtime_env({"pip": ["numpy", "-r x.txt"], "py_modules": ["s3://b/m.zip", "/x"]})

    assert set(raised.value.errors["pip"]) == {"1"}
    assert set(raised.value.errors["py_modules"]) == {"1"}


def test_backends_keep_the_path_rules_but_not_the_submission_limits() -> None:
    env_vars = {f"PADDOCK_V{i}": "" for i in range(MAX_ENV_VARS + 1)}
    assert validate_runtime_env({"env_vars": env_vars}, user_input=False) == {"env_vars": env_vars}
    with pytest.raises(RuntimeEnvError):
        validate_runtime_env({"working_dir": "/srv"}, user_input=False)


def test_package_uris_lists_each_package_once() -> None:
    other = "paddock://packages/" + "cd" * 32
    runtime_env = {"working_dir": PACKAGE, "py_modules": [other, PACKAGE, "s3://b/m.zip"]}
    assert package_uris(runtime_env) == [PACKAGE, other]


def _spec(runtime_env: dict[str, Any], packages: dict[str, PackageRef] | None = None) -> JobSpec:
    return JobSpec("pdk-1", "python x.py", Resources(), runtime_env=runtime_env, packages=packages or {})


def test_dispatch_refuses_a_package_it_was_not_given() -> None:
    with pytest.raises(BackendError) as raised:
        checked_for_dispatch(_spec({"working_dir": PACKAGE}))
    assert raised.value.retryable is False
    assert PACKAGE in raised.value.message

    wrong = PackageRef(uri=PACKAGE, sha256="cd" * 32, size_bytes=1, load=lambda: b"")
    with pytest.raises(BackendError):
        checked_for_dispatch(_spec({"working_dir": PACKAGE}, {PACKAGE: wrong}))


def test_dispatch_refuses_a_stored_local_path_for_good() -> None:
    with pytest.raises(BackendError) as raised:
        checked_for_dispatch(_spec({"working_dir": "/var/lib/paddock"}))
    assert raised.value.retryable is False
    assert "working_dir" in raised.value.message
