"""Jobs and plans for people: ``paddock list``, ``status``, ``cancel`` and ``plan`` without
``--json``. Pure functions of the API's JSON and a ``now``, so the same answer always reads the
same (the tests pin ``now``). Every key the API may add later (placement, cause, exit code,
nodes) is optional: a server without it prints what it has."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from paddock.output import _span, _table_lines, _when, one_line, parse_time

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "lost"})


def _number(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def gpus_text(resources: dict[str, Any] | None, *, pending: bool = False) -> str:
    """``2 × H100 SXM``, ``1 × H100 SXM (or A100 80GB SXM)`` while it accepts several models,
    ``2 GPU ≥ 40 GB``, ``2 GPU``; ``—`` for CPU-only work."""
    resources = resources or {}
    gpus = resources.get("gpus") or 0
    if not gpus:
        return "—"
    count = _number(gpus)
    model = resources.get("accelerator_model") or ""
    others = [m for m in resources.get("accelerator_models") or [] if m != model]
    if model:
        return f"{count} × {model}" + (f" (or {', '.join(others)})" if pending and others else "")
    if resources.get("min_gpu_memory_gb"):
        return f"{count} GPU ≥ {_number(resources['min_gpu_memory_gb'])} GB"
    return f"{count} GPU"


def resources_text(resources: dict[str, Any] | None, *, pending: bool = False) -> str:
    """``2 × H100 SXM, 8 CPU, 64 GB memory``."""
    resources = resources or {}
    parts = []
    if resources.get("gpus"):
        parts.append(gpus_text(resources, pending=pending))
    if resources.get("cpus"):
        parts.append(f"{_number(resources['cpus'])} CPU")
    if resources.get("memory_gb"):
        parts.append(f"{_number(resources['memory_gb'])} GB memory")
    return ", ".join(parts) or "—"


def _seconds_between(start: str | None, end: str | None, now: datetime) -> float | None:
    began = parse_time(start)
    if began is None:
        return None
    ended = parse_time(end) or now
    return max((ended - began).total_seconds(), 0.0)


def job_duration(job: dict[str, Any], now: datetime) -> float | None:
    """The API's ``duration_seconds`` when it sends one; otherwise from its first attempt's
    start (or its own) to its end, or to now while it runs."""
    if job.get("duration_seconds") is not None:
        return float(job["duration_seconds"])
    if "duration_seconds" in job:  # the server says it never started
        return None
    starts = [a.get("started_at") for a in job.get("attempts") or [] if a.get("started_at")]
    start = min(starts, key=lambda s: parse_time(s) or now) if starts else job.get("started_at")
    end = job.get("finished_at") if job.get("state") in FINAL_STATES else None
    if job.get("state") in FINAL_STATES and not end:
        return None
    return _seconds_between(start, end, now)


def duration_text(seconds: float | None) -> str:
    return "—" if seconds is None else _span(seconds)


def print_jobs(jobs: list[dict[str, Any]], now: datetime, *, count: int | None = None) -> None:
    """A table of jobs, newest first as the API orders them."""
    for line in jobs_lines(jobs, now, count=count):
        print(line)


def jobs_lines(jobs: list[dict[str, Any]], now: datetime, *, count: int | None = None) -> list[str]:
    if not jobs:
        return ["no jobs"]
    with_nodes = any(job.get("nodes") for job in jobs)
    header = ["ID", "NAME", "TEAM", "STATE", "GPUS", "DURATION", "AGE"]
    if with_nodes:
        header.append("NODES")
    rows = []
    for job in jobs:
        row = [
            str(job["id"]),
            job.get("name") or "—",
            job.get("team") or "—",
            job.get("state") or "—",
            gpus_text(job.get("resources"), pending=job.get("state") == "pending"),
            duration_text(job_duration(job, now)),
            _when(job.get("created_at"), now),
        ]
        if with_nodes:
            row.append(", ".join(job.get("nodes") or []) or "—")
        rows.append(row)
    lines = _table_lines(header, rows)
    if count is not None and count > len(jobs):
        lines.append(f"… {count - len(jobs)} more (narrow it with --team, --state or --cluster, or raise --limit)")
    return lines


def placement_lines(placement: list[dict[str, Any]] | None) -> list[str]:
    """``node-a: GPU 0, 1 (H100 SXM) over ib-a (InfiniBand, 400 Gbit/s)`` for each node an attempt holds."""
    lines = []
    for slot in placement or []:
        where = (
            slot.get("hostname")
            or slot.get("address")
            or (f"node {slot['node_id']}" if slot.get("node_id") is not None else "a node")
        )
        gpus = slot.get("gpus") or []
        text = where
        if gpus:
            text += f": GPU {', '.join(str(g) for g in gpus)}"
        elif slot.get("gpu_uuids"):
            text += f": {len(slot['gpu_uuids'])} GPU"
        if slot.get("accelerator_model"):
            text += f" ({slot['accelerator_model']})"
        if slot.get("fabric"):  # e.g. "ib-a (InfiniBand, 400 Gbit/s)"
            text += f" over {slot['fabric']}"
        lines.append(text)
    return lines


def _last_line(message: str, limit: int = 200) -> str:
    """The last line of a message, where a traceback says what went wrong; its end when long."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    last = " ".join(lines[-1].split())
    return last if len(last) <= limit else "…" + last[-(limit - 1) :]


def attempt_cause(attempt: dict[str, Any]) -> str:
    """One line on why an attempt ended badly: the API's ``cause`` when it sends one; otherwise
    the exit code and the last line of its message (a traceback's error)."""
    if attempt.get("cause"):
        return one_line(str(attempt["cause"]), 200)
    if attempt.get("state") not in ("failed", "lost"):
        return ""
    last = _last_line(attempt.get("message") or "")
    code = attempt.get("exit_code")
    if code is not None:
        return f"exit code {code}: {last}" if last else f"exit code {code}"
    return last


def attempt_lines(attempt: dict[str, Any], now: datetime) -> list[str]:
    state = attempt.get("state") or "—"
    head = f"attempt {attempt.get('number', '?')}  {state}"
    if attempt.get("duration_seconds") is not None:
        seconds: float | None = float(attempt["duration_seconds"])
    else:
        seconds = _seconds_between(attempt.get("started_at"), attempt.get("finished_at"), now)
    if attempt.get("started_at"):
        if attempt.get("finished_at"):
            head += f"  ran {duration_text(seconds)}, ended {_when(attempt['finished_at'], now)}"
        elif state in FINAL_STATES:
            head += f"  started {_when(attempt['started_at'], now)}"
        else:
            head += f"  for {duration_text(seconds)}"
    elif attempt.get("created_at"):
        head += f"  created {_when(attempt['created_at'], now)}, not started"
    lines = [head]
    lines += [f"  on {text}" for text in placement_lines(attempt.get("placement"))]
    if attempt.get("exit_code") is not None and not attempt_cause(attempt).startswith("exit code"):
        lines.append(f"  exit code {attempt['exit_code']}")
    cause = attempt_cause(attempt)
    if cause:
        lines.append(f"  cause: {cause}")
    return lines


def queue_text(job: dict[str, Any], now: datetime) -> str:
    """A pending job's place and estimate: ``position 1 in team alpha's queue; estimated start…``."""
    from paddock.cli import estimate_text

    text = f"position {job.get('queue_position') or '—'} in team {job.get('team')}'s queue"
    if job.get("pool"):
        text += f" in pool {job['pool']}"
    text += f"; estimated start {estimate_text(job, now)}"
    if job.get("estimate_basis"):
        text += f" — {job['estimate_basis']}"
    return text


def status_lines(job: dict[str, Any], now: datetime) -> list[str]:
    """``paddock status``: what it is, where it runs, for how long, and why it is where it is."""
    state = job.get("state") or "—"
    pending = state == "pending"
    lines = [f"job {job['id']} {job.get('name', '')}  {state}"]
    details: list[tuple[str, str]] = []
    if job.get("cause"):  # a failed job's cause in one line (its latest attempt's), first
        details.append(("cause", one_line(str(job["cause"]), 200)))
    reason = job.get("pending_reason") or job.get("state_reason") or ""
    if reason:
        details.append(("reason", one_line(reason, 200 if job.get("cause") else 400)))
    if pending:
        details.append(("queue", queue_text(job, now)))
    cluster = job.get("cluster") or "—"
    if job.get("pool"):
        cluster += f" (pool {job['pool']})"
    details.append(("cluster", cluster))
    latest = max(job.get("attempts") or [{}], key=lambda a: a.get("number", 0))
    nodes = job.get("nodes") or sorted(
        {slot["hostname"] for slot in latest.get("placement") or [] if slot.get("hostname")}
    )
    if nodes:
        details.append(("nodes", ", ".join(nodes)))
    details.append(("resources", resources_text(job.get("resources"), pending=pending)))
    seconds = job_duration(job, now)
    if seconds is not None:
        if state in FINAL_STATES:
            duration = f"{duration_text(seconds)}, ended {_when(job.get('finished_at'), now)}"
        else:
            duration = f"{duration_text(seconds)} so far"
        details.append(("duration", duration))
    submitted = _when(job.get("created_at"), now)
    if job.get("submitted_by"):
        submitted += f" by {job['submitted_by']}"
    details.append(("submitted", submitted))
    details.append(("team", job.get("team") or "—"))
    kind = job.get("kind") or "—"
    if job.get("runtime") and job["runtime"] != "process":
        kind += f", runtime {job['runtime']}"
    details.append(("kind", kind))
    details.append(("command", one_line(job.get("entrypoint") or "—", 400)))
    priority = str(job.get("priority", "—"))
    if job.get("priority_class"):
        priority += f" (class {job['priority_class']})"
    details.append(("priority", priority))
    if job.get("max_runtime_seconds"):
        details.append(("max runtime", _span(job["max_runtime_seconds"])))
    if job.get("cost") not in (None, "") and job.get("cost_currency"):
        details.append(("cost", f"{job['cost_currency']} {job['cost']} ({job.get('gpu_hours') or 0} GPU-h)"))
    width = max(len(key) for key, _ in details)
    lines += [f"  {key.ljust(width)}  {value}" for key, value in details]
    attempts = sorted(job.get("attempts") or [], key=lambda a: a.get("number", 0), reverse=True)
    if attempts:
        lines.append("")
        for attempt in attempts:
            lines += attempt_lines(attempt, now)
    return lines


def cancel_text(job: dict[str, Any]) -> str:
    reason = f" — {job['state_reason']}" if job.get("state_reason") else ""
    return f"job {job['id']} {job.get('name', '')}: {job.get('state')}{reason}"


# --- plan --------------------------------------------------------------------------------------
def bytes_text(count: Any) -> str:
    try:
        value = float(count)
    except (TypeError, ValueError):
        return "—"
    return f"{value / 2**30:.1f} GiB"


def _money(amount: Any, currency: str | None) -> str:
    """``USD 2.79``; an amount under 1 keeps its significant digits (``USD 0.000108``)."""
    if amount in (None, ""):
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        text = str(amount)
    else:
        text = f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value.normalize():f}"
    return f"{currency} {text}" if currency else text


def plan_lines(answer: dict[str, Any]) -> list[str]:
    """One planner answer: does it fit, how much memory, how long, what it costs, what else fits."""
    model = answer.get("model") or {}
    workload = answer.get("workload") or {}
    hardware = answer.get("hardware") or {}
    name = model.get("name") or "the model"
    mode = workload.get("mode") or "?"
    gpus = hardware.get("gpus", "?")
    accelerator = hardware.get("accelerator") or "?"
    verdict = "fits" if answer.get("fits") else "DOES NOT FIT"
    lines = [f"{name}, {mode}, on {gpus} × {accelerator}: {verdict}"]
    memory = f"{bytes_text(answer.get('memory_per_gpu_bytes'))} of {bytes_text(hardware.get('memory_bytes'))} per GPU"
    headroom = answer.get("headroom_bytes")
    if isinstance(headroom, int | float):
        memory += f", {bytes_text(abs(headroom))} {'free' if headroom >= 0 else 'short'}"
    if answer.get("peak_phase"):
        memory += f" (peak: {answer['peak_phase']})"
    details = [("memory", memory)]
    if answer.get("step_time_s") is not None:
        timing = f"{answer['step_time_s']:.3g} s a step"
        if answer.get("time_to_train_s"):
            timing += f", {_span(answer['time_to_train_s'])} to train"
        details.append(("time", timing))
    cost = answer.get("cost") or {}
    if cost.get("currency"):
        money = [
            f"{_money(cost[key], cost['currency'])} {label}"
            for key, label in (("per_hour", "an hour"), ("to_train", "to train"), ("total", "in all"))
            if cost.get(key) not in (None, "")
        ]
        if money:
            details.append(("cost", ", ".join(money)))
    if answer.get("explanation"):
        details.append(("why", one_line(answer["explanation"], 600)))
    width = max(len(key) for key, _ in details)
    lines += [f"  {key.ljust(width)}  {value}" for key, value in details]
    recommendations = answer.get("recommendations") or []
    if recommendations:
        lines.append("  what fits:")
        rows = [
            (
                f"    {item.get('pool', '—')}",
                f"{item.get('gpus', '?')} × {item.get('accelerator', '?')}",
                f"tp {item.get('tp', 1)} pp {item.get('pp', 1)} dp {item.get('dp', 1)}",
                bytes_text(item.get("memory_per_gpu_bytes")),
                _span(item["time_to_train_s"]) if item.get("time_to_train_s") else "—",
                _money(item.get("cost_to_train"), item.get("currency")),
            )
            for item in recommendations
        ]
        header = ("    POOL", "GPUS", "PARALLEL", "MEMORY/GPU", "TO TRAIN", "COST")
        keep = [i for i in range(len(header)) if i < 4 or any(row[i] != "—" for row in rows)]  # no empty columns
        lines += _table_lines([header[i] for i in keep], [[row[i] for i in keep] for row in rows])
    return lines


def print_plan(answer: Any) -> None:
    answers = answer if isinstance(answer, list) else [answer]
    for index, item in enumerate(answers):
        if index:
            print()
        print("\n".join(plan_lines(item)))
