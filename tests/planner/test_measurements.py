"""The planner against peak memory measured by running the real thing.

The H200 rows are the two measurements the planner issue quotes (PyTorch 2.11, transformers
5.17, SDPA, untied embeddings, fused AdamW, loss over the full vocabulary; peak allocated, in
GB). The target is ±15 % of the measured peak.
"""

from __future__ import annotations

import pytest

from tests.planner.conftest import plan

LLAMA_1_35B = {
    "hidden": 2048,
    "layers": 24,
    "heads": 16,
    "kv_heads": 16,
    "intermediate": 5504,
    "vocab": 32000,
    "tied_embeddings": False,
    "mlp": "swiglu",
}
TOLERANCE = 0.15


@pytest.mark.parametrize(("checkpointing", "measured_gb"), [("none", 33.3), ("full", 22.1)])
def test_llama_style_1_35b_full_finetune_on_h200(checkpointing: str, measured_gb: float) -> None:
    result = plan(
        {
            "model": {"architecture": LLAMA_1_35B},
            "workload": {
                "mode": "full_finetune",
                "batch": 4,
                "seq": 1024,
                "precision": "amp_bf16",
                "optimizer": "adamw",
                "activation_checkpointing": checkpointing,
                "attention": "flash",
            },
            "hardware": {"accelerator": "H200", "gpus": 1},
        }
    )
    assert result["memory_per_gpu_bytes"] == pytest.approx(measured_gb * 1e9, rel=TOLERANCE)
    assert result["fits"] is True
