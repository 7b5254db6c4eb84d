"""The built-in LoRA recipe on the CPU with a tiny Llama made here: trains, checkpoints, resumes
where it left off with the same result, and reports to (a fake) Paddock."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from paddock import job  # noqa: E402
from paddock.job import Reporter  # noqa: E402
from paddock.recipes import lora  # noqa: E402
from paddock.recipes.tiny import make_dataset, make_tiny_llama  # noqa: E402
from tests.paddock.fake_paddock import TOKEN, FakePaddock  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "base_model": str(make_tiny_llama(root / "model")),
        "dataset": make_dataset(root / "data.jsonl", lines=48).as_uri(),
        "steps": 12,
        "checkpoint_every": 4,
        "seq_len": 32,
        "batch_size": 4,
        "learning_rate": 5e-3,
        "model_name": "tiny-lora",
    }


@pytest.fixture(scope="module")
def uninterrupted(tiny: dict[str, Any]) -> dict[str, Any]:
    return lora.run(tiny, reporting=False)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakePaddock]:
    server = FakePaddock(tmp_path / "store").start()
    previous = job.configure(Reporter(server.url, TOKEN, flush_interval=0.05, call_deadline=5))
    yield server
    job.configure(Reporter(None, None))
    server.stop()
    del previous


def test_twelve_steps_with_reporting_off(uninterrupted: dict[str, Any]) -> None:
    assert uninterrupted["final_step"] == 12
    assert len(uninterrupted["step_seconds"]) == 12
    assert math.isfinite(uninterrupted["loss"])
    assert uninterrupted["checkpoint_uri"] is None  # nothing reported, nothing kept
    assert uninterrupted["model_version"] is None


def test_a_preempted_run_resumes_from_its_checkpoint_with_the_same_result(
    tiny: dict[str, Any], uninterrupted: dict[str, Any], fake: FakePaddock, capsys: pytest.CaptureFixture[str]
) -> None:
    first = lora.run({**tiny, "stop_after": 8})
    assert first["final_step"] == 8
    assert [(c["step"], c["final"]) for c in fake.checkpoints] == [(4, False), (8, False)]
    assert [p["step"] for p in fake.points] == list(range(1, 9))
    assert set(fake.points[0]["values"]) == {"loss", "learning_rate", "tokens_per_second"}
    assert fake.versions == []  # not finished: nothing registered

    job._reporter().resume_uri = first["checkpoint_uri"]  # what PADDOCK_RESUME_FROM says on the next attempt
    second = lora.run(tiny)
    out = capsys.readouterr().out
    assert "resumed from step 8" in out
    assert "step 12/12 loss" in out
    assert second["resumed_from_step"] == 8
    assert second["final_step"] == 12
    assert len(second["step_seconds"]) == 4
    assert second["loss"] == pytest.approx(uninterrupted["loss"], abs=1e-5)
    assert [(c["step"], c["final"]) for c in fake.checkpoints][-1] == (12, True)
    assert fake.versions[0]["model"] == "tiny-lora"
    assert fake.versions[0]["checkpoint"] == fake.checkpoints[-1]["id"]
    stored = Path(second["checkpoint_uri"][len("file://") :])
    assert {"adapter_model.safetensors", "adapter_config.json", "trainer_state.pt"} <= {
        p.name for p in stored.iterdir()
    }


def test_the_command_line_prints_progress_and_refuses_bad_config(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {**tiny, "steps": 2, "checkpoint_every": 1, "output_dir": str(tmp_path / "out")}
    assert lora.main(["--config", json.dumps(config), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "step 2/2 loss" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["step-00000001", "step-00000002"]
    assert lora.main(["--config", json.dumps({**tiny, "steps": 0}), "--no-report"]) == 2
    assert "steps must be a positive integer" in capsys.readouterr().err
    assert lora.main(["--config", json.dumps({"dataset": "x"})]) == 2
    assert "base_model" in capsys.readouterr().err


def test_the_data_order_depends_on_the_seed_and_step_alone() -> None:
    first = [lora.batch_indices(step, 4, 10, seed=0) for step in range(1, 6)]
    assert first == [lora.batch_indices(step, 4, 10, seed=0) for step in range(1, 6)]
    assert first != [lora.batch_indices(step, 4, 10, seed=1) for step in range(1, 6)]
    epoch = [i for step in range(1, 6) for i in lora.batch_indices(step, 4, 10, seed=0)]
    assert sorted(epoch[:10]) == list(range(10))  # every block once an epoch
