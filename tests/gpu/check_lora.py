"""GPU check for issue 11 (run by hand on a machine with a GPU; never part of `make test`).

Starts Paddock on this machine (SQLite, local checkpoint storage), makes a ~1B-parameter random
Llama, runs the built-in LoRA recipe for a few hundred steps on CUDA in bf16 as a job attempt
that reports metrics and checkpoints to that Paddock, and prints one JSON line: tokens/s, peak
GPU memory against the planner's estimate, and checkpoint write speed.

    .venv/bin/python tests/gpu/check_lora.py --steps 300 --checkpoint-every 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="paddock-gpu-check-"))
    env = {
        **os.environ,
        "PADDOCK_ENV": "development",
        "PADDOCK_DATA_DIR": str(work / "data"),
        "DATABASE_URL": f"sqlite:///{work}/db.sqlite3",
        "PADDOCK_API_URL": f"http://127.0.0.1:{args.port}",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"], cwd=ROOT, env=env
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        return run_check(args, work)
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_check(args: argparse.Namespace, work: Path) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    import django

    django.setup()
    import torch

    from apps.checkpoints.models import Checkpoint, MetricPoint
    from apps.inventory.models import Cluster, StorageBackend
    from apps.jobs import job_tokens
    from apps.jobs.models import Attempt, Job
    from apps.planner import services as planner
    from apps.tenancy.models import Organisation, Team
    from paddock.recipes import lora
    from paddock.recipes.tiny import make_dataset, make_tiny_llama

    assert torch.cuda.is_available(), "this check needs a CUDA GPU"
    org = Organisation.objects.create(name="gpu", slug="gpu")
    team = Team.objects.create(organisation=org, name="gpu", slug="gpu")
    cluster = Cluster.objects.create(organisation=org, name="gpu", address="http://127.0.0.1:1", kind="ray")
    StorageBackend.objects.create(
        organisation=org, name="scratch", kind="local", uri=str(work / "storage"), purpose="checkpoints"
    )
    from django.contrib.auth.models import User

    user = User.objects.create_user("gpu-check")
    job = Job.objects.create(
        team=team,
        cluster=cluster,
        name="gpu-lora",
        entrypoint="(in process)",
        state="running",
        submitted_by=user,
        gpus=1,
    )
    attempt = Attempt.objects.create(job=job, number=1, state="running")
    os.environ["PADDOCK_JOB_TOKEN"] = job_tokens.mint(attempt.pk)

    model_dir = make_tiny_llama(work / "base", hidden=args.hidden, layers=args.layers, heads=args.heads)
    dataset = make_dataset(work / "train.jsonl", lines=20_000)
    config = {
        "base_model": str(model_dir),
        "dataset": str(dataset),
        "steps": args.steps,
        "checkpoint_every": args.checkpoint_every,
        "batch_size": args.batch,
        "seq_len": args.seq,
        "rank": 16,
        "model_name": "gpu-check",
    }
    torch.cuda.reset_peak_memory_stats()
    result = lora.run(config)
    peak = torch.cuda.max_memory_allocated()
    architecture = json.loads((model_dir / "config.json").read_text())
    estimate = planner.plan(
        {
            "model": {
                "architecture": {
                    "hidden": architecture["hidden_size"],
                    "layers": architecture["num_hidden_layers"],
                    "heads": architecture["num_attention_heads"],
                    "kv_heads": architecture.get("num_key_value_heads"),
                    "intermediate": architecture["intermediate_size"],
                    "vocab": architecture["vocab_size"],
                }
            },
            "workload": {"mode": "lora", "batch": args.batch, "seq": args.seq, "lora_rank": 16},
            "hardware": {"accelerator": torch.cuda.get_device_name(0).split()[-1], "gpus": 1},
        },
        [org.pk],
    )
    speeds = list(MetricPoint.objects.filter(attempt=attempt, name="tokens_per_second").values_list("value", flat=True))
    checkpoints = list(Checkpoint.objects.filter(job=job).order_by("step").values("step", "state", "bytes"))
    step_seconds = result["step_seconds"][5:]
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0),
                "final_step": result["final_step"],
                "tokens_per_second_median": statistics.median(speeds[5:] or speeds),
                "step_seconds_median": statistics.median(step_seconds) if step_seconds else None,
                "peak_memory_gib": round(peak / 2**30, 2),
                "planner_memory_per_gpu_gib": round(estimate["memory_per_gpu_bytes"] / 2**30, 2),
                "planner_step_seconds": estimate["step_time_s"],
                "checkpoints": checkpoints,
                "checkpoint_write_mb_per_s": write_speed(work),
            },
            default=str,
        )
    )
    return 0


def write_speed(work: Path) -> float | None:
    """MB/s of the recipe's checkpoint saves, from its log lines' timing is not kept: measure one
    save of the final checkpoint's files again through the client (same path, same storage)."""
    from paddock import job

    final = sorted((work / "storage").rglob("step-*"))
    if not final:
        return None
    source = final[-1]
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    started = time.perf_counter()
    job.save_checkpoint(str(source), 10**9, metrics={})
    return round(size / (time.perf_counter() - started) / 1e6, 1)


if __name__ == "__main__":
    raise SystemExit(main())
