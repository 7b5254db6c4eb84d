"""A trace simulator: a workload replayed through the real ``decide`` on a virtual clock.

Operators try a quota change on last month's workload before saving it. Nothing here touches
the database: the pass state (pools, ledgers, placement snapshots, holders, policies) is built
in memory from two small files, and the trace's jobs arrive and end as events:

* at each event time, the jobs that end give their units back, the jobs submitted join the
  queue, and ``decide`` runs exactly as a pass would (enforcement, both rounds, fair share,
  preemption, placement, starvation reservations);
* an admitted job runs for its trace ``duration`` and then ends; a preempted one goes back to
  the queue and, when admitted again, runs its whole duration again (no checkpoints);
* when a job is submitted and does not start at once, the ETA replay (:mod:`apps.admission.eta`)
  predicts its start from what the scheduler knows then; the report compares that with when
  the simulation really started it.

Files (JSON or YAML; examples in ``deploy/simulate/``):

* trace, CSV with a header: ``submit_time`` (seconds from the trace's start, or an ISO 8601
  time), ``team``, ``gpus``, ``model`` (a pool's model), ``duration`` (seconds), ``priority``;
* inventory: ``{"pools": [{"name", "model", "nodes", "gpus_per_node", "fabrics", "placement"}]}``
  — ``fabrics`` splits the nodes evenly into that many network fabrics (0: single-node jobs only);
* quotas: ``{"cohorts": [{"name", "reclaim_from_borrowers", "preempt_lower_priority",
  "preempt_while_borrowing"}], "teams": [{"name", "cohort", "quotas": {pool: {"guaranteed",
  "max", "lending_limit", "weight"}}}]}``.
"""

from __future__ import annotations

import bisect
import csv
import heapq
import json
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from apps.admission.accounting import PoolLedger, Share
from apps.admission.decide import decide
from apps.admission.eta import HIGH, LOW, Runtime, copy_state, replay
from apps.admission.placement import STRATEGIES, NodeSlot, PoolSnapshot
from apps.admission.policy import TeamPolicy
from apps.admission.state import Candidate, Holder, PassState, release
from apps.inventory.models import AcceleratorModel
from apps.quotas.models import Cohort, Pool

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # a trace given in seconds starts here
COLUMNS = ("submit_time", "team", "gpus", "model", "duration", "priority")


class TraceError(ValueError):
    """A trace, inventory or quota file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class TraceJob:
    job_id: int
    submit: datetime
    team: str
    gpus: int
    model: str
    duration: float
    priority: int


# --- reading the files ----------------------------------------------------------------------------


def read_trace(path: str | Path) -> list[TraceJob]:
    try:
        handle = open(path, newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TraceError(f"{path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(
                f"{path}: the header lacks the column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"
            )
        jobs: list[TraceJob] = []
        for line, row in enumerate(reader, start=2):
            try:
                jobs.append(
                    TraceJob(
                        job_id=len(jobs) + 1,
                        submit=_time(row["submit_time"]),
                        team=_text(row["team"], "team"),
                        gpus=_count(row["gpus"], "gpus"),
                        model=_text(row["model"], "model"),
                        duration=_seconds(row["duration"]),
                        priority=int(row["priority"] or 0),
                    )
                )
            except (TypeError, ValueError) as exc:
                raise TraceError(f"{path}, line {line}: {exc}") from exc
    if not jobs:
        raise TraceError(f"{path}: the trace has no jobs")
    return jobs


def _text(value: str | None, column: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{column} is empty")
    return value.strip()


def _time(value: str | None) -> datetime:
    text = _text(value, "submit_time")
    try:
        return EPOCH + timedelta(seconds=float(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"submit_time {text!r} is neither seconds nor an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count(value: str | None, column: str) -> int:
    number = float(_text(value, column))
    if number < 0 or not math.isfinite(number):
        raise ValueError(f"{column} must be zero or more, not {value}")
    return math.ceil(number)


def _seconds(value: str | None) -> float:
    number = float(_text(value, "duration"))
    if number <= 0 or not math.isfinite(number):
        raise ValueError(f"duration must be more than 0 seconds, not {value}")
    return number


def read_config(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise TraceError(f"{path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TraceError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise TraceError(f"{path}: expected a mapping at the top")
    return data


# --- the state, in memory ---------------------------------------------------------------------


@dataclass
class World:
    """The in-memory pass state and the names that map the files onto it."""

    state: PassState
    team_ids: dict[str, int]
    pool_of_model: dict[str, int]
    weights: dict[int, float]  # team → fair-share weight, capacity-weighted over pools
    capacity: int


def build_world(inventory: dict[str, Any], quotas: dict[str, Any]) -> World:
    pools: dict[int, Pool] = {}
    snapshots: dict[int, PoolSnapshot] = {}
    ledgers: dict[int, PoolLedger] = {}
    gang_limit: dict[int, int] = {}
    pool_of_model: dict[str, int] = {}
    pool_ids: dict[str, int] = {}
    node_id = 0
    specs = inventory.get("pools")
    if not isinstance(specs, list) or not specs:
        raise TraceError("inventory: 'pools' must be a non-empty list")
    for n, spec in enumerate(specs, start=1):
        try:
            name, model = str(spec["name"]), str(spec["model"])
            nodes, per_node = int(spec["nodes"]), int(spec.get("gpus_per_node", 8))
            fabrics, placement = int(spec.get("fabrics", 1)), str(spec.get("placement", "pack"))
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(
                f"inventory: pool {n} needs name, model, nodes (and may give gpus_per_node, fabrics, placement): {exc}"
            ) from exc
        if placement not in STRATEGIES or nodes <= 0 or per_node <= 0 or fabrics < 0:
            raise TraceError(f"inventory: pool {name}: nodes and gpus_per_node above 0, placement pack or spread")
        pool = Pool(pk=n, name=name, placement=placement)
        pool.accelerator_model = AcceleratorModel(pk=n, name=model)
        pools[n] = pool
        pool_of_model[model] = n
        pool_ids[name] = n
        slots = []
        per_fabric = math.ceil(nodes / fabrics) if fabrics else 0
        for i in range(nodes):
            node_id += 1
            fabric = frozenset({n * 10_000 + i // per_fabric}) if fabrics else frozenset()
            slots.append(NodeSlot(node_id, f"{name}-{i:05d}", set(range(per_node)), fabric))
        snapshots[n] = PoolSnapshot(slots, strategy=placement, gpu_name=model)
        largest_fabric = per_fabric * per_node if fabrics else per_node
        gang_limit[n] = max(per_node, min(largest_fabric, nodes * per_node))
        ledgers[n] = PoolLedger(pool_id=n, name=name, unit="GPU", capacity=nodes * per_node)

    cohorts: dict[str, Cohort] = {}
    for n, spec in enumerate(quotas.get("cohorts") or [], start=1):
        try:
            cohorts[str(spec["name"])] = Cohort(
                pk=n,
                name=str(spec["name"]),
                reclaim_from_borrowers=bool(spec.get("reclaim_from_borrowers", True)),
                preempt_lower_priority=bool(spec.get("preempt_lower_priority", False)),
                preempt_while_borrowing=bool(spec.get("preempt_while_borrowing", False)),
            )
        except (KeyError, TypeError) as exc:
            raise TraceError(f"quotas: cohort {n} needs a name: {exc}") from exc
    team_ids: dict[str, int] = {}
    team_cohort: dict[int, int | None] = {}
    weights: dict[int, float] = defaultdict(float)
    teams = quotas.get("teams")
    if not isinstance(teams, list) or not teams:
        raise TraceError("quotas: 'teams' must be a non-empty list")
    for n, spec in enumerate(teams, start=1):
        name = str(spec.get("name", ""))
        if not name:
            raise TraceError(f"quotas: team {n} needs a name")
        cohort_name = spec.get("cohort")
        if cohort_name is not None and cohort_name not in cohorts:
            raise TraceError(f"quotas: team {name}'s cohort {cohort_name} is not among the cohorts")
        team_ids[name] = n
        team_cohort[n] = cohorts[cohort_name].pk if cohort_name is not None else None
        for pool_name, quota in (spec.get("quotas") or {}).items():
            if pool_name not in pool_ids:
                raise TraceError(f"quotas: team {name} has a quota in pool {pool_name}, which the inventory lacks")
            pool_id = pool_ids[pool_name]
            try:
                share = Share(
                    team_id=n,
                    guaranteed=int(quota.get("guaranteed", 0)),
                    max=None if quota.get("max") is None else int(quota["max"]),
                    lending_limit=None if quota.get("lending_limit") is None else int(quota["lending_limit"]),
                    weight=float(quota.get("weight", 1)),
                    has_quota=True,
                )
            except (AttributeError, TypeError, ValueError) as exc:
                raise TraceError(f"quotas: team {name}, pool {pool_name}: {exc}") from exc
            ledgers[pool_id].shares[n] = share
            weights[n] += share.weight * ledgers[pool_id].capacity
    cohort_names = {c.pk: c.name for c in cohorts.values()}
    team_names = {pk: name for name, pk in team_ids.items()}
    for ledger in ledgers.values():
        ledger.cohort_of = dict(team_cohort)
        ledger.team_names = team_names
        ledger.cohort_names = cohort_names
    policies = {c.pk: c for c in cohorts.values()}
    state = PassState(
        pools=pools,
        ledgers=ledgers,
        snapshots=snapshots,
        cpu_free={},
        holders=defaultdict(list),
        accelerator_ids={},
        policies=policies,
        team_cohort=team_cohort,
        team_policy={
            team_id: TeamPolicy.from_cohort_switches(
                reclaim_from_borrowers=policies[cohort_id].reclaim_from_borrowers,
                preempt_lower_priority=policies[cohort_id].preempt_lower_priority,
                preempt_while_borrowing=policies[cohort_id].preempt_while_borrowing,
            )
            for team_id, cohort_id in team_cohort.items()
            if cohort_id is not None
        },
        gang_limit=gang_limit,
    )
    return World(state, team_ids, pool_of_model, dict(weights), sum(ledger.capacity for ledger in ledgers.values()))


# --- the replay -------------------------------------------------------------------------------


@dataclass
class JobOutcome:
    job: TraceJob
    first_start: datetime | None = None
    end: datetime | None = None
    preempted: int = 0
    predicted: datetime | None = None  # the ETA at submission
    predicted_confidence: str = ""


@dataclass
class Report:
    jobs: list[JobOutcome]
    world: World
    start: datetime
    end: datetime
    gpu_seconds: dict[int, float]  # per team, run time × GPUs (preempted runs included)
    pool_seconds: dict[int, float]
    preemptions: int
    wasted_gpu_seconds: float  # run time preemption threw away
    passes: int
    seconds: float  # wall clock of the simulation
    eta_runtime: str

    def as_json(self) -> dict[str, Any]:
        return summarise(self)


def simulate(
    trace: list[TraceJob],
    world: World,
    *,
    eta_every: int = 1,
    eta_runtime: str = "known",
    eta_max_steps: int = 10_000,
    starvation: timedelta = timedelta(seconds=1800),
    tick: float = 0.0,
) -> Report:
    """Replay ``trace`` through ``decide``; ``eta_every``: predict every n-th waiting job's start
    at its submission (0: none). ``eta_runtime``: ``known`` (the ETA knows every job's trace
    duration, as a declared max runtime) or ``unknown`` (the team's median so far, else an hour).
    ``tick``: events less than this many seconds apart share one pass (0: a pass per event time).
    """
    started = time.perf_counter()
    state = world.state
    outcomes = {job.job_id: JobOutcome(job) for job in trace}
    for job in trace:
        if job.team not in world.team_ids:
            raise TraceError(f"trace: job {job.job_id}'s team {job.team} is not in the quotas file")
        if job.model not in world.pool_of_model:
            raise TraceError(f"trace: job {job.job_id}'s model {job.model} is not in the inventory")
    arrivals = sorted(trace, key=lambda job: (job.submit, job.job_id))
    by_id = {job.job_id: job for job in trace}
    ends: list[tuple[datetime, int]] = []
    running: dict[int, tuple[Holder, datetime]] = {}  # job → holder, start
    waiting: list[tuple[tuple[int, datetime, int], Candidate]] = []  # sorted as the pass loads them
    finished_by_team: dict[int, list[float]] = defaultdict(list)
    gpu_seconds: dict[int, float] = defaultdict(float)
    pool_seconds: dict[int, float] = defaultdict(float)
    preemptions = passes = 0
    wasted = 0.0
    i = 0
    waited_arrivals = 0
    while i < len(arrivals) or ends:
        nxt = min(
            arrivals[i].submit if i < len(arrivals) else datetime.max.replace(tzinfo=UTC),
            ends[0][0] if ends else datetime.max.replace(tzinfo=UTC),
        )
        until = nxt + timedelta(seconds=tick)
        now = nxt
        while ends and ends[0][0] <= until:
            end_at, job_id = heapq.heappop(ends)
            entry = running.get(job_id)
            if entry is None or entry[1] + timedelta(seconds=by_id[job_id].duration) != end_at:
                continue  # preempted since: this end is stale
            holder, _ = running.pop(job_id)
            release(state, holder)
            state.holders[holder.pool_id] = [h for h in state.holders[holder.pool_id] if h.job_id != job_id]
            outcomes[job_id].end = end_at
            finished_by_team[holder.team_id].append(by_id[job_id].duration)
            gpu_seconds[holder.team_id] += by_id[job_id].duration * holder.units
            pool_seconds[holder.pool_id] += by_id[job_id].duration * holder.units
            now = max(now, end_at)
        arrived: list[int] = []
        while i < len(arrivals) and arrivals[i].submit <= until:
            job = arrivals[i]
            i += 1
            _enqueue(waiting, _candidate(world, job, job.submit))
            arrived.append(job.job_id)
            now = max(now, job.submit)
        decisions = decide(state, [c for _, c in waiting], now, starvation=starvation)
        passes += 1
        for holder, _ in decisions.preempted:
            entry = running.pop(holder.job_id, None)
            if entry is None:
                continue
            preemptions += 1
            outcomes[holder.job_id].preempted += 1
            ran = (now - entry[1]).total_seconds()
            wasted += ran * holder.units
            gpu_seconds[holder.team_id] += ran * holder.units
            pool_seconds[holder.pool_id] += ran * holder.units
            _enqueue(waiting, _candidate(world, by_id[holder.job_id], now))
        admitted = set()
        for candidate, placement in decisions.admitted:
            job = by_id[candidate.job_id]
            holder = Holder(
                job_id=job.job_id,
                team_id=candidate.team_id,
                pool_id=candidate.pool_id,
                units=candidate.units,
                priority=candidate.priority,
                preemptible=True,
                admitted_at=now,
                placement=placement,
            )
            state.holders[holder.pool_id].append(holder)
            running[job.job_id] = (holder, now)
            heapq.heappush(ends, (now + timedelta(seconds=job.duration), job.job_id))
            outcome = outcomes[job.job_id]
            if outcome.first_start is None:
                outcome.first_start = now
            admitted.add(job.job_id)
        if admitted:
            waiting = [item for item in waiting if item[1].job_id not in admitted]
        for job_id in arrived:
            if job_id in admitted:
                outcomes[job_id].predicted, outcomes[job_id].predicted_confidence = now, HIGH
                continue
            waited_arrivals += 1
            if eta_every and (waited_arrivals - 1) % eta_every == 0:
                predicted = _predict(
                    world,
                    by_id,
                    running,
                    waiting,
                    job_id,
                    now,
                    finished_by_team,
                    eta_runtime,
                    eta_max_steps,
                    starvation,
                )
                outcomes[job_id].predicted, outcomes[job_id].predicted_confidence = predicted
        if i >= len(arrivals) and not ends:
            break  # what still waits can never start: nothing ends any more
    last = max((o.end for o in outcomes.values() if o.end is not None), default=arrivals[0].submit)
    return Report(
        jobs=list(outcomes.values()),
        world=world,
        start=arrivals[0].submit,
        end=last,
        gpu_seconds=dict(gpu_seconds),
        pool_seconds=dict(pool_seconds),
        preemptions=preemptions,
        wasted_gpu_seconds=wasted,
        passes=passes,
        seconds=time.perf_counter() - started,
        eta_runtime=eta_runtime,
    )


def _candidate(world: World, job: TraceJob, queued: datetime) -> Candidate:
    return Candidate(
        job_id=job.job_id,
        team_id=world.team_ids[job.team],
        pool_id=world.pool_of_model[job.model],
        units=job.gpus,
        priority=job.priority,
        preemptible=True,
        priority_class="",
        created_at=job.submit,
        waiting_since=queued,
        state_reason="",
    )


def _enqueue(waiting: list[tuple[tuple[int, datetime, int], Candidate]], candidate: Candidate) -> None:
    key = (-candidate.priority, candidate.created_at, candidate.job_id)  # the pass's order
    bisect.insort(waiting, (key, candidate), key=lambda item: item[0])


def _predict(
    world: World,
    by_id: dict[int, TraceJob],
    running: dict[int, tuple[Holder, datetime]],
    waiting: list[tuple[tuple[int, datetime, int], Candidate]],
    job_id: int,
    now: datetime,
    finished_by_team: dict[int, list[float]],
    eta_runtime: str,
    max_steps: int,
    starvation: timedelta,
) -> tuple[datetime | None, str]:
    def runtime(team_id: int, seconds: float) -> Runtime:
        if eta_runtime == "known":
            return Runtime(seconds, HIGH, "declared max runtime")
        history = finished_by_team.get(team_id)
        if history:
            return Runtime(statistics.median(history[-200:]), LOW, "the team's history")
        return Runtime(3600.0, LOW, "default run time")

    ends: dict[int, tuple[datetime, Runtime]] = {}
    for holder_id, (holder, began) in running.items():
        rt = runtime(holder.team_id, by_id[holder_id].duration)
        ends[holder_id] = (max(now, began + timedelta(seconds=rt.seconds)), rt)
    runtimes = {c.job_id: runtime(c.team_id, by_id[c.job_id].duration) for _, c in waiting}
    estimates = replay(
        copy_state(world.state),
        [c for _, c in waiting],
        now,
        ends=ends,
        runtimes=runtimes,
        max_steps=max_steps,
        horizon=timedelta(days=3650),
        until=job_id,
        starvation=starvation,
    )
    found = estimates.get(job_id)
    if found is None or found.start_at is None:
        return None, LOW
    return found.start_at, found.confidence


# --- the report -------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def summarise(report: Report) -> dict[str, Any]:
    world = report.world
    span = max((report.end - report.start).total_seconds(), 1e-9)
    waits: dict[str, list[float]] = defaultdict(list)
    never: dict[str, int] = defaultdict(int)
    for outcome in report.jobs:
        if outcome.first_start is None:
            never[outcome.job.team] += 1
        else:
            waits[outcome.job.team].append((outcome.first_start - outcome.job.submit).total_seconds())
    total_gpu = sum(report.gpu_seconds.values()) or 1e-9
    total_weight = sum(world.weights.values()) or 1e-9
    teams = []
    for name, pk in sorted(world.team_ids.items()):
        share = report.gpu_seconds.get(pk, 0.0) / total_gpu
        weight_share = world.weights.get(pk, 0.0) / total_weight
        teams.append(
            {
                "team": name,
                "jobs": len(waits[name]) + never[name],
                "never_started": never[name],
                "wait_p50_s": _percentile(waits[name], 0.5),
                "wait_p95_s": _percentile(waits[name], 0.95),
                "gpu_hours": report.gpu_seconds.get(pk, 0.0) / 3600,
                "gpu_share": share,
                "weight_share": weight_share,
                "share_to_weight": share / weight_share if weight_share else None,
            }
        )
    pools = [
        {
            "pool": pool.name,
            "gpus": world.state.ledgers[pool_id].capacity,
            "utilisation": report.pool_seconds.get(pool_id, 0.0) / (world.state.ledgers[pool_id].capacity * span),
        }
        for pool_id, pool in sorted(world.state.pools.items())
    ]
    predicted = [o for o in report.jobs if o.predicted is not None and o.first_start is not None]
    errors = [abs((o.predicted - o.first_start).total_seconds()) for o in predicted]  # type: ignore[operator]
    waited = [
        abs((o.predicted - o.first_start).total_seconds())  # type: ignore[operator]
        for o in predicted
        if o.first_start != o.job.submit
    ]
    return {
        "jobs": len(report.jobs),
        "span_s": span,
        "passes": report.passes,
        "utilisation": sum(report.pool_seconds.values()) / (world.capacity * span),
        "pools": pools,
        "teams": teams,
        "preemptions": report.preemptions,
        "preempted_gpu_hours_lost": report.wasted_gpu_seconds / 3600,
        "eta": {
            "runtime": report.eta_runtime,
            "predicted_jobs": len(predicted),
            "median_abs_error_s": statistics.median(errors) if errors else None,
            "p90_abs_error_s": _percentile(errors, 0.9) if errors else None,
            "waiting_jobs_predicted": len(waited),
            "waiting_median_abs_error_s": statistics.median(waited) if waited else None,
        },
        "simulation_seconds": report.seconds,
    }


def render(summary: dict[str, Any]) -> str:
    def hours(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        if seconds < 120:
            return f"{seconds:.0f} s"
        if seconds < 7200:
            return f"{seconds / 60:.1f} min"
        return f"{seconds / 3600:.1f} h"

    lines = [
        f"Simulated {summary['jobs']:,} jobs over {hours(summary['span_s'])} in {summary['passes']:,} passes "
        f"({summary['simulation_seconds']:.1f} s).",
        f"Utilisation: {summary['utilisation']:.1%} of {sum(p['gpus'] for p in summary['pools']):,} GPUs",
    ]
    lines += [f"  {p['pool']}: {p['utilisation']:.1%} of {p['gpus']:,} GPUs" for p in summary["pools"]]
    lines.append(
        f"Preemptions: {summary['preemptions']:,} ({summary['preempted_gpu_hours_lost']:,.1f} GPU-hours of runs lost)"
    )
    rows = [("team", "jobs", "never started", "wait p50", "wait p95", "GPU-hours", "share", "weight share", "ratio")]
    for t in summary["teams"]:
        rows.append(
            (
                t["team"],
                f"{t['jobs']:,}",
                f"{t['never_started']:,}",
                hours(t["wait_p50_s"]),
                hours(t["wait_p95_s"]),
                f"{t['gpu_hours']:,.1f}",
                f"{t['gpu_share']:.1%}",
                f"{t['weight_share']:.1%}",
                "-" if t["share_to_weight"] is None else f"{t['share_to_weight']:.2f}",
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for n, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    eta = summary["eta"]
    lines.append(
        f"ETA at submission (runtimes {eta['runtime']}): {eta['predicted_jobs']:,} jobs predicted, median absolute "
        f"error {hours(eta['median_abs_error_s'])}, p90 {hours(eta['p90_abs_error_s'])}; of the "
        f"{eta['waiting_jobs_predicted']:,} that waited: median {hours(eta['waiting_median_abs_error_s'])}"
    )
    return "\n".join(lines)


def run(trace_path: str, inventory_path: str, quotas_path: str, **options: Any) -> dict[str, Any]:
    trace = read_trace(trace_path)
    world = build_world(read_config(inventory_path), read_config(quotas_path))
    return summarise(simulate(trace, world, **options))
