"""``paddock``: submit, watch and cancel jobs, and ask the capacity planner, from a terminal or CI.

Reads ``PADDOCK_URL`` and ``PADDOCK_TOKEN``. ``paddock submit --wait`` exits 0 only when the
job succeeded, so a pipeline step fails when its job does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paddock.client import ApiError, Client
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


def _span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def _when(iso: str | None, now: datetime) -> str:
    """``in 12 min``, ``5 min ago``, or ``—`` for none."""
    if not iso:
        return "—"
    delta = (datetime.fromisoformat(iso.replace("Z", "+00:00")) - now).total_seconds()
    if abs(delta) < 30:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns; the last one runs free."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{cells}  {row[-1]}".rstrip())


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paddock", description=__doc__)
    parser.add_argument("--url", help="Paddock's address (default $PADDOCK_URL or http://127.0.0.1:8000)")
    parser.add_argument("--token", help="API token (default $PADDOCK_TOKEN)")
    sub = parser.add_subparsers(dest="command", required=True)

    submit = sub.add_parser("submit", help="submit a job")
    submit.add_argument("--name", required=True)
    submit.add_argument("--team", required=True)
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
    submit.add_argument("--wait", action="store_true", help="follow the log and exit with the job's outcome")
    submit.add_argument("entrypoint", nargs=argparse.REMAINDER, help="the command, after --")

    for name, help_text in [("status", "show a job"), ("cancel", "cancel a job"), ("logs", "print a job's log")]:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("job_id", type=int)
        if name == "logs":
            cmd.add_argument("--follow", "-f", action="store_true")

    planner = sub.add_parser("plan", help="estimate memory, fit, time and cost for a spec (or a list) in a JSON file")
    planner.add_argument("file", help="the spec(s) as JSON; - reads stdin")
    planner.add_argument("--require-fit", action="store_true", help="exit 1 unless every spec fits its hardware")

    queue = sub.add_parser("queue", help="pending jobs in queue order: position, estimated start, why each waits")
    queue.add_argument("--team")
    queue.add_argument("--json", action="store_true", help="print the entries as JSON (for scripts)")

    listing = sub.add_parser("list", help="list jobs")
    listing.add_argument("--team")
    listing.add_argument("--state")

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
    finetune.add_argument("--team", required=True)
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
    finetune.add_argument("--wait", action="store_true", help="follow the log and exit with the job's outcome")
    finetune.add_argument("--json", action="store_true", help="print the job as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        client = Client(args.url, args.token)
        return _run(client, args)
    except ApiError as exc:
        print(json.dumps(exc.body, indent=2) if not isinstance(exc.body, str) else exc.body, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"paddock: {exc}", file=sys.stderr)
        return 2


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


# Commands of the model registry: an API refusal exits 2, as every other command's does (1 is
# a job that did not succeed under --wait).
REGISTRY_COMMANDS = frozenset({"checkpoints", "models", "promote", "finetune"})


def _run_registry(client: Client, args: Any) -> int:
    try:
        return _registry(client, args)
    except ApiError as exc:
        detail = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, indent=2)
        print(f"paddock {args.command}: HTTP {exc.status}: {detail}", file=sys.stderr)
        return 2


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
    job = client.submit_template("lora", idempotency_key=args.idempotency_key, **finetune_body(args))
    if args.json and not args.wait:
        print(json.dumps(job, indent=2))
        return 0
    print(f"job {job['id']} {job['state']}", file=sys.stderr)
    if not args.wait:
        print(job["id"])
        return 0
    for text in client.follow_logs(job["id"]):
        sys.stdout.write(text)
    final = client.wait(job["id"])
    print(f"job {final['id']} {final['state']} {final.get('state_reason') or ''}".rstrip(), file=sys.stderr)
    if args.json:
        print(json.dumps(final, indent=2))
    return 0 if final["state"] == "succeeded" else 1


def _run(client: Client, args: Any) -> int:
    if args.command in REGISTRY_COMMANDS:
        return _run_registry(client, args)
    if args.command == "submit":
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
            print(job["id"])
            return 0
        for text in client.follow_logs(job["id"]):
            sys.stdout.write(text)
        final = client.wait(job["id"])
        print(f"job {final['id']} {final['state']} {final['state_reason']}".rstrip(), file=sys.stderr)
        return 0 if final["state"] == "succeeded" else 1
    if args.command == "plan":
        answer = client.estimate(_read_json(args.file))
        print(json.dumps(answer, indent=2))
        answers = answer if isinstance(answer, list) else [answer]
        return 1 if args.require_fit and not all(item["fits"] for item in answers) else 0
    if args.command == "status":
        job = client.job(args.job_id)
        print(json.dumps(job, indent=2))
        if job["state"] == "pending":  # for people; stdout stays JSON for scripts
            print(
                f"job {job['id']} pending: position {job['queue_position']} in team {job['team']}'s queue"
                f"{' in pool ' + job['pool'] if job['pool'] else ''}; "
                f"estimated start {estimate_text(job, datetime.now(UTC))}"
                + (f" — {job['estimate_basis']}" if job.get("estimate_basis") else ""),
                file=sys.stderr,
            )
        return 0
    if args.command == "queue":
        page = client.queue(**({"team": args.team} if args.team else {}), page_size=500)
        if args.json:
            print(json.dumps(page["results"], indent=2))
        else:
            _print_queue(page["results"], page["count"], datetime.now(UTC))
        return 0
    if args.command == "cancel":
        print(client.cancel(args.job_id)["state"])
        return 0
    if args.command == "logs":
        if args.follow:
            for text in client.follow_logs(args.job_id):
                sys.stdout.write(text)
        else:
            sys.stdout.write(client.logs(args.job_id)["text"])
        return 0
    if args.command == "list":
        filters = {k: v for k, v in {"team": args.team, "state": args.state}.items() if v}
        for job in client.jobs(**filters):
            print(f"{job['id']:>8}  {job['state']:<12} {job['team']:<16} {job['name']}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
