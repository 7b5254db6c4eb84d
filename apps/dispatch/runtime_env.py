"""Which parts of Ray's ``runtime_env`` a Paddock job may use, and what each may hold.

Ray's client zips any local path it finds in ``working_dir`` or ``py_modules``, and reads
``pip``/``conda`` strings as files, on the machine that submits the job. For Paddock that
machine is the control plane, so a path there would ship the control plane's own files to
the cluster. Here a job names code only as something the cluster fetches itself: a remote
zip (``s3://``, ``gs://``, ``https://``) or a package uploaded to Paddock
(``paddock://packages/<sha256>``), and ``pip`` only as PEP 508 requirement strings.

Pure: no Django, no I/O, nothing here ever looks at a path. The API checks what a user sends
(:func:`validate_runtime_env`); every backend checks again before it sends anything
(``user_input=False``: jobs stored before these rules may hold anything).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from apps.dispatch.port import BackendError, JobSpec, PackageRef

ALLOWED_KEYS = ("env_vars", "pip", "py_modules", "working_dir")
PACKAGE_URI_PREFIX = "paddock://packages/"
REMOTE_SCHEMES = ("s3", "gs", "https")
RESERVED_ENV_PREFIX = "PADDOCK_"  # Paddock sets PADDOCK_PLACEMENT (and later job tokens)

MAX_URI_LENGTH = 2000
MAX_PY_MODULES = 16
MAX_PIP_REQUIREMENTS = 200
MAX_REQUIREMENT_LENGTH = 500
MAX_ENV_VARS = 256
MAX_ENV_VALUE_LENGTH = 32 * 1024
MAX_ENV_TOTAL_BYTES = 64 * 1024  # names and values together, UTF-8

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PACKAGE_URI = re.compile(r"^paddock://packages/([0-9a-f]{64})$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_ARCHIVE_SUFFIXES = (".zip", ".whl", ".tar.gz", ".tgz", ".tar", ".egg")

SHIP_CODE_HINT = (
    "Upload your code with `paddock submit --workdir .` (or POST /api/v1/packages/) and use the "
    "paddock://packages/<sha256> URI it returns, or give a zip the cluster can fetch itself "
    "(s3://bucket/code.zip, gs://bucket/code.zip, https://host/code.zip)."
)


class RuntimeEnvError(ValueError):
    """What is wrong, per runtime_env key: ``{"working_dir": ["…"], "pip": {"0": ["…"]}}``."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("; ".join(f"{key}: {_flatten(value)}" for key, value in errors.items()))
        self.errors = errors


def validate_runtime_env(value: Any, *, user_input: bool = True) -> dict[str, Any]:
    """A checked copy of ``value``; raises :class:`RuntimeEnvError` naming each bad key.

    ``user_input`` adds the limits on what a submission may ask for (sizes, counts, the
    reserved ``PADDOCK_`` prefix); backends leave them out and keep the rules that protect
    the control plane (allowed keys, no local paths, no pip options or files).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RuntimeEnvError({"non_field_errors": ["runtime_env must be an object."]})
    errors: dict[str, Any] = {}
    allowed = ", ".join(ALLOWED_KEYS)
    for key in value:
        if key not in ALLOWED_KEYS:
            errors[str(key)] = [
                f"runtime_env key {key!r} is not allowed. Paddock accepts only: {allowed}. "
                "Install software with pip requirements or in the cluster's image."
            ]
    checked: dict[str, Any] = {}
    checkers = {
        "env_vars": lambda v: _env_vars(v, user_input=user_input),
        "pip": lambda v: _pip(v, user_input=user_input),
        "py_modules": lambda v: _py_modules(v, user_input=user_input),
        "working_dir": _working_dir,
    }
    for key, check in checkers.items():
        if key not in value:
            continue
        try:
            checked[key] = check(value[key])
        except RuntimeEnvError as exc:
            errors[key] = exc.errors["_"]
    if errors:
        raise RuntimeEnvError(errors)
    return checked


def is_package_uri(uri: Any) -> TypeGuard[str]:
    return isinstance(uri, str) and _PACKAGE_URI.match(uri) is not None


def package_uri(sha256: str) -> str:
    return f"{PACKAGE_URI_PREFIX}{sha256}"


def package_sha256(uri: str) -> str:
    """The sha256 a ``paddock://packages/<sha256>`` URI names (ValueError for anything else)."""
    match = _PACKAGE_URI.match(uri)
    if match is None:
        raise ValueError(f"not a Paddock package URI: {uri!r}")
    return match.group(1)


def package_uris(runtime_env: Mapping[str, Any]) -> list[str]:
    """Every ``paddock://packages/…`` URI the runtime_env names, in order, once each."""
    found: list[str] = []
    candidates: list[Any] = [runtime_env.get("working_dir")]
    modules = runtime_env.get("py_modules")
    if isinstance(modules, list | tuple):
        candidates.extend(modules)
    for uri in candidates:
        if is_package_uri(uri) and uri not in found:
            found.append(uri)
    return found


# --- for backends ---------------------------------------------------------------------------
def checked_for_dispatch(spec: JobSpec) -> tuple[dict[str, Any], list[PackageRef]]:
    """``spec``'s runtime_env checked again, and the packages it names, for a backend to ship.

    Raises a non-retryable :class:`BackendError` for anything Paddock must not send (a local
    path above all: stored jobs may predate these rules) and for a package named but not in
    ``spec.packages``. Never reads a path.
    """
    try:
        checked = validate_runtime_env(spec.runtime_env, user_input=False)
    except RuntimeEnvError as exc:
        raise BackendError(f"the job's runtime_env is not allowed: {exc}", retryable=False) from None
    refs: list[PackageRef] = []
    for uri in package_uris(checked):
        ref = spec.packages.get(uri)
        if ref is None or ref.sha256 != package_sha256(uri):
            raise BackendError(f"package {uri} is not stored for this job's team", retryable=False)
        refs.append(ref)
    return checked, refs


def with_package_locations(runtime_env: Mapping[str, Any], locations: Mapping[str, str]) -> dict[str, Any]:
    """``runtime_env`` with each Paddock package URI replaced by where the cluster keeps it."""
    rewritten = dict(runtime_env)
    working_dir = rewritten.get("working_dir")
    if isinstance(working_dir, str) and working_dir in locations:
        rewritten["working_dir"] = locations[working_dir]
    modules = rewritten.get("py_modules")
    if isinstance(modules, list | tuple):
        rewritten["py_modules"] = [locations.get(item, item) for item in modules]
    return rewritten


# --- one checker per key ------------------------------------------------------------------
def _fail(message: str | list[str] | dict[str, Any]) -> RuntimeEnvError:
    return RuntimeEnvError({"_": [message] if isinstance(message, str) else message})


def _working_dir(value: Any) -> str:
    return _code_uri(value, suffixes=(".zip",), what="working_dir")


def _py_modules(value: Any, *, user_input: bool) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _fail(f"py_modules must be a list of URIs. {SHIP_CODE_HINT}")
    if user_input and len(value) > MAX_PY_MODULES:
        raise _fail(f"At most {MAX_PY_MODULES} py_modules.")
    checked: list[str] = []
    problems: dict[str, Any] = {}
    for index, item in enumerate(value):
        try:
            checked.append(_code_uri(item, suffixes=(".zip", ".whl"), what="a py_modules entry"))
        except RuntimeEnvError as exc:
            problems[str(index)] = exc.errors["_"]
    if problems:
        raise _fail(problems)
    return checked


def _code_uri(value: Any, *, suffixes: tuple[str, ...], what: str) -> str:
    """A URI the cluster fetches by itself, or a Paddock package; never a local path."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{what} must be a URI. {SHIP_CODE_HINT}")
    if len(value) > MAX_URI_LENGTH:
        raise _fail(f"{what} is longer than {MAX_URI_LENGTH} characters.")
    if _CONTROL.search(value):
        raise _fail(f"{what} must not contain spaces or control characters.")
    if value.startswith("paddock:"):
        if is_package_uri(value):
            return value
        raise _fail(
            f"A Paddock package URI is paddock://packages/<sha256 of the package, 64 hex digits>. {SHIP_CODE_HINT}"
        )
    scheme, _, rest = value.partition("://")
    if not rest or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        raise _fail(
            f"{what} {value!r} looks like a path; paths on Paddock's machine are never uploaded. {SHIP_CODE_HINT}"
        )
    scheme = scheme.lower()
    if scheme in ("file", "local"):
        raise _fail(f"{scheme}:// names a path on a machine, which Paddock never uploads. {SHIP_CODE_HINT}")
    if scheme == "gcs":
        raise _fail(f"gcs:// names Ray's internal package store, which Paddock fills itself. {SHIP_CODE_HINT}")
    if scheme == "http":
        raise _fail(
            f"Plain http:// is not allowed (anyone on the way could change your code): use https://. {SHIP_CODE_HINT}"
        )
    if scheme not in REMOTE_SCHEMES:
        raise _fail(f"{scheme}:// is not supported. {SHIP_CODE_HINT}")
    parts = urlsplit(value)
    if not parts.netloc:
        raise _fail(f"{what} {value!r} names no bucket or host.")
    if not parts.path.lower().endswith(suffixes):
        raise _fail(f"{what} must point at a {' or '.join(suffixes)} file, e.g. {scheme}://{parts.netloc}/code.zip.")
    return value


def _pip(value: Any, *, user_input: bool) -> list[str]:
    if isinstance(value, str):
        raise _fail(
            "pip as a string names a requirements file on the machine that submits the job, which "
            'Paddock never reads: list the requirements instead, e.g. ["torch==2.3.1", "numpy"].'
        )
    if not isinstance(value, list | tuple):
        raise _fail('pip must be a list of requirements, e.g. ["torch==2.3.1", "numpy"].')
    if user_input and len(value) > MAX_PIP_REQUIREMENTS:
        raise _fail(f"At most {MAX_PIP_REQUIREMENTS} pip requirements.")
    checked: list[str] = []
    problems: dict[str, Any] = {}
    for index, item in enumerate(value):
        try:
            checked.append(_requirement(item, user_input=user_input))
        except RuntimeEnvError as exc:
            problems[str(index)] = exc.errors["_"]
    if problems:
        raise _fail(problems)
    return checked


def _requirement(item: Any, *, user_input: bool) -> str:
    if not isinstance(item, str) or not item.strip():
        raise _fail("Each pip requirement must be a non-empty string.")
    text = item.strip()
    if user_input and len(text) > MAX_REQUIREMENT_LENGTH:
        raise _fail(f"A requirement is at most {MAX_REQUIREMENT_LENGTH} characters.")
    if text.startswith("-"):
        raise _fail(
            f"pip options ({text.split()[0]}) are not allowed: -r/-c name files on Paddock's machine, "
            "-e/--index-url/--find-links change where code comes from. List requirements only."
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text) and not text.lower().startswith("file:"):
        raise _fail(f"{text!r}: a URL on its own is not a requirement; write `name @ https://…/name.whl`.")
    if text.startswith((".", "/", "~", "\\")) or text.lower().startswith("file:") or _looks_like_a_file(text):
        raise _fail(f"{text!r} is a file path; Paddock never reads files for a job. {SHIP_CODE_HINT}")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise _fail(f"{text!r} is not a PEP 508 requirement ({str(exc).splitlines()[0]}).") from None
    if requirement.url is not None:
        scheme = urlsplit(requirement.url).scheme.lower()
        if scheme == "file":
            raise _fail(f"{text!r} points at a local file; Paddock never reads files for a job. {SHIP_CODE_HINT}")
        if scheme != "https":
            raise _fail(f"{text!r}: a requirement's URL must be https:// (not {scheme or 'a path'}).")
    return text


def _looks_like_a_file(text: str) -> bool:
    """A bare file name or relative path (``dist/x.whl``, ``req.txt``) rather than a name."""
    if "@" in text or ";" in text:
        return False  # ``name @ url`` and markers: the parser and the URL check decide
    lowered = text.lower()
    return "/" in text or "\\" in text or lowered.endswith((*_ARCHIVE_SUFFIXES, ".txt", ".in", ".cfg", ".toml"))


def _env_vars(value: Any, *, user_input: bool) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail("env_vars must be an object of NAME: value strings.")
    if user_input and len(value) > MAX_ENV_VARS:
        raise _fail(f"At most {MAX_ENV_VARS} environment variables (got {len(value)}).")
    bad_names = sorted(str(name) for name in value if not isinstance(name, str) or not ENV_NAME.match(name))
    if bad_names:
        raise _fail(f"Not a valid environment variable name: {', '.join(bad_names)}.")
    not_text = sorted(name for name, text in value.items() if not isinstance(text, str))
    if not_text:
        raise _fail(f"Values must be strings: {', '.join(not_text)}.")
    if user_input:
        reserved = sorted(name for name in value if name.upper().startswith(RESERVED_ENV_PREFIX))
        if reserved:
            raise _fail(f"Names starting with {RESERVED_ENV_PREFIX} are set by Paddock: {', '.join(reserved)}.")
        too_long = sorted(name for name, text in value.items() if len(text) > MAX_ENV_VALUE_LENGTH)
        if too_long:
            raise _fail(f"A value is at most {MAX_ENV_VALUE_LENGTH} characters: {', '.join(too_long)}.")
        total = sum(len(name.encode()) + len(text.encode()) for name, text in value.items())
        if total > MAX_ENV_TOTAL_BYTES:
            raise _fail(f"env_vars hold {total} bytes; at most {MAX_ENV_TOTAL_BYTES} (names and values together).")
    return {str(name): str(text) for name, text in value.items()}


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"[{key}] {_flatten(item)}" for key, item in value.items())
    if isinstance(value, list):
        return " ".join(_flatten(item) for item in value)
    return str(value)
