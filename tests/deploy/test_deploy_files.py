"""Static checks of deploy/: the compose file, the Dockerfile, the env examples, Prometheus.

No Docker engine runs here, so these tests are what stands between a typo and a broken
deployment: the compose file is validated against the Compose Specification's own JSON
schema, every command must name code that exists, every variable must be one settings.py
reads, and the Dockerfile is parsed and checked instruction by instruction. No network, no
database.
"""

from __future__ import annotations

import ast
import http.server
import importlib.util
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = ROOT / "controlplane" / "settings.py"

PADDOCK_SERVICES = ("migrate", "web", "worker", "beat")
REQUIRED_SERVICES = {"postgres", "redis", *PADDOCK_SERVICES, "ray-head"}
# What production settings refuse to start without (controlplane/settings.py).
REQUIRED_PRODUCTION = ("PADDOCK_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PADDOCK_ENCRYPTION_KEYS")
RAY_PORTS = {"6379", "6380", "8265", "10001", "52365"}
# env readers that also accept NAME_FILE (controlplane/env.py: string, required, strings).
FILE_READERS = {"string", "required", "strings"}
ENV_READERS = FILE_READERS | {"boolean", "integer", "number"}
WEB_COMMAND = ["gunicorn", "controlplane.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]


# --- helpers: compose ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def parse_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """(active NAME=value lines, names on commented "#NAME=value" lines) of an env file."""
    active: dict[str, str] = {}
    documented: set[str] = set()
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line):
            active[match.group(1)] = match.group(2)
        elif match := re.match(r"^#([A-Z][A-Z0-9_]*)=", line):
            documented.add(match.group(1))
    return active, documented


def env_file_path(entry: str | dict[str, Any]) -> Path:
    """The committed file behind an env_file entry: the real one is never committed, so use
    its ``.example`` twin."""
    relative = entry if isinstance(entry, str) else entry["path"]
    path = DEPLOY / relative
    return path if path.exists() else path.with_name(path.name + ".example")


def env_files(service: dict[str, Any]) -> list[Path]:
    entries = service.get("env_file", [])
    return [env_file_path(e) for e in ([entries] if isinstance(entries, str) else entries)]


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    """What a container of this service gets: env files, then `environment:` on top."""
    env: dict[str, str] = {}
    for path in env_files(service):
        env.update(parse_env_file(path)[0])
    declared = service.get("environment", {})
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    env.update({key: "" if value is None else str(value) for key, value in declared.items()})
    return env


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(host ip, host port, container port) for each `ports:` entry, short or long syntax."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            result.append((port.get("host_ip"), str(port.get("published", "")), str(port["target"])))
            continue
        spec = str(port).split("/")[0]
        if spec.startswith("["):  # [::1]:8000:8000
            host_ip, rest = spec[1:].split("]:", 1)
            host_port, container = rest.split(":")
            result.append((host_ip, host_port, container))
            continue
        parts = spec.split(":")
        if len(parts) == 3:
            result.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            result.append((None, parts[0], parts[1]))
        else:
            result.append((None, "", parts[0]))
    return result


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return WEB_COMMAND  # the image's CMD (checked against the Dockerfile below)
    return command if isinstance(command, list) else shlex.split(command)


# --- helpers: settings ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings_variables() -> dict[str, str]:
    """{variable name: env reader} for every env.<reader>("NAME", ...) call in settings.py."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr in ENV_READERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            name = node.args[0].value
            # A name read by several readers accepts _FILE if any of them does.
            if found.get(name) not in FILE_READERS:
                found[name] = node.func.attr
    assert len(found) > 10, "settings.py no longer reads its variables through controlplane.env?"
    return found


def is_read_by_settings(name: str, settings_variables: dict[str, str]) -> bool:
    if name in settings_variables:
        return True
    base = name.removesuffix("_FILE")
    return name.endswith("_FILE") and settings_variables.get(base) in FILE_READERS


# --- helpers: Dockerfile -------------------------------------------------------------------

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int
    stage: int  # index of the FROM this instruction belongs to (-1 before the first FROM)

    def flags_and_operands(self) -> tuple[dict[str, str], list[str]]:
        """``--flag=value`` options and the remaining operands (JSON array form understood)."""
        words = shlex.split(self.args)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            key, _, value = words.pop(0)[2:].partition("=")
            flags[key] = value
        rest = " ".join(words)
        if rest.startswith("["):
            return flags, json.loads(rest)
        return flags, words

    def exec_form(self) -> list[str] | None:
        text = self.args.strip()
        return json.loads(text) if text.startswith("[") else None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: comments and blank lines dropped, backslash continuations
    joined (comment lines inside a continuation are skipped, as BuildKit does)."""
    instructions: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    stage = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        logical = " ".join(part for part in buffer if part)
        buffer = []
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), start, stage))
    assert not buffer, "the Dockerfile ends inside a line continuation"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def stages(dockerfile: list[Instruction]) -> list[tuple[str, str | None]]:
    """(image, stage name) for each FROM."""
    result = []
    for instruction in dockerfile:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append((words[0], name))
    return result


def final_stage(dockerfile: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in dockerfile)
    return [i for i in dockerfile if i.stage == last]


# --- helpers: .dockerignore ----------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception "!", regex) per pattern, in order (the last match decides)."""
    patterns = []
    for raw in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((negate, re.compile(regex + r"\Z")))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether BuildKit sends ``path`` (relative to the repo root): a pattern that matches the
    path or one of its parent folders applies; the last one that applies wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, regex in dockerignore_patterns():
        if any(regex.match(candidate) for candidate in candidates):
            included = negate
    return included


# === compose ===============================================================================


def test_compose_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((DEPLOY / "compose-spec.schema.json").read_text())
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_rejects_what_compose_rejects() -> None:
    """The shipped schema is strict enough to catch a misspelt key or a bad condition."""
    schema = json.loads((DEPLOY / "compose-spec.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert not validator.is_valid({"services": {"web": {"image": "x", "restrat": "always"}}})
    bad_condition = {"services": {"web": {"image": "x", "depends_on": {"db": {"condition": "service_ready"}}}}}
    assert not validator.is_valid(bad_condition)


def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    assert REQUIRED_SERVICES <= set(services(compose))


def test_env_files_exist_or_have_a_committed_example(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for path in env_files(service):
            assert path.is_file(), f"{name}: env_file {path.name} has no committed example"


def test_real_env_files_are_never_committed() -> None:
    for name in ("paddock.env", "postgres.env", "ray.env", "secrets/key"):
        result = subprocess.run(["git", "check-ignore", "-q", f"deploy/{name}"], cwd=ROOT, check=False)
        assert result.returncode == 0, f"deploy/{name} is not ignored by git"
    result = subprocess.run(["git", "check-ignore", "-q", "deploy/paddock.env.example"], cwd=ROOT, check=False)
    assert result.returncode == 1, "the example must stay committable"


def test_paddock_services_have_the_required_production_environment(compose: dict[str, Any]) -> None:
    for name in PADDOCK_SERVICES:
        env = service_environment(services(compose)[name])
        assert env.get("PADDOCK_ENV") == "production", name
        for variable in REQUIRED_PRODUCTION:
            assert variable in env or f"{variable}_FILE" in env, f"{name} lacks {variable}"
        assert urlsplit(env["DATABASE_URL"]).scheme in {"postgres", "postgresql"}, name
        assert urlsplit(env["REDIS_URL"]).scheme in {"redis", "rediss"}, name


def test_urls_point_at_compose_services(compose: dict[str, Any]) -> None:
    env = service_environment(services(compose)["web"])
    database = urlsplit(env["DATABASE_URL"])
    assert database.hostname == "postgres" and database.port == 5432
    postgres_env = service_environment(services(compose)["postgres"])
    assert database.username == postgres_env["POSTGRES_USER"]
    assert database.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    assert "POSTGRES_PASSWORD" in postgres_env
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"


def test_secrets_in_examples_are_empty_so_an_unedited_copy_refuses_to_start() -> None:
    paddock, _ = parse_env_file(DEPLOY / "paddock.env.example")
    assert paddock["PADDOCK_SECRET_KEY"] == ""
    assert paddock["PADDOCK_ENCRYPTION_KEYS"] == ""
    assert "REPLACE" in urlsplit(paddock["DATABASE_URL"]).password
    assert parse_env_file(DEPLOY / "postgres.env.example")[0]["POSTGRES_PASSWORD"] == ""
    assert parse_env_file(DEPLOY / "ray.env.example")[0]["RAY_AUTH_TOKEN"] == ""


def test_ray_dashboard_is_never_published(compose: dict[str, Any]) -> None:
    assert "ports" not in services(compose)["ray-head"]
    for name, service in services(compose).items():
        assert service.get("network_mode") != "host", f"{name} uses the host network"
        for _, host_port, container_port in published_ports(service):
            assert container_port not in RAY_PORTS and host_port not in RAY_PORTS, f"{name} publishes a Ray port"


def test_ray_head_runs_with_token_auth_on_the_compute_network_only(compose: dict[str, Any]) -> None:
    ray = services(compose)["ray-head"]
    assert ray["image"] == "rayproject/ray:2.60.0-py311"
    assert ray["command"] == ["ray", "start", "--head", "--port=6380", "--dashboard-host=0.0.0.0", "--block"]
    env = service_environment(ray)
    assert env["RAY_AUTH_MODE"] == "token"
    assert "RAY_AUTH_TOKEN" in env
    assert ray["networks"] == ["compute"], "job code must not reach PostgreSQL or Redis"
    # The same Ray as the one Paddock's Python package pins.
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ray_pin = next(p for p in pins if p.startswith("ray"))
    assert ray_pin.endswith("==2.60.0") and ray["image"].split(":")[1].startswith("2.60.0-")
    test = ray["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "ray-head healthcheck", "exec")


def test_database_and_broker_sit_on_an_internal_network(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    for name in ("postgres", "redis"):
        for network in services(compose)[name]["networks"]:
            assert networks[network].get("internal") is True, f"{name} on non-internal {network}"
    assert "backend" in services(compose)["web"]["networks"]


def test_only_loopback_publications_and_web_on_8000(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for host_ip, _, _ in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes on {host_ip or 'every interface'}"
    assert published_ports(services(compose)["web"]) == [("127.0.0.1", "8000", "8000")]
    for name in ("postgres", "redis", "migrate", "worker", "beat"):
        assert "ports" not in services(compose)[name], name


def test_start_order(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert svc["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = svc[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    for name, service in svc.items():
        for target, spec in (service.get("depends_on") or {}).items():
            if spec["condition"] == "service_healthy":
                check = svc[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{name} waits on {target} without a check"


def test_healthchecks(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in svc["postgres"]["healthcheck"]["test"][1]
    assert svc["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert svc["web"]["healthcheck"]["test"] == ["CMD", "python", "/usr/local/bin/paddock-healthcheck"]
    assert "inspect ping" in svc["worker"]["healthcheck"]["test"][1]
    # No HTTP in beat and migrate: the image's /healthz check would only ever fail there.
    assert svc["beat"]["healthcheck"] == {"disable": True}
    assert svc["migrate"]["healthcheck"] == {"disable": True}


def test_exactly_one_beat(compose: dict[str, Any]) -> None:
    beat = services(compose)["beat"]
    assert int(beat.get("scale", 1)) == 1
    assert int((beat.get("deploy") or {}).get("replicas", 1)) == 1
    beats = [n for n, s in services(compose).items() if s.get("command") and "beat" in command_of(s)]
    assert beats == ["beat"]


def test_process_commands(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert command_of(svc["web"]) == WEB_COMMAND
    assert command_of(svc["worker"]) == [
        "celery", "-A", "controlplane", "worker", "--loglevel=INFO", "--concurrency=4",
    ]  # fmt: skip
    assert command_of(svc["beat"]) == ["celery", "-A", "controlplane", "beat", "--loglevel=INFO"]
    assert command_of(svc["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]


def test_every_command_names_code_that_exists(compose: dict[str, Any]) -> None:
    from celery import Celery
    from celery.app.utils import find_app
    from django.core.management import get_commands

    commands = get_commands()
    for name in PADDOCK_SERVICES:
        argv = command_of(services(compose)[name])
        if argv[0] == "gunicorn":
            module = argv[1].split(":")[0]
            spec = importlib.util.find_spec(module)
            assert spec and spec.origin and Path(spec.origin).is_relative_to(ROOT), module
            assert "application = " in Path(spec.origin).read_text()
        elif argv[0] == "celery":
            target = argv[argv.index("-A") + 1]
            app = find_app(target)
            assert isinstance(app, Celery) and app.main == "paddock"
            assert Path(importlib.util.find_spec(target).origin).is_relative_to(ROOT)
        elif argv[:2] == ["python", "manage.py"]:
            assert (ROOT / "manage.py").is_file()
            assert argv[2] in commands, f"no management command {argv[2]}"
        else:
            pytest.fail(f"{name}: unexpected command {argv}")
    # The commands the operator's guide tells people to run.
    for command in ("migrate", "collectstatic", "createsuperuser", "create_token", "bootstrap_demo"):
        assert command in commands, command


def test_paddock_services_share_one_image_built_from_deploy(compose: dict[str, Any]) -> None:
    for name in PADDOCK_SERVICES:
        service = services(compose)[name]
        assert service["image"] == "${PADDOCK_IMAGE:-paddock:latest}", name
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve().is_file()
        assert service["cap_drop"] == ["ALL"], name
        assert service["env_file"] == ["paddock.env"], name


def test_compose_environment_keys_are_settings(compose: dict[str, Any], settings_variables: dict[str, str]) -> None:
    for name in PADDOCK_SERVICES:
        for key in services(compose)[name].get("environment", {}):
            assert is_read_by_settings(key, settings_variables), f"{name}: {key} is read by nothing"


# === env examples ==========================================================================


def test_every_example_variable_is_read_by_settings(settings_variables: dict[str, str]) -> None:
    active, documented = parse_env_file(DEPLOY / "paddock.env.example")
    names = set(active) | documented
    unknown = sorted(n for n in names if not is_read_by_settings(n, settings_variables))
    assert not unknown, f"paddock.env.example names variables settings.py never reads: {unknown}"


def test_every_settings_variable_is_in_the_example(settings_variables: dict[str, str]) -> None:
    active, documented = parse_env_file(DEPLOY / "paddock.env.example")
    missing = sorted(set(settings_variables) - set(active) - documented)
    assert not missing, f"paddock.env.example lacks {missing}"


def test_every_settings_variable_is_in_the_operators_table(settings_variables: dict[str, str]) -> None:
    readme = (DEPLOY / "README.md").read_text()
    missing = sorted(name for name in settings_variables if f"| `{name}` |" not in readme)
    assert not missing, f"deploy/README.md's table lacks {missing}"


def test_file_variants_only_where_settings_accept_them(settings_variables: dict[str, str]) -> None:
    _, documented = parse_env_file(DEPLOY / "paddock.env.example")
    for name in documented | set(parse_env_file(DEPLOY / "paddock.env.example")[0]):
        if name.endswith("_FILE"):
            assert settings_variables.get(name.removesuffix("_FILE")) in FILE_READERS, name


def test_example_lines_are_well_formed() -> None:
    for example in DEPLOY.glob("*.env.example"):
        for number, line in enumerate(example.read_text().splitlines(), start=1):
            if not line or line.startswith("#"):
                continue
            assert re.match(r"^[A-Z][A-Z0-9_]*=\S*$", line), f"{example.name}:{number}: {line!r}"


# === init_env.py ===========================================================================


def load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_init_env_writes_consistent_secrets(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    init_env = load_module(DEPLOY / "init_env.py")
    assert init_env.main(["--dir", str(tmp_path), "--host", "paddock.example.com"]) == 0
    paddock, _ = parse_env_file(tmp_path / "paddock.env")
    postgres, _ = parse_env_file(tmp_path / "postgres.env")
    ray, _ = parse_env_file(tmp_path / "ray.env")
    assert len(paddock["PADDOCK_SECRET_KEY"]) >= 50  # Django's check --deploy minimum
    assert urlsplit(paddock["DATABASE_URL"]).password == postgres["POSTGRES_PASSWORD"] != ""
    Fernet(paddock["PADDOCK_ENCRYPTION_KEYS"].encode())  # a valid key
    assert len(ray["RAY_AUTH_TOKEN"]) >= 32 and ray["RAY_AUTH_MODE"] == "token"
    assert paddock["PADDOCK_ALLOWED_HOSTS"].split(",")[-1] == "paddock.example.com"
    assert paddock["PADDOCK_CSRF_TRUSTED_ORIGINS"] == "https://paddock.example.com"
    for name in ("paddock.env", "postgres.env", "ray.env"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    before = (tmp_path / "paddock.env").read_text()
    assert init_env.main(["--dir", str(tmp_path)]) == 1  # never overwrites
    assert (tmp_path / "paddock.env").read_text() == before


def production_settings(env_file: Path, **changes: str | None) -> subprocess.CompletedProcess[str]:
    """Load production settings in a fresh process from an env file (nothing is connected to)."""
    values, _ = parse_env_file(env_file)
    values.update({key: value for key, value in changes.items() if value is not None})
    for key in [key for key, value in changes.items() if value is None]:
        values.pop(key, None)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PADDOCK_", "DATABASE_", "REDIS_"))}
    env.update(values, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="controlplane.settings")
    code = "\n".join(
        [
            "import django",
            "django.setup()",
            "from django.conf import settings",
            "print(len(settings.PADDOCK_ENCRYPTION_KEYS))",
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_production_recipe_passes_production_settings_and_needs_its_encryption_key(tmp_path: Path) -> None:
    init_env = load_module(DEPLOY / "init_env.py")
    assert init_env.main(["--dir", str(tmp_path)]) == 0
    env_file = tmp_path / "paddock.env"

    loaded = production_settings(env_file)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "1"

    # Without it, production would derive the key from the secret key: rotating that would
    # lose every stored credential. It refuses to start instead, saying what to set.
    for missing in (None, ""):
        refused = production_settings(env_file, PADDOCK_ENCRYPTION_KEYS=missing)
        assert refused.returncode != 0
        assert "ImproperlyConfigured" in refused.stderr
        assert "PADDOCK_ENCRYPTION_KEYS (or PADDOCK_ENCRYPTION_KEYS_FILE) must be set in production" in refused.stderr

    good = values_of(env_file)["PADDOCK_ENCRYPTION_KEYS"]
    malformed = production_settings(env_file, PADDOCK_ENCRYPTION_KEYS=f"{good},not-a-fernet-key")
    assert malformed.returncode != 0
    assert "key 2 of 2 is not a Fernet key" in malformed.stderr
    assert "not-a-fernet-key" not in malformed.stderr  # a key (or a typo of one) is never echoed

    rotated = production_settings(env_file, PADDOCK_ENCRYPTION_KEYS=f"{init_env.fernet_key()},{good}")
    assert rotated.returncode == 0 and rotated.stdout.strip() == "2", rotated.stderr


def values_of(env_file: Path) -> dict[str, str]:
    return parse_env_file(env_file)[0]


# === Dockerfile ============================================================================


def test_the_parser_joins_continuations() -> None:
    parsed = parse_dockerfile("# c\nFROM a AS b\nRUN one \\\n  # skipped\n  two\n\nUSER x\n")
    assert [(i.keyword, i.args, i.line, i.stage) for i in parsed] == [
        ("FROM", "a AS b", 2, 0),
        ("RUN", "one two", 3, 0),
        ("USER", "x", 7, 0),
    ]


def test_dockerfile_parses_into_known_instructions(dockerfile: list[Instruction]) -> None:
    assert dockerfile[0].keyword == "FROM"
    unknown = [(i.line, i.keyword) for i in dockerfile if i.keyword not in INSTRUCTIONS]
    assert not unknown


def test_dockerfile_stages(dockerfile: list[Instruction]) -> None:
    images = stages(dockerfile)
    assert images[0][0].startswith("node:20")
    assert images[-1][0] == "python:3.11-slim"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11,<3.12", "the image's Python must follow pyproject.toml"
    names = {name for _, name in images if name}
    for instruction in dockerfile:
        if instruction.keyword == "COPY":
            flags, _ = instruction.flags_and_operands()
            if "from" in flags:
                assert flags["from"] in names, f"line {instruction.line}: unknown stage {flags['from']}"


def test_dockerfile_builds_frontend_installs_package_and_collects_static(dockerfile: list[Instruction]) -> None:
    runs = [i.args for i in dockerfile if i.keyword == "RUN"]
    assert any("npm ci" in r for r in runs) and any("npm run build" in r for r in runs)
    assert any(re.search(r"pip install --no-cache-dir \.(\s|$)", r) for r in runs)
    collect = next(r for r in runs if "collectstatic" in r)
    assert "manage.py collectstatic --noinput" in collect
    for variable in REQUIRED_PRODUCTION:
        assert f"{variable}=" in collect, "collectstatic needs throwaway production values"
    env = " ".join(i.args for i in final_stage(dockerfile) if i.keyword == "ENV")
    assert "PADDOCK_ENV=production" in env and "PADDOCK_DATA_DIR=/var/lib/paddock" in env
    copies = [i.args for i in final_stage(dockerfile) if i.keyword == "COPY"]
    assert "--from=frontend /src/frontend/dist/ /app/frontend/dist/" in copies


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[Instruction]) -> None:
    users = [i.args.split(":")[0] for i in final_stage(dockerfile) if i.keyword == "USER"]
    assert users, "no USER in the final stage: the container would run as root"
    assert users[-1] not in {"root", "0"}


def test_dockerfile_healthcheck_and_cmd(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "CMD" in checks[0].args and "NONE" not in checks[0].args
    assert "/usr/local/bin/paddock-healthcheck" in checks[0].args
    copies = [i.flags_and_operands()[1] for i in final if i.keyword == "COPY"]
    assert ["deploy/healthcheck.py", "/usr/local/bin/paddock-healthcheck"] in copies
    assert "/healthz" in (DEPLOY / "healthcheck.py").read_text()
    cmd = [i for i in final if i.keyword == "CMD"]
    assert cmd[-1].exec_form() == WEB_COMMAND
    assert any(i.keyword == "EXPOSE" and i.args == "8000" for i in final)


def test_every_copy_source_exists_in_the_repo_and_in_the_build_context(dockerfile: list[Instruction]) -> None:
    checked = 0
    for instruction in dockerfile:
        if instruction.keyword not in {"COPY", "ADD"}:
            continue
        flags, operands = instruction.flags_and_operands()
        if "from" in flags:
            continue
        for source in operands[:-1]:
            path = ROOT / source
            assert path.exists(), f"line {instruction.line}: {source} is not in the repository"
            if source != ".":
                relative = path.resolve().relative_to(ROOT).as_posix()
                assert in_build_context(relative), f"line {instruction.line}: {source} is dockerignored"
            checked += 1
    assert checked >= 4


def test_build_context_keeps_the_sources_and_drops_secrets_and_caches() -> None:
    for path in (
        "manage.py", "pyproject.toml", "README.md", "controlplane/settings.py", "apps/core/views.py",
        "paddock/__init__.py", "frontend/package.json", "frontend/src/main.tsx", "deploy/healthcheck.py",
    ):  # fmt: skip
        assert in_build_context(path), path
    for path in (
        ".git/HEAD", ".venv/bin/python", ".paddock/paddock.sqlite3", "frontend/node_modules/react/index.js",
        "frontend/dist/index.html", "deploy/paddock.env", "deploy/ray.env", "deploy/secrets/key",
        "tests/conftest.py", "apps/core/__pycache__/views.cpython-311.pyc", "paddock.egg-info/PKG-INFO",
    ):  # fmt: skip
        assert not in_build_context(path), path


# === health check script ===================================================================


@pytest.fixture
def fake_web() -> Iterator[tuple[str, list[str], list[int]]]:
    """A loopback HTTP server answering /healthz with the status at the head of ``statuses``."""
    hosts: list[str] = []
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(statuses[0])
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", hosts, statuses
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_script(fake_web: tuple[str, list[str], list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, hosts, statuses = fake_web
    healthcheck = load_module(DEPLOY / "healthcheck.py")
    monkeypatch.setenv("PADDOCK_ALLOWED_HOSTS", "*,.paddock.example.com,web")
    assert healthcheck.main([url]) == 0
    assert hosts[-1] == "paddock.example.com"  # the first name Django would accept
    monkeypatch.delenv("PADDOCK_ALLOWED_HOSTS")
    assert healthcheck.main([url]) == 0
    assert hosts[-1] == "localhost"
    statuses[0] = 503
    assert healthcheck.main([url]) == 1
    assert healthcheck.main(["http://127.0.0.1:9/healthz"]) == 1  # nothing listening


def test_healthcheck_default_url_matches_the_web_command() -> None:
    healthcheck = load_module(DEPLOY / "healthcheck.py")
    assert healthcheck.URL == "http://127.0.0.1:8000/healthz"
    assert "0.0.0.0:8000" in WEB_COMMAND


# === Prometheus ============================================================================


def test_prometheus_scrapes_web_metrics(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    assert len(jobs) == 1 and jobs[0]["metrics_path"] == "/metrics"
    assert jobs[0]["static_configs"][0]["targets"] == ["web:8000"]
    prometheus = services(compose)["prometheus"]
    assert set(prometheus["networks"]) & set(services(compose)["web"]["networks"])
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    allowed = parse_env_file(DEPLOY / "paddock.env.example")[0]["PADDOCK_ALLOWED_HOSTS"].split(",")
    assert "web" in allowed, "Django would answer Prometheus' Host: web:8000 with 400"
    assert allowed[0] == "localhost", "the health check sends the first allowed host"
    text = (DEPLOY / "prometheus.yml").read_text()
    for metric in ("paddock_jobs{state}", "paddock_dispatch_latency_seconds", "paddock_reconcile_lag_seconds{cluster}"):
        assert metric in text


def test_documented_metrics_are_the_ones_exported() -> None:
    source = (ROOT / "apps" / "jobs" / "metrics.py").read_text()
    for name in ("paddock_jobs", "paddock_dispatch_latency_seconds", "paddock_reconcile_lag_seconds"):
        assert f'"{name}"' in source, name
