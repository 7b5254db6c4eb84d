"""Benchmark (``make bench``): the trace simulator replays a 30-day, 100,000-job trace.

A generated month: 20 teams in 4 cohorts on 250 nodes × 8 GPUs of two models, jobs of 1 to 32
GPUs arriving in a daily rhythm, run times log-normal with a median of an hour, about 80% of the fleet's
GPU-time asked for. Printed: the simulation's wall time next to the bar (5 minutes), what it
reports, and the ETA's error on a sample of the waiting jobs. Only outcomes are asserted.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from apps.admission.simulate import build_world, read_trace, render, simulate, summarise
from tests.report import table

JOBS = 100_000
DAYS = 30
TEAMS = 20
BAR_SECONDS = 300.0
ETA_EVERY = 50  # predict one waiting job in 50 at its submission
INVENTORY = {
    "pools": [
        {"name": "h100", "model": "H100 SXM", "nodes": 150, "gpus_per_node": 8, "fabrics": 3},
        {"name": "a100", "model": "A100 80GB SXM", "nodes": 100, "gpus_per_node": 8, "fabrics": 2},
    ]
}


def quotas() -> dict[str, object]:
    cohorts = [{"name": f"dept-{c}", "reclaim_from_borrowers": True, "preempt_lower_priority": False} for c in range(4)]
    teams = [
        {
            "name": f"team-{t:02d}",
            "cohort": f"dept-{t % 4}",
            "quotas": {
                "h100": {"guaranteed": 60, "max": 240, "weight": 1 + t % 3},
                "a100": {"guaranteed": 40, "max": 160, "weight": 1 + t % 3},
            },
        }
        for t in range(TEAMS)
    ]
    return {"cohorts": cohorts, "teams": teams}


def generate(path: Path, seed: int = 11) -> None:
    rng = random.Random(seed)
    span = DAYS * 86400
    sizes = [1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 16, 32]
    rows = []
    for _ in range(JOBS):
        while True:  # busier by day than by night
            at = rng.uniform(0, span)
            if rng.random() < 0.6 + 0.4 * math.sin(2 * math.pi * at / 86400) ** 2:
                break
        team = rng.randrange(TEAMS)
        gpus = rng.choice(sizes)
        model = "H100 SXM" if rng.random() < 0.6 else "A100 80GB SXM"
        duration = max(60, min(3 * 86400, rng.lognormvariate(math.log(3600), 1.0)))
        priority = rng.choice([0, 0, 0, 10, 100])
        rows.append((at, f"team-{team:02d}", gpus, model, duration, priority))
    rows.sort()
    lines = ["submit_time,team,gpus,model,duration,priority"]
    lines += [
        f"{at:.0f},{team},{gpus},{model},{duration:.0f},{priority}"
        for at, team, gpus, model, duration, priority in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def test_simulator_replays_a_month_of_100k_jobs(tmp_path: Path) -> None:
    path = tmp_path / "month.csv"
    generate(path)
    started = time.perf_counter()
    jobs = read_trace(path)
    world = build_world(INVENTORY, quotas())
    report = simulate(jobs, world, eta_every=ETA_EVERY)
    seconds = time.perf_counter() - started
    summary = summarise(report)
    print()
    print(render(summary))
    table(
        f"Simulator: {JOBS:,} jobs over {DAYS} days, {TEAMS} teams, 2,000 GPUs",
        [
            ("", "seconds", "ratio to the bar"),
            (
                "read, build and replay (ETA for 1 waiting job in {ETA_EVERY})".replace("{ETA_EVERY}", str(ETA_EVERY)),
                f"{seconds:.1f}",
                f"{seconds / BAR_SECONDS:.2f}",
            ),
            ("bar", f"{BAR_SECONDS:.0f}", "1.00"),
        ],
    )
    print(f"  passes: {report.passes:,}; ETA predictions: {summary['eta']['predicted_jobs']:,}")
    assert summary["jobs"] == JOBS
    assert sum(t["jobs"] for t in summary["teams"]) == JOBS
    assert 0 < summary["utilisation"] <= 1
