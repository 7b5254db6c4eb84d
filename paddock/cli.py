"""paddock: submit, watch and cancel jobs, serve models behind endpoints, and ask the capacity
planner, from a terminal or CI.

Reads PADDOCK_URL and PADDOCK_TOKEN (paddock chat also PADDOCK_ENDPOINT_TOKEN). Prints for
people; --json prints the API's JSON for scripts. --team defaults to the token's only team.
Errors are one line on stderr. Exit codes: 0 ok, 1 failed (Paddock unreachable or failing, a
check said no), 2 usage or refused input, 3 not found, 4 auth (no token, refused, not allowed),
5 conflict. paddock submit --wait and paddock wait exit with the job's own exit code instead (0
when it succeeded), so a pipeline step fails when its job does; a job that ended without one
exits 121 (failed, no exit code: e.g. its environment could not be set up), 122 (lost by its
cluster) or 123 (cancelled). paddock endpoint create --wait exits 0 only when the endpoint is
ready.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import requests

from paddock import jobs_text
from paddock.client import ApiError, Client, EndpointClient, NoToken
from paddock.output import (
    EXIT_AUTH,
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    NotFound,
    Parser,
    UsageError,
    _table,
    _table_lines,
    _when,
    api_error_text,
    error,
    exit_code_for_status,
    one_line,
    print_json,
    refusal_line,
)
from paddock.workdir import DEFAULT_MAX_BYTES, package_directory


def _env_pairs(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--env expects NAME=VALUE, got {item!r}")
        env[name] = value
    return env


def _max_package_bytes() -> int:
    """The largest package to upload: Paddock's default (Ray's own limit) unless
    ``PADDOCK_PACKAGE_MAX_BYTES`` says less, as the server may."""
    raw = os.environ.get("PADDOCK_PACKAGE_MAX_BYTES", "")
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        raise ValueError(f"PADDOCK_PACKAGE_MAX_BYTES={raw!r} is not a number of bytes") from None


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from exc


_DURATION = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_RUNTIME_LIMIT = 30 * 86400  # what the server accepts


def parse_duration(text: str) -> int:
    """Seconds in ``3600``, ``90m``, ``2h``, ``1h30m``, ``45s`` or ``2d``."""
    raw = text.strip().lower()
    if raw.isdigit():
        seconds = int(raw)
    else:
        parts = _DURATION.findall(raw)
        if not parts or _DURATION.sub("", raw).strip():
            raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 3600, 90m, 2h or 1h30m")
        seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    if not 0 < seconds <= MAX_RUNTIME_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r}: a max runtime is more than 0 and at most 30 days")
    return seconds


def estimate_text(entry: dict[str, Any], now: datetime) -> str:
    """A pending job's estimated start for people: ``in 10 min (high)``, or ``—``."""
    if not entry.get("estimated_start_at"):
        return "—"
    when = _when(entry["estimated_start_at"], now)
    if when.endswith(" ago"):  # the scheduler meant to start it already: the next pass will tell
        when = "any moment"
    confidence = entry.get("estimate_confidence") or ""
    return f"{when} ({confidence})" if confidence else when


def _print_queue(entries: list[dict[str, Any]], count: int, now: datetime) -> None:
    if not entries:
        print("nothing waits")
        return
    header = ("POS", "JOB", "TEAM", "POOL", "PRIO", "WAITING SINCE", "ESTIMATED START", "REASON")
    rows = [
        (
            str(entry["queue_position"]),
            f"{entry['id']} {entry['name']}",
            entry["team"],
            entry["pool"] or "—",
            str(entry["priority"]),
            _when(entry["waiting_since"], now),
            estimate_text(entry, now),
            entry["pending_reason"] or "—",
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    if count > len(entries):
        print(f"… and {count - len(entries)} more (narrow it with --team)")


def size_text(count: int | None) -> str:
    """Bytes for people: ``512 B``, ``1.2 MiB``; ``—`` when not measured yet."""
    if count is None:
        return "—"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # unreachable


def metrics_text(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "—"
    return " ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}" for name, value in metrics.items()
    )


def retention_text(checkpoint: dict[str, Any]) -> str:
    """Why a checkpoint is still there, or why it went."""
    if checkpoint["state"] == "deleted":
        reason = checkpoint.get("deletion_reason") or ""
        return f"deleted: {reason}" if reason else "deleted"
    because = checkpoint.get("retained_because") or ""
    return f"kept: {because}" if because else "kept"


def print_checkpoints(checkpoints: list[dict[str, Any]]) -> None:
    if not checkpoints:
        print("no checkpoints")
        return
    header = ("STEP", "ATTEMPT", "STATE", "SIZE", "FILES", "METRICS", "KEPT/DELETED")
    rows = [
        (
            f"{item['step']}{' (final)' if item.get('final') else ''}",
            str(item.get("attempt_number") or "—"),
            item["state"],
            size_text(item.get("bytes")),
            str(item.get("file_count") if item.get("file_count") is not None else "—"),
            metrics_text(item.get("metrics")),
            retention_text(item)
            + (f"; versions {', '.join(map(str, item['model_versions']))}" if item.get("model_versions") else ""),
        )
        for item in sorted(checkpoints, key=lambda c: (c["step"], c.get("id", 0)))
    ]
    _table(header, rows)


def print_models(models: list[dict[str, Any]], versions: list[dict[str, Any]]) -> None:
    if not models:
        print("no models")
        return
    by_model: dict[Any, list[dict[str, Any]]] = {}
    for version in versions:
        by_model.setdefault(version["model"], []).append(version)
    for index, model in enumerate(sorted(models, key=lambda m: (m["team"], m["name"]))):
        if index:
            print()
        count = model.get("versions", len(by_model.get(model["id"], [])))
        print(f"{model['name']}  (team {model['team']}, {count} version{'s' if count != 1 else ''})")
        own = sorted(by_model.get(model["id"], []), key=lambda v: v["version"], reverse=True)
        if not own:
            print("  no versions yet")
            continue
        rows = [
            (
                f"  v{version['version']}",
                str(version["id"]),
                version["stage"],
                metrics_text(version.get("metrics")),
                f"job {version['job']}" if version.get("job") else "—",
                (version.get("base_model") or {}).get("name") or "—",
            )
            for version in own
        ]
        _table(("  VERSION", "ID", "STAGE", "METRICS", "JOB", "BASE MODEL"), rows)


LORA_PARAMETERS = [
    # (flag, parameter, type, help)
    ("--base-model", "base_model", str, 'a model version ("version:<id>") or the path/URI of a Hugging Face model'),
    ("--dataset", "dataset", str, 'the path/URI of a JSONL file of {"text"} or {"prompt", "completion"} lines'),
    ("--rank", "rank", int, "LoRA rank (8)"),
    ("--alpha", "alpha", float, "LoRA alpha (16)"),
    ("--steps", "steps", int, "training steps (100)"),
    ("--learning-rate", "learning_rate", float, "AdamW learning rate (2e-4)"),
    ("--batch-size", "batch_size", int, "sequences a step (4)"),
    ("--seq-len", "seq_len", int, "tokens a sequence (256)"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints (20)"),
    ("--model-name", "model_name", str, "the registered model the result becomes a version of (the job's name)"),
    ("--seed", "seed", int, "data order and initialisation (0)"),
]


TEAM_HELP = "the team (default: the token's team, or your only team)"
JSON_HELP = "print the API's JSON (for scripts)"


SORT_FIELDS = ("created_at", "name", "state", "priority", "gpus", "duration")


def _sort_field(text: str) -> str:
    if text.removeprefix("-") not in SORT_FIELDS:
        raise argparse.ArgumentTypeError(f"{text!r}: sort by one of {', '.join(SORT_FIELDS)} (-FIELD: descending)")
    return text


def list_filters(args: Any) -> dict[str, Any]:
    """``paddock list``'s flags as the jobs API's query parameters."""
    filters: dict[str, Any] = {
        "team": args.team,
        "state": args.state,
        "cluster": args.cluster,
        "name": args.name,
        "search": args.search,
        "mine": "true" if args.mine else None,
        "ordering": args.sort,
        "page_size": min(args.limit, 500),
    }
    return {key: value for key, value in filters.items() if value}


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


# How `paddock submit --wait` and `paddock wait` end (the README's table): the job's own exit
# code when it has one (a signal S as 128 + S, as shells do), else one of these — outside the
# codes shells and Python use (1, 2, 126, 127, 128 + a signal) and above what jobs usually pick.
EXIT_FAILED_WITHOUT_CODE = 121
EXIT_LOST = 122
EXIT_CANCELLED = 123
WAIT_EXIT_CODES_HELP = (
    "exits with the job's own exit code (0: succeeded; killed by signal S: 128+S); "
    f"{EXIT_FAILED_WITHOUT_CODE}: failed without an exit code (e.g. pip could not install a package), "
    f"{EXIT_LOST}: lost by its cluster, {EXIT_CANCELLED}: cancelled"
)


def job_exit_status(job: dict[str, Any]) -> int:
    """The exit status a finished job gives `paddock submit --wait` and `paddock wait`."""
    if job["state"] == "succeeded":
        return 0
    if job["state"] == "cancelled":
        return EXIT_CANCELLED
    attempts = job.get("attempts") or []
    latest = attempts[-1] if attempts else {}
    if latest.get("state") == "lost":
        return EXIT_LOST
    code = job.get("exit_code")
    if not isinstance(code, int):
        code = latest.get("exit_code")
    if isinstance(code, int) and code < 0:
        return 128 - code  # killed by signal -code
    if isinstance(code, int) and code & 0xFF:
        return code & 0xFF  # what a process's exit status can hold
    return EXIT_FAILED_WITHOUT_CODE


def _wait_for_job(client: Client, job_id: int, *, follow: bool = True) -> dict[str, Any]:
    """Follow the job's log to its end, then say how it ended on stderr (its cause in one line)."""
    if follow:
        for text in client.follow_logs(job_id):
            sys.stdout.write(text)
    final = client.wait(job_id)
    why = final.get("cause") or final.get("state_reason") or ""
    print(f"job {final['id']} {final['state']}{': ' + why if why else ''}", file=sys.stderr)
    return final


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="paddock", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Paddock's address (default $PADDOCK_URL or http://127.0.0.1:8000)")
    parser.add_argument("--token", help="API token (default $PADDOCK_TOKEN)")
    sub = parser.add_subparsers(dest="command", required=True)

    submit = sub.add_parser("submit", help="submit a job")
    submit.add_argument("--name", required=True)
    submit.add_argument("--team", help=TEAM_HELP)
    submit.add_argument("--cluster")
    submit.add_argument("--kind", default="batch", choices=["training", "fine_tuning", "batch"])
    submit.add_argument("--cpus", type=float)
    submit.add_argument("--gpus", type=float)
    submit.add_argument(
        "--accelerator",
        action="append",
        metavar="MODEL",
        help='GPU model; repeat it to accept several, first choice first (--accelerator "H100 SXM" '
        '--accelerator "A100 80GB SXM")',
    )
    submit.add_argument(
        "--min-gpu-memory-gb",
        type=float,
        metavar="GB",
        help="accept any GPU model of the cluster with at least this much memory, the smallest first",
    )
    submit.add_argument("--memory-gb", type=float)
    submit.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument("--pip", action="append", default=[], metavar="PACKAGE")
    code = submit.add_mutually_exclusive_group()
    code.add_argument(
        "--workdir",
        metavar="DIR",
        help="zip DIR here (honouring .gitignore), upload it to Paddock and run the job in it",
    )
    code.add_argument(
        "--working-dir",
        metavar="URI",
        help="a zip the cluster fetches itself (s3://…, gs://…, https://…/code.zip) or a paddock://packages/… URI",
    )
    submit.add_argument("--max-retries", type=int, default=0)
    submit.add_argument(
        "--priority-class",
        metavar="NAME",
        help="a priority class of the team's organisation (GET /api/v1/priority-classes/); the job's priority "
        "becomes its value",
    )
    submit.add_argument(
        "--ray",
        action="store_true",
        help="run the entrypoint in a Ray cluster made for the job (on Kubernetes with KubeRay: a RayJob)",
    )
    submit.add_argument(
        "--max-runtime",
        type=parse_duration,
        metavar="DURATION",
        help="stop an attempt that runs longer (3600, 90m, 2h, 1h30m; at most 30 days): the job fails, not retried",
    )
    submit.add_argument("--idempotency-key", help="a repeat with the same key returns the first job")
    submit.add_argument(
        "--plan", metavar="FILE.json", help='{"model": …, "workload": …}: the planner checks the fit before submitting'
    )
    submit.add_argument("--override-planner", action="store_true", help="submit even if the planner says it won't fit")
    submit.add_argument("--wait", action="store_true", help=f"follow the log; {WAIT_EXIT_CODES_HELP}")
    submit.add_argument("--json", action="store_true", help=JSON_HELP)
    submit.add_argument("entrypoint", nargs=argparse.REMAINDER, help="the command, after --")

    for name, help_text in [
        ("status", "a job: state and why, where it runs (nodes, GPUs), how long, each attempt and its cause"),
        ("cancel", "cancel a job"),
        ("logs", "print a job's log"),
    ]:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("job_id", type=int, metavar="JOB")
        if name == "logs":
            cmd.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
        cmd.add_argument("--json", action="store_true", help=JSON_HELP)

    waiter = sub.add_parser("wait", help="follow a job's log until it ends", description=WAIT_EXIT_CODES_HELP)
    waiter.add_argument("job_id", type=int)
    waiter.add_argument("--quiet", "-q", action="store_true", help="do not print the log")
    waiter.add_argument("--json", action="store_true", help=f"{JSON_HELP}; the log is not printed")

    planner = sub.add_parser("plan", help="estimate memory, fit, time and cost for a spec (or a list) in a JSON file")
    planner.add_argument("file", help="the spec(s) as JSON; - reads stdin")
    planner.add_argument("--require-fit", action="store_true", help="exit 1 unless every spec fits its hardware")
    planner.add_argument("--json", action="store_true", help=JSON_HELP)

    queue = sub.add_parser("queue", help="pending jobs in queue order: position, estimated start, why each waits")
    queue.add_argument("--team")
    queue.add_argument("--json", action="store_true", help="print the entries as JSON (for scripts)")

    listing = sub.add_parser("list", help="jobs, newest first: state, GPUs × model, duration, age")
    listing.add_argument("--team")
    listing.add_argument("--state", action="append", help="repeat for several (running, pending, failed, …)")
    listing.add_argument("--cluster", help="only jobs on this cluster")
    listing.add_argument("--name", help="only jobs whose name contains this")
    listing.add_argument("--search", metavar="TEXT", help="a part of the name, or the start of the id")
    listing.add_argument("--mine", action="store_true", help="only the jobs you submitted")
    listing.add_argument(
        "--sort",
        metavar="FIELD",
        type=_sort_field,
        help=f"one of {', '.join(SORT_FIELDS)}; --sort=-FIELD for the largest (or newest) first "
        "(default: newest first)",
    )
    listing.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N jobs (default 50)")
    listing.add_argument("--json", action="store_true", help=JSON_HELP)

    checkpoints = sub.add_parser("checkpoints", help="a job's checkpoints: step, size, metrics, kept or why deleted")
    checkpoints.add_argument("job_id", type=int, metavar="JOB")
    checkpoints.add_argument("--json", action="store_true", help="print the checkpoints as JSON (for scripts)")

    models = sub.add_parser("models", help="registered models with their versions and stages")
    models.add_argument("--team")
    models.add_argument("--json", action="store_true", help="print the models, each with its versions, as JSON")

    promote = sub.add_parser("promote", help="move a model version to production, staging or none")
    promote.add_argument("version_id", type=int, metavar="VERSION", help="the version's id (see paddock models)")
    promote.add_argument("--stage", required=True, choices=["production", "staging", "none"])
    promote.add_argument("--json", action="store_true", help="print the version as JSON")

    finetune = sub.add_parser("finetune", help="submit the built-in LoRA fine-tuning recipe")
    finetune.add_argument("--team", help=TEAM_HELP)
    finetune.add_argument("--cluster")
    finetune.add_argument("--name", help="the job's name (and the default model name)")
    for flag, dest, kind, help_text in LORA_PARAMETERS:
        finetune.add_argument(flag, dest=dest, type=kind, help=help_text, required=dest in ("base_model", "dataset"))
    finetune.add_argument("--gpus", type=float)
    finetune.add_argument("--accelerator", metavar="MODEL", help="GPU model, e.g. H100")
    finetune.add_argument("--cpus", type=float)
    finetune.add_argument("--memory-gb", type=float)
    finetune.add_argument("--max-retries", type=int, help="attempts after a failure; each resumes from a checkpoint")
    finetune.add_argument("--keep-latest", type=int, metavar="N", help="keep only the N newest checkpoints")
    finetune.add_argument("--keep-best", type=int, metavar="N", help="also keep the N with the lowest loss")
    finetune.add_argument("--idempotency-key", help="a repeat with the same key returns the first job")
    finetune.add_argument("--wait", action="store_true", help=f"follow the log; {WAIT_EXIT_CODES_HELP}")
    finetune.add_argument("--json", action="store_true", help="print the job as JSON")

    _add_endpoint_parsers(sub)
    from paddock import costs_cli  # it imports this module's helpers

    costs_cli.add_costs_parsers(sub)
    return parser


def command_name(args: Any) -> str:
    """``paddock endpoint token create``: the command as typed, for error lines."""
    words = ["paddock", args.command]
    for attribute in ("endpoint_command", "token_command", "costs_command", "budget_command"):
        value = getattr(args, attribute, None)
        if value:
            words.append(value)
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error is one line on stderr and an exit code from
    ``paddock.output`` (0 ok, 1 failed, 2 usage, 3 not found, 4 auth, 5 conflict)."""
    args = build_parser().parse_args(argv)
    name = command_name(args)
    client: Client | None = None
    try:
        if args.command == "chat":  # may need no Paddock token at all: it makes its own client
            return _run_chat(args)
        client = Client(args.url, args.token)
        return _run(client, args)
    except ApiError as exc:
        error(name, api_error_text(exc.status, exc.body))
        return exit_code_for_status(exc.status)
    except NoToken as exc:
        error(name, str(exc))
        return EXIT_AUTH
    except NotFound as exc:
        error(name, str(exc))
        return EXIT_NOT_FOUND
    except ValueError as exc:  # UsageError, a bad file, a flag the server would refuse anyway
        error(name, str(exc))
        return EXIT_USAGE
    except requests.RequestException as exc:
        url = client.url if client is not None else (args.url or os.environ.get("PADDOCK_URL") or "")
        error(name, f"cannot reach Paddock at {url}: {one_line(str(exc), 300)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def resolve_team(client: Client, given: str | None) -> str:
    """The team a command acts for: ``--team`` when given; otherwise the one team the token
    sees (a token limited to a team sees only it; a user's token sees the user's teams)."""
    if given:
        return given
    me = client.me()
    teams = me.get("teams") or []
    if len(teams) == 1:
        return str(teams[0]["slug"])
    if not teams:
        raise UsageError(f"{me.get('username', 'this token')} belongs to no team: ask a team admin to add you")
    listed = ", ".join(f"{team['slug']} ({team.get('role', '?')})" for team in teams)
    raise UsageError(f"say which team with --team: this token can use {listed}")


def submit_resources(args: Any) -> dict[str, Any]:
    """The job's ``resources`` as the API takes them: one --accelerator is its model, several
    are the models it accepts in order."""
    models = list(args.accelerator or [])
    return {
        key: value
        for key, value in {
            "cpus": args.cpus,
            "gpus": args.gpus,
            "accelerator_model": models[0] if len(models) == 1 else None,
            "accelerator_models": models if len(models) > 1 else None,
            "min_gpu_memory_gb": args.min_gpu_memory_gb,
            "memory_gb": args.memory_gb,
        }.items()
        if value is not None
    }


def finetune_body(args: Any) -> dict[str, Any]:
    """``paddock finetune``'s flags as the body of ``POST /job-templates/lora/submit/``."""
    parameters = {dest: getattr(args, dest) for _, dest, _, _ in LORA_PARAMETERS if getattr(args, dest) is not None}
    resources = {
        key: value
        for key, value in {
            "cpus": args.cpus,
            "gpus": args.gpus,
            "accelerator_model": args.accelerator,
            "memory_gb": args.memory_gb,
        }.items()
        if value is not None
    }
    body: dict[str, Any] = {"team": args.team, "parameters": parameters}
    for key in ("cluster", "name", "max_retries"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if resources:
        body["resources"] = resources
    if args.keep_latest is not None or args.keep_best is not None:
        body["checkpoint_policy"] = {
            "keep_latest": args.keep_latest,
            "keep_best": args.keep_best,
            "best_metric": "loss",
            "best_mode": "min",
        }
    return body


# Commands of the model registry (their refusals exit as every command's do: see paddock.output).
REGISTRY_COMMANDS = frozenset({"checkpoints", "models", "promote", "finetune"})


def _registry(client: Client, args: Any) -> int:
    if args.command == "checkpoints":
        items = client.checkpoints(job=args.job_id)
        if args.json:
            print(json.dumps(items, indent=2))
        else:
            print_checkpoints(items)
        return 0
    if args.command == "models":
        team = {"team": args.team} if args.team else {}
        models, versions = client.models(**team), client.model_versions(**team)
        if args.json:
            by_model: dict[Any, list[dict[str, Any]]] = {}
            for version in versions:
                by_model.setdefault(version["model"], []).append(version)
            print(json.dumps([{**model, "version_list": by_model.get(model["id"], [])} for model in models], indent=2))
        else:
            print_models(models, versions)
        return 0
    if args.command == "promote":
        version = client.promote(args.version_id, args.stage)
        if args.json:
            print(json.dumps(version, indent=2))
        else:
            name = version.get("model_name") or "model"
            print(f"{name} v{version['version']} (id {version['id']}) is now {version['stage']}")
        return 0
    # finetune
    args.team = resolve_team(client, args.team)
    job = client.submit_template("lora", idempotency_key=args.idempotency_key, **finetune_body(args))
    if args.json and not args.wait:
        print(json.dumps(job, indent=2))
        return 0
    print(f"job {job['id']} {job['state']}", file=sys.stderr)
    if not args.wait:
        print(job["id"])
        return 0
    final = _wait_for_job(client, job["id"])
    if args.json:
        print(json.dumps(final, indent=2))
    return job_exit_status(final)


def _run(client: Client, args: Any) -> int:
    if args.command in REGISTRY_COMMANDS:
        return _registry(client, args)
    if args.command == "endpoint":
        return _endpoint(client, args)
    if args.command == "costs":
        from paddock.costs_cli import run_costs

        return run_costs(client, args)
    if args.command == "submit":
        args.team = resolve_team(client, args.team)
        # Only the separator itself goes; a later "--" belongs to the command (python x.py -- --flag).
        parts = args.entrypoint[1:] if args.entrypoint[:1] == ["--"] else list(args.entrypoint)
        # One argument is a shell command as typed; several are quoted so each stays one word.
        entrypoint = (parts[0] if len(parts) == 1 else shlex.join(parts)).strip()
        if not entrypoint:
            raise ValueError("give the command to run after --, e.g. paddock submit ... -- python train.py")
        resources = submit_resources(args)
        runtime_env: dict[str, Any] = {}
        if args.env:
            runtime_env["env_vars"] = _env_pairs(args.env)
        if args.pip:
            runtime_env["pip"] = args.pip
        if args.working_dir:
            if "://" not in args.working_dir:
                raise ValueError(
                    f"--working-dir takes a URI, not a path ({args.working_dir!r}); "
                    "to ship a local directory use --workdir DIR"
                )
            runtime_env["working_dir"] = args.working_dir
        if args.workdir:
            package = package_directory(Path(args.workdir), max_bytes=_max_package_bytes())
            print(f"packed {package.file_count} files ({len(package.data)} bytes) from {args.workdir}", file=sys.stderr)
            runtime_env["working_dir"] = client.upload_package(args.team, package.data)["uri"]
        body: dict[str, Any] = {
            "name": args.name,
            "team": args.team,
            "kind": args.kind,
            "entrypoint": entrypoint,
            "max_retries": args.max_retries,
        }
        if args.max_runtime is not None:
            body["max_runtime_seconds"] = args.max_runtime
        if args.priority_class:
            body["priority_class"] = args.priority_class
        if args.ray:
            body["runtime"] = "ray"
        if args.cluster:
            body["cluster"] = args.cluster
        if resources:
            body["resources"] = resources
        if runtime_env:
            body["runtime_env"] = runtime_env
        if args.plan:
            plan = _read_json(args.plan)
            if not isinstance(plan, dict) or set(plan) - {"model", "workload"}:
                raise ValueError(f"{args.plan} must hold an object with model and workload")
            body.update(plan)
            body["override_planner"] = args.override_planner
        job = client.submit(idempotency_key=args.idempotency_key, **body)
        print(f"job {job['id']} {job['state']}", file=sys.stderr)
        if not args.wait:
            if args.json:
                print_json(job)
            else:
                print(job["id"])
            return 0
        final = _wait_for_job(client, job["id"])
        if args.json:
            print_json(final)
        return job_exit_status(final)
    if args.command == "wait":
        final = _wait_for_job(client, args.job_id, follow=not args.quiet and not args.json)
        if args.json:
            print_json(final)
        return job_exit_status(final)
    if args.command == "plan":
        answer = client.estimate(_read_json(args.file))
        if args.json:
            print_json(answer)
        else:
            jobs_text.print_plan(answer)
        answers = answer if isinstance(answer, list) else [answer]
        return EXIT_FAILED if args.require_fit and not all(item["fits"] for item in answers) else 0
    if args.command == "status":
        job = client.job(args.job_id)
        if args.json:
            print_json(job)
        else:
            print("\n".join(jobs_text.status_lines(job, datetime.now(UTC))))
        return 0
    if args.command == "queue":
        page = client.queue(**({"team": args.team} if args.team else {}), page_size=500)
        if args.json:
            print_json(page["results"])
        else:
            _print_queue(page["results"], page["count"], datetime.now(UTC))
        return 0
    if args.command == "cancel":
        job = client.cancel(args.job_id)
        if args.json:
            print_json(job)
        else:
            print(jobs_text.cancel_text(job))
        return 0
    if args.command == "logs":
        if args.follow and args.json:
            raise UsageError("--json prints one answer of the log API; it does not go with --follow")
        if args.follow:
            for text in client.follow_logs(args.job_id):
                sys.stdout.write(text)
        elif args.json:
            print_json(client.logs(args.job_id))
        else:
            sys.stdout.write(client.logs(args.job_id)["text"])
        return 0
    if args.command == "list":
        page = client.jobs_page(**list_filters(args))
        if args.json:
            print_json(page["results"])
        else:
            jobs_text.print_jobs(page["results"], datetime.now(UTC), count=page.get("count"))
        return 0
    return EXIT_USAGE


# --- serving endpoints (issue 12) -------------------------------------------------------------
# `paddock endpoint …` and `paddock chat`. An API refusal exits 2 as everywhere else; an endpoint
# that failed under --wait, an unreachable server and a refused chat exit 1.

ENDPOINT_POLL_SECONDS = 2.0
ENDPOINT_TOKEN_ENV = "PADDOCK_ENDPOINT_TOKEN"


class EndpointLookupError(ValueError):
    """ENDPOINT names more than one endpoint of the caller's teams, or is no name at all (exit 2)."""


class EndpointNotFound(NotFound):
    """ENDPOINT names no endpoint of the caller's teams (exit 3)."""


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-version", type=int, metavar="ID", help="a registered model version (paddock models)")
    source.add_argument("--model-uri", metavar="PATH", help="a model directory: an absolute path or s3://…")
    parser.add_argument(
        "--entry-point", metavar="MOD:CLS", help="the class that serves --model-uri (paddock.serving.model:CausalLM)"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to the model; VALUE is read as JSON when it parses (64, true) and as text otherwise",
    )


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percentage") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("traffic is 1 to 100 percent")
    return value


def _add_endpoint_parsers(sub: Any) -> None:
    endpoint = sub.add_parser("endpoint", help="serving endpoints: create, list, show, scale, roll out, stop, delete")
    commands = endpoint.add_subparsers(dest="endpoint_command", required=True, metavar="COMMAND")
    ref_help = "an id, TEAM/NAME, or NAME when only one of your teams has it"

    def command(name: str, help_text: str, *, ref: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        if ref:
            parser.add_argument("endpoint", metavar="ENDPOINT", help=ref_help)
        parser.add_argument("--json", action="store_true", help="print the API's JSON (for scripts)")
        return parser

    listing = command("list", "endpoints with state, replicas, p95, req/s, GPUs held, cost and URL", ref=False)
    listing.add_argument("--team")
    listing.add_argument("--state", choices=["pending", "deploying", "ready", "degraded", "failed", "stopped"])

    create = command("create", "deploy a model version or a model directory behind a URL", ref=False)
    create.add_argument("name", metavar="NAME", help="a slug, unique in the team; part of the URL")
    create.add_argument("--team", help=TEAM_HELP)
    create.add_argument("--cluster", help="default: the team's default cluster")
    create.add_argument("--runtime", choices=["ray-serve", "vllm"], help="default ray-serve")
    _add_source_flags(create)
    create.add_argument("--cpus", type=float, help="per replica")
    create.add_argument("--gpus", type=float, help="per replica")
    create.add_argument("--accelerator", metavar="MODEL", help="GPU model, e.g. H100")
    create.add_argument("--memory-gb", type=float, help="per replica")
    create.add_argument("--min-replicas", type=int, metavar="N")
    create.add_argument("--max-replicas", type=int, metavar="N")
    create.add_argument("--target-ongoing", type=float, metavar="X", help="requests in flight per replica to scale at")
    create.add_argument("--scale-to-zero", action="store_true", help="no replica (and no GPU held) while idle")
    create.add_argument("--priority-class", metavar="NAME")
    create.add_argument("--wait", action="store_true", help="wait until ready (exit 0) or failed (exit 1)")
    create.add_argument("--timeout", type=parse_duration, metavar="DURATION", help="give --wait up after this (exit 1)")

    command("show", "one endpoint: revisions and their traffic, health, cost, recent events")

    scale = command("scale", "change the replica range and the load each replica takes")
    scale.add_argument("--min", type=int, dest="min_replicas", metavar="N")
    scale.add_argument("--max", type=int, dest="max_replicas", metavar="N")
    scale.add_argument("--target", type=float, dest="target_ongoing_requests", metavar="X")
    scale.add_argument("--scale-to-zero", action=argparse.BooleanOptionalAction, default=None)

    rollout = command("rollout", "deploy a new revision; --traffic under 100 runs it as a canary")
    _add_source_flags(rollout)
    rollout.add_argument("--traffic", type=_percent, default=100, metavar="PCT", help="its share, 1-100 (default 100)")

    promote = command("promote", "give a revision all the traffic")
    promote.add_argument("revision", nargs="?", type=int, metavar="REVISION_NUMBER", help="default: the newest")

    command("rollback", "retire the newest revision; the previous one takes all the traffic")
    command("stop", "stop serving and free the GPUs (URL, tokens and revisions stay)")
    command("start", "start a stopped endpoint")
    delete = command("delete", "delete an endpoint: its URL and tokens stop working")
    delete.add_argument("--yes", action="store_true", help="do not ask")

    token = commands.add_parser("token", help="the endpoint's tokens (Bearer pde_… for its URL)")
    tokens = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    for name, help_text in [("list", "tokens by prefix, revoked or not"), ("create", "a new token, shown once")]:
        parser = tokens.add_parser(name, help=help_text)
        parser.add_argument("endpoint", metavar="ENDPOINT", help=ref_help)
        parser.add_argument("--json", action="store_true", help="print the API's JSON (for scripts)")
        if name == "create":
            parser.add_argument("--name", help="what the token is for, e.g. the calling service")
    revoke = tokens.add_parser("revoke", help="revoke a token: calls with it get 401 from then on")
    revoke.add_argument("endpoint", metavar="ENDPOINT", help=ref_help)
    revoke.add_argument("token_id", type=int, metavar="TOKEN_ID", help="see paddock endpoint token list")
    revoke.add_argument("--json", action="store_true", help="print the API's JSON (for scripts)")

    chat = sub.add_parser("chat", help="send a prompt to an endpoint and stream the reply")
    chat.add_argument("endpoint", metavar="ENDPOINT", help=f"{ref_help}; or the endpoint's URL, with --endpoint-token")
    chat.add_argument("prompt", metavar="PROMPT", help="the user message; - reads it from stdin")
    chat.add_argument("--max-tokens", type=int, metavar="N")
    chat.add_argument(
        "--endpoint-token",
        metavar="TOKEN",
        default=os.environ.get(ENDPOINT_TOKEN_ENV) or None,
        help=f"call the endpoint directly with this pde_… token (default ${ENDPOINT_TOKEN_ENV}); without one "
        "the prompt goes through Paddock's relay, for members of the endpoint's team",
    )


def _config_pairs(values: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--config expects KEY=VALUE, got {item!r}")
        try:
            config[key] = json.loads(raw)
        except ValueError:
            config[key] = raw
    return config


def _source_body(args: Any) -> dict[str, Any]:
    """The model to serve, as the endpoint and revision APIs take it."""
    if args.model_version is not None:
        if args.entry_point:
            raise ValueError("--entry-point goes with --model-uri; a model version knows how it is served")
        body: dict[str, Any] = {"model_version": args.model_version}
    else:
        body = {"model_uri": args.model_uri}
        if args.entry_point:
            body["entry_point"] = args.entry_point
    if args.config:
        body["config"] = _config_pairs(args.config)
    return body


def endpoint_create_body(args: Any) -> dict[str, Any]:
    """``paddock endpoint create``'s flags as the body of ``POST /endpoints/``; flags left out
    take the server's defaults."""
    body: dict[str, Any] = {"team": args.team, "name": args.name, **_source_body(args)}  # team: resolve_team
    if args.cluster:
        body["cluster"] = args.cluster
    optional = {
        "runtime": args.runtime,
        "cpus": args.cpus,
        "gpus": args.gpus,
        "accelerator_model": args.accelerator,
        "memory_gb": args.memory_gb,
        "min_replicas": args.min_replicas,
        "max_replicas": args.max_replicas,
        "target_ongoing_requests": args.target_ongoing,
        "priority_class": args.priority_class,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if args.scale_to_zero:
        body["scale_to_zero"] = True
    return body


def resolve_endpoint(client: Client, ref: str) -> dict[str, Any]:
    """The endpoint ``ref`` names: an id, ``team/name``, or a ``name`` only one of the caller's
    teams has."""
    ref = ref.strip()
    if ref.isdigit():
        return client.endpoint(int(ref))
    team, _, name = ref.rpartition("/")
    if not name:
        raise EndpointLookupError(f"{ref!r} is not an endpoint: give an id, TEAM/NAME or NAME")
    found = client.endpoints(team=team) if team else client.endpoints()
    matches = [item for item in found if item["name"] == name and (not team or item["team"] == team)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f"team {team}" if team else "any of your teams"
        raise EndpointNotFound(f"no endpoint named {name!r} in {where} (paddock endpoint list shows them)")
    which = ", ".join(f"{item['team']}/{item['name']} (id {item['id']})" for item in matches)
    raise EndpointLookupError(f"{name!r} is ambiguous: {which}; say which as TEAM/NAME or by id")


def _label(endpoint: dict[str, Any]) -> str:
    return f"{endpoint['team']}/{endpoint['name']}"


def money_text(amount: str | None, currency: str) -> str:
    """``USD 0.42``; the API's decimal string kept as it is, never through a float."""
    if amount in (None, ""):
        return "—"
    try:
        return f"{currency} {Decimal(str(amount))}"
    except InvalidOperation:
        return f"{currency} {amount}"


def rate_text(value: float | None) -> str:
    """``0.05``, ``3.2``, ``41``: as many digits as the size deserves."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    text = f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def replicas_text(endpoint: dict[str, Any]) -> str:
    """Running now / the range: ``1/1-2``."""
    replicas = endpoint.get("replicas") or {}
    return f"{replicas.get('running', 0)}/{replicas.get('min', 0)}-{replicas.get('max', 0)}"


def cost_text(cost: dict[str, Any] | None) -> str:
    if not cost:
        return "—"
    if not cost.get("priced"):
        return "not priced"
    return money_text(cost.get("so_far"), cost.get("currency") or "USD")


def print_endpoints(endpoints: list[dict[str, Any]]) -> None:
    """A table; an endpoint that is not ready says why on the line under it."""
    if not endpoints:
        print("no endpoints")
        return
    header = ("ID", "NAME", "TEAM", "STATE", "REPLICAS", "P95", "REQ/S", "GPUS", "COST", "URL")
    rows = []
    for item in endpoints:
        latest = item.get("latest") or {}
        rows.append(
            (
                str(item["id"]),
                item["name"],
                item["team"],
                item["state"],
                replicas_text(item),
                _ms(latest.get("p95_ms")),
                rate_text(latest.get("requests_per_s")),
                f"{item.get('gpus_held') or 0:g}",
                cost_text(item.get("cost")),
                item.get("url") or "—",
            )
        )
    lines = _table_lines(header, rows)
    print(lines[0])
    indent = " " * lines[0].index("STATE")
    for item, line in zip(endpoints, lines[1:], strict=True):
        print(line)
        if item["state"] != "ready" and item.get("state_reason"):
            print(f"{indent}↳ {item['state_reason']}")


def source_text(source: dict[str, Any] | None) -> str:
    """What a revision serves, for people: ``tiny-llama v1 (model version 3)`` or the URI."""
    if not source:
        return "—"
    if source.get("model"):
        text = f"{source['model']} v{source.get('version')}"
        if source.get("model_version") is not None:
            text += f" (model version {source['model_version']})"
    else:
        text = source.get("uri") or "—"
        if source.get("entry_point"):
            text += f" ({source['entry_point']})"
    if source.get("job") is not None:
        text += f", from job {source['job']}"
    return text


def traffic_text(endpoint: dict[str, Any]) -> str:
    split = endpoint.get("traffic") or []
    if not split:
        return "none yet"
    parts = [f"revision {item['number']} {item['percent']} % ({item['state']})" for item in split]
    return ", ".join(parts) + (" — a canary" if len(split) > 1 else "")


def health_text(latest: dict[str, Any] | None, now: datetime) -> str:
    if not latest:
        return "nothing measured yet"
    replicas = latest.get("replicas")
    return (
        f"{rate_text(latest.get('requests_per_s'))} req/s, p50 {_ms(latest.get('p50_ms'))}, "
        f"p95 {_ms(latest.get('p95_ms'))}, p99 {_ms(latest.get('p99_ms'))}, "
        f"errors {100 * (latest.get('error_rate') or 0):.1f} %, {rate_text(latest.get('tokens_per_s'))} tokens/s, "
        f"{replicas} replica{'s' if replicas != 1 else ''} ({_when(latest.get('at'), now)})"
    )


def cost_lines(cost: dict[str, Any] | None) -> list[str]:
    if not cost:
        return ["—"]
    if not cost.get("priced"):
        return [f"not priced: {cost.get('note') or 'no price for its hardware'}"]
    currency = cost.get("currency") or "USD"
    first = f"{money_text(cost.get('so_far'), currency)} so far ({cost.get('replica_hours', 0):g} replica-hours"
    if cost.get("price_per_replica_hour"):
        first += f" at {money_text(cost['price_per_replica_hour'], currency)}/h"
    lines = [first + ")"]
    unit = [
        f"{money_text(cost[key], currency)} per 1k {what}"
        for key, what in (("per_1k_requests", "requests"), ("per_1k_tokens", "tokens"))
        if cost.get(key)
    ]
    if unit:
        lines.append(", ".join(unit))
    return lines


def print_endpoint(
    endpoint: dict[str, Any], revisions: list[dict[str, Any]], events: list[dict[str, Any]], now: datetime
) -> None:
    print(f"{_label(endpoint)}  (id {endpoint['id']})  {endpoint['state']}")
    if endpoint.get("state_reason"):
        print(f"  {endpoint['state_reason']}")
    resources = endpoint.get("resources") or {}
    replicas = endpoint.get("replicas") or {}
    per_replica = f"{resources.get('cpus', 0):g} CPU, {resources.get('gpus', 0):g} GPU"
    if resources.get("accelerator_model"):
        per_replica += f" ({resources['accelerator_model']})"
    if resources.get("memory_gb"):
        per_replica += f", {resources['memory_gb']:g} GB"
    holds = f"{endpoint.get('gpus_held') or 0:g} GPU, {endpoint.get('cpus_held') or 0:g} CPU"
    if endpoint.get("job") is not None:
        holds += (
            f" (deployment job {endpoint['job']}{', ' + endpoint['job_state'] if endpoint.get('job_state') else ''})"
        )
    url = endpoint.get("url") or "— (assigned when it first deploys)"
    details = [
        ("runtime", f"{endpoint.get('runtime', '—')} on cluster {endpoint.get('cluster', '—')}"),
        ("url", url),
        ("openai base", f"{endpoint['openai_base_url']}  (model {endpoint.get('model_name')!r})")
        if endpoint.get("openai_base_url")
        else ("openai base", "—"),
        ("serves", source_text(endpoint.get("source"))),
        ("traffic", traffic_text(endpoint)),
        (
            "replicas",
            f"{replicas_text(endpoint)} (running/min-max), scale at {replicas.get('target_ongoing_requests', 0):g} "
            f"requests in flight each{', scales to zero' if replicas.get('scale_to_zero') else ''}",
        ),
        ("per replica", per_replica),
        ("holds", holds),
        ("health", health_text(endpoint.get("latest"), now)),
    ]
    cost = cost_lines(endpoint.get("cost"))
    details += [("cost", cost[0])] + [("", line) for line in cost[1:]]
    details.append(("created", f"{_when(endpoint.get('created_at'), now)} by {endpoint.get('created_by') or '—'}"))
    if endpoint.get("priority_class"):
        details.append(("priority", endpoint["priority_class"]))
    width = max(len(key) for key, _ in details)
    for key, value in details:
        print(f"  {key.ljust(width)}  {value}")
    print()
    if revisions:
        rows = [
            (
                str(item["number"]),
                item["state"],
                f"{item['traffic_percent']} %" if item.get("traffic_percent") else "—",
                source_text(item.get("source")),
                _when(item.get("created_at"), now),
                item.get("message") or "",
            )
            for item in sorted(revisions, key=lambda r: r["number"], reverse=True)
        ]
        _table(("REVISION", "STATE", "TRAFFIC", "SERVES", "CREATED", "MESSAGE"), rows)
    else:
        print("no revisions")
    if events:
        print()
        _table(("WHEN", "EVENT", "MESSAGE"), [(_when(e["created_at"], now), e["kind"], e["message"]) for e in events])


def _print_secret(token: dict[str, Any], endpoint: dict[str, Any]) -> None:
    print(f"token {token.get('name') or ''!r} (id {token.get('id')}): {token['token']}")
    print(
        "This token is shown once and will not be shown again: store it now. "
        f"(paddock endpoint token create {_label(endpoint)} makes another.)"
    )


def _endpoint(client: Client, args: Any) -> int:
    command = args.endpoint_command
    now = datetime.now(UTC)
    if command == "list":
        filters = {key: value for key, value in {"team": args.team, "state": args.state}.items() if value}
        items = client.endpoints(**filters)
        if args.json:
            print(json.dumps(items, indent=2))
        else:
            print_endpoints(items)
        return 0
    if command == "create":
        args.team = resolve_team(client, args.team)
        return _create_endpoint(client, args)
    endpoint = resolve_endpoint(client, args.endpoint)
    endpoint_id = endpoint["id"]
    if command == "show":
        revisions = client.endpoint_revisions(endpoint_id)
        if args.json:
            print(json.dumps({**endpoint, "revision_list": revisions}, indent=2))
        else:
            print_endpoint(endpoint, revisions, client.endpoint_events(endpoint_id, page_size=5), now)
        return 0
    if command == "scale":
        fields = {
            key: getattr(args, key)
            for key in ("min_replicas", "max_replicas", "target_ongoing_requests", "scale_to_zero")
            if getattr(args, key) is not None
        }
        if not fields:
            raise ValueError("say what to change: --min, --max, --target or --[no-]scale-to-zero")
        endpoint = client.update_endpoint(endpoint_id, **fields)
        replicas = endpoint.get("replicas") or {}
        return _emit(
            args,
            endpoint,
            f"{_label(endpoint)}: {replicas_text(endpoint)} replicas (running/min-max), scale at "
            f"{replicas.get('target_ongoing_requests', 0):g} requests in flight each"
            f"{', scales to zero' if replicas.get('scale_to_zero') else ''}",
        )
    if command == "rollout":
        revision = client.create_revision(endpoint_id, **_source_body(args), traffic_percent=args.traffic)
        serves = source_text(revision.get("source"))
        text = f"{_label(endpoint)}: revision {revision['number']} {revision['state']}, serving {serves}"
        if args.traffic < 100:
            text += (
                f"\nIt takes {args.traffic} % of the traffic as a canary next to the serving revision; "
                f"give it all with: paddock endpoint promote {_label(endpoint)} {revision['number']}"
            )
        return _emit(args, revision, text)
    if command == "promote":
        revisions = client.endpoint_revisions(endpoint_id)
        if not revisions:
            raise ValueError(f"{_label(endpoint)} has no revisions")
        number = args.revision if args.revision is not None else max(r["number"] for r in revisions)
        chosen = next((r for r in revisions if r["number"] == number), None)
        if chosen is None:
            numbers = ", ".join(str(r["number"]) for r in sorted(revisions, key=lambda r: r["number"]))
            raise ValueError(f"{_label(endpoint)} has no revision {number} (it has {numbers})")
        revision = client.promote_revision(endpoint_id, chosen["id"])
        return _emit(
            args,
            revision,
            f"{_label(endpoint)}: revision {revision['number']} ({revision['state']}) now takes "
            f"{revision.get('traffic_percent', 100)} % of the traffic",
        )
    if command == "rollback":
        endpoint = client.rollback_endpoint(endpoint_id)
        return _emit(args, endpoint, f"{_label(endpoint)} rolled back: traffic {traffic_text(endpoint)}")
    if command == "stop":
        endpoint = client.stop_endpoint(endpoint_id)
        return _emit(
            args, endpoint, f"{_label(endpoint)}: {endpoint['state']}; its GPUs are free, its URL answers no more"
        )
    if command == "start":
        endpoint = client.start_endpoint(endpoint_id)
        reason = f" — {endpoint['state_reason']}" if endpoint.get("state_reason") else ""
        return _emit(args, endpoint, f"{_label(endpoint)}: {endpoint['state']}{reason}")
    if command == "delete":
        if not args.yes:
            if not sys.stdin.isatty():
                raise ValueError(f"deleting {_label(endpoint)} needs --yes when nobody can answer a question")
            answer = input(f"Delete {_label(endpoint)} (id {endpoint_id})? Its URL and tokens stop working. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("not deleted")
                return 1
        client.delete_endpoint(endpoint_id)
        return _emit(args, {"id": endpoint_id, "deleted": True}, f"deleted {_label(endpoint)} (id {endpoint_id})")
    # token
    if args.token_command == "list":
        items = client.endpoint_tokens(endpoint_id)
        if args.json:
            print(json.dumps(items, indent=2))
        elif not items:
            print(f"{_label(endpoint)} has no tokens")
        else:
            rows = [
                (
                    str(item["id"]),
                    item.get("name") or "—",
                    f"{item['prefix']}…",
                    _when(item.get("created_at"), now),
                    item.get("created_by") or "—",
                    f"revoked {_when(item['revoked_at'], now)}" if item.get("revoked_at") else "active",
                )
                for item in items
            ]
            _table(("ID", "NAME", "PREFIX", "CREATED", "BY", "STATE"), rows)
        return 0
    if args.token_command == "create":
        token = client.create_endpoint_token(endpoint_id, args.name)
        if args.json:
            print(json.dumps(token, indent=2))
        else:
            _print_secret(token, endpoint)
        return 0
    answer = client.revoke_endpoint_token(endpoint_id, args.token_id)
    prefix = f" ({answer['prefix']}…)" if isinstance(answer, dict) and answer.get("prefix") else ""
    return _emit(args, answer, f"token {args.token_id}{prefix} of {_label(endpoint)} revoked: calls with it get 401")


def _emit(args: Any, answer: Any, text: str) -> int:
    print(json.dumps(answer, indent=2) if args.json else text)
    return 0


def _create_endpoint(client: Client, args: Any) -> int:
    created = client.create_endpoint(**endpoint_create_body(args))
    token = created.get("token")
    latest = {key: value for key, value in created.items() if key != "token"}
    if not args.json:
        reason = f" — {created['state_reason']}" if created.get("state_reason") else ""
        print(f"created {_label(created)} (id {created['id']}): {created['state']}{reason}")
        print(f"url: {created.get('url') or '— (assigned when it first deploys)'}")
        if created.get("openai_base_url"):
            print(f"openai base url: {created['openai_base_url']}  (model {created.get('model_name')!r})")
        if token:  # before any waiting: an interrupted wait must not lose it
            _print_secret(token, created)
    if not args.wait:
        if args.json:
            print(json.dumps(created, indent=2))
        return 0
    try:
        for latest in client.wait_endpoint(created["id"], timeout=args.timeout, poll=ENDPOINT_POLL_SECONDS):
            reason = f" — {latest['state_reason']}" if latest.get("state_reason") else ""
            print(f"{_label(latest)}: {latest['state']}{reason}", file=sys.stderr)
    except TimeoutError as exc:
        print(f"paddock endpoint create: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:  # --json: one object, the freshest endpoint with its one-time token, however the wait ended
        if args.json:
            print(json.dumps({**latest, "token": token}, indent=2))
    if latest["state"] != "ready":
        return 1
    if not args.json:
        print(f"{_label(latest)} is ready at {latest.get('url') or '—'}")
    return 0


def _run_chat(args: Any) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    messages = [{"role": "user", "content": prompt}]
    direct = args.endpoint.startswith(("http://", "https://"))
    if direct and not args.endpoint_token:
        raise UsageError(f"calling an endpoint by its URL needs --endpoint-token or ${ENDPOINT_TOKEN_ENV}")
    if direct:
        base = args.endpoint.rstrip("/")
        base = base if base.endswith("/v1") else f"{base}/v1"
        caller = EndpointClient(base, args.endpoint_token)
        try:
            model_names = caller.models()
        except ApiError as exc:
            return _chat_refused(args, exc)
        if not model_names:
            error("paddock chat", f"{base}/models names no model")
            return EXIT_FAILED
        pieces = caller.stream_chat(messages, model=model_names[0], max_tokens=args.max_tokens)
    else:
        client = Client(args.url, args.token)
        endpoint = resolve_endpoint(client, args.endpoint)  # its refusals exit as any command's
        if args.endpoint_token:
            if not endpoint.get("openai_base_url"):
                error("paddock chat", f"{_label(endpoint)} has no URL yet ({endpoint['state']})")
                return EXIT_CONFLICT
            caller = EndpointClient(endpoint["openai_base_url"], args.endpoint_token)
            pieces = caller.stream_chat(messages, model=endpoint["model_name"], max_tokens=args.max_tokens)
        else:
            pieces = client.try_endpoint(endpoint["id"], messages=messages, max_tokens=args.max_tokens)
    try:
        return _stream_out(pieces)
    except ApiError as exc:
        return _chat_refused(args, exc)


def _chat_refused(args: Any, exc: ApiError) -> int:
    """A refused or broken reply: the endpoint token's 401 in words, an error inside the stream
    (status 200) as the endpoint said it."""
    if exc.status == 401 and args.endpoint_token:
        error("paddock chat", "the endpoint token was refused (HTTP 401)")
        return EXIT_AUTH
    if exc.status == 200:
        error("paddock chat", f"the endpoint failed mid-reply: {refusal_line(exc.body)}")
        return EXIT_FAILED
    error("paddock chat", api_error_text(exc.status, exc.body))
    return exit_code_for_status(exc.status)


def _stream_out(pieces: Any) -> int:
    """Write each piece the moment it arrives; end the reply with a newline."""
    last = ""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
            last = piece
    finally:
        if last and not last.endswith("\n"):
            sys.stdout.write("\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
