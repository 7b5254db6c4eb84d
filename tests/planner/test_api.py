"""The planner's API and ``manage.py plan``: same answers, clear refusals, the inventory's pools."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.inventory.models import AcceleratorModel
from tests.conftest import client_for
from tests.factories import AcceleratorFactory, ClusterFactory, NodeFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/planner/estimate/"
SPEC: dict[str, Any] = {
    "model": {
        "architecture": {
            "hidden": 2048,
            "layers": 24,
            "heads": 16,
            "kv_heads": 16,
            "intermediate": 5504,
            "vocab": 32000,
            "tied_embeddings": False,
            "mlp": "swiglu",
        }
    },
    "workload": {
        "mode": "full_finetune",
        "batch": 4,
        "seq": 1024,
        "precision": "amp_bf16",
        "optimizer": "adamw",
        "activation_checkpointing": "none",
        "attention": "flash",
    },
    "hardware": {"accelerator": "H200", "gpus": 1},
}
CONTRACT = {
    "memory_per_gpu_bytes",
    "breakdown",
    "fits",
    "headroom_bytes",
    "flops",
    "step_time_s",
    "time_to_train_s",
    "cost",
    "assumptions",
    "recommendations",
}


def post(client: Any, body: Any) -> Any:
    return client.post(URL, body, format="json")


def run_plan(tmp_path: Path, body: Any) -> Any:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(body))
    out = io.StringIO()
    call_command("plan", str(path), stdout=out)
    return json.loads(out.getvalue())


def gpus(cluster: Any, model_name: str, nodes: int, per_node: int) -> None:
    model = AcceleratorModel.objects.get(name=model_name)
    for _ in range(nodes):
        node = NodeFactory(cluster=cluster)
        for index in range(per_node):
            AcceleratorFactory(node=node, index=index, model=model, memory_total_mib=81559)


def test_estimate_answers_with_the_contract_names(world: Any) -> None:
    response = post(world.client(world.member), SPEC)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert CONTRACT <= set(body)
    assert isinstance(body["memory_per_gpu_bytes"], int)
    assert sum(body["breakdown"].values()) == body["memory_per_gpu_bytes"]
    assert body["fits"] is True
    assert body["hardware"]["accelerator"] == "H200 SXM"
    assert body["cost"]["currency"] == "USD"
    assert body["cost"]["per_gpu_hour"] == "5.408000"  # the seeded AWS capacity-block price
    assert body["time_to_train_s"] is None
    assert body["recommendations"]


def test_a_list_of_specs_gets_a_list_of_answers(world: Any) -> None:
    second = {**SPEC, "workload": {"mode": "generate", "batch": 8, "prompt_tokens": 512, "new_tokens": 128}}
    response = post(world.client(world.member), [SPEC, second])
    assert response.status_code == 200
    first, answer = response.json()
    assert first["workload"]["mode"] == "full_finetune"
    assert answer["workload"]["mode"] == "generate"
    assert answer["serving"]["kv_cache_tokens"] > 0


def test_api_and_command_give_identical_answers(world: Any, tmp_path: Path) -> None:
    gpus(world.cluster, "H100 SXM", nodes=2, per_node=8)
    for body in (SPEC, [SPEC, {**SPEC, "hardware": {"accelerator": "H100", "gpus": 8}}]):
        api = post(world.client(world.member), body).json()
        assert api == run_plan(tmp_path, body)


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (
            {"model": {"architecture": {**SPEC["model"]["architecture"], "hidden": -5}}},
            ["model", "architecture", "hidden"],
            "between",
        ),
        (
            {"model": {"architecture": {**SPEC["model"]["architecture"], "heads": 3}}},
            ["model", "architecture", "heads"],
            "must divide hidden",
        ),
        (
            {"workload": {**SPEC["workload"], "tp": 3}, "hardware": {"accelerator": "H100", "gpus": 3}},
            ["workload", "tp"],
            "must divide the attention heads",
        ),
        ({"workload": {**SPEC["workload"], "batch": 0}}, ["workload", "batch"], "between"),
        ({"workload": {**SPEC["workload"], "seq_len": 4096}}, ["workload", "seq_len"], "Unknown field"),
        ({"workload": {**SPEC["workload"], "mode": "dance"}}, ["workload", "mode"], "one of"),
        ({"model": {"name": "gpt-9"}}, ["model", "name"], "Unknown model"),
        ({"model": {"name": "llama-2-7b", "params": 7e9}}, ["model", "non_field_errors"], "exactly one"),
        ({"hardware": {"accelerator": "Z80"}}, ["hardware", "accelerator"], "Unknown accelerator"),
        (
            {"hardware": {"accelerator": "H100", "gpus": 4}, "workload": {**SPEC["workload"], "dp": 3}},
            ["workload", "dp"],
            "hardware.gpus is 4",
        ),
        ({"workload": {**SPEC["workload"], "mfu": 0.95}}, ["workload", "mfu"], "can sustain"),
        ({"workload": {**SPEC["workload"], "offload": "optimizer"}}, ["workload", "offload"], "ZeRO stage 1"),
    ],
)
def test_bad_specs_are_refused_with_field_errors(
    world: Any, tmp_path: Path, change: dict, where: list[str], words: str, capsys: Any
) -> None:
    response = post(world.client(world.member), {**SPEC, **change})
    assert response.status_code == 400
    errors: Any = response.json()
    for key in where:
        errors = errors[key]
    assert any(words in message for message in errors), errors
    with pytest.raises(SystemExit) as exit_info:
        run_plan(tmp_path, {**SPEC, **change})
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_a_bad_spec_in_a_list_is_named_by_position(world: Any) -> None:
    response = post(world.client(world.member), [SPEC, {**SPEC, "model": {"name": "nope"}}])
    assert response.status_code == 400
    assert "Unknown model" in response.json()["1"]["model"]["name"][0]


@pytest.mark.parametrize("body", [[], "llama", 7, {"model": {"name": "llama-2-7b"}}])
def test_malformed_bodies_are_400_not_500(world: Any, body: Any) -> None:
    response = post(world.client(world.member), body)
    assert response.status_code == 400


def test_command_reports_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("plan", str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("plan", str(broken))


def test_read_scoped_tokens_may_estimate_but_strangers_may_not(world: Any) -> None:
    assert post(world.client(world.viewer, scope="read"), SPEC).status_code == 200
    assert post(client_for(None), SPEC).status_code in (401, 403)


def test_recommendations_come_from_the_inventory_of_the_callers_organisation(world: Any) -> None:
    gpus(world.cluster, "H100 SXM", nodes=2, per_node=8)
    elsewhere = ClusterFactory(organisation=OrganisationFactory(slug="rival"), name="rival-b200")
    gpus(elsewhere, "B200", nodes=1, per_node=8)
    body = {**SPEC, "model": {"name": "llama-2-7b"}, "hardware": {"accelerator": "H100", "gpus": 1}}
    rows = post(world.client(world.member), body).json()["recommendations"]
    assert rows
    assert {row["pool"] for row in rows} == {"gpu-a/H100 SXM"}
    assert all(row["gpus"] <= 16 and row["available_gpus"] == 16 for row in rows)
    options = world.client(world.member).get("/api/v1/planner/options/").json()
    assert [pool["name"] for pool in options["pools"]] == ["gpu-a/H100 SXM"]
    assert options["pools"][0]["total_gpus"] == 16
    assert options["pools"][0]["memory_bytes"] == 81559 * 2**20  # what the GPUs report, not the brochure
    assert "llama-2-7b" in [model["name"] for model in options["models"]]


def test_without_an_inventory_the_catalog_is_the_pool(world: Any) -> None:
    options = world.client(world.member).get("/api/v1/planner/options/").json()
    assert {pool["cluster"] for pool in options["pools"]} == {None}
    assert "catalog:H100 SXM" in [pool["name"] for pool in options["pools"]]


def test_estimate_queries_do_not_grow_with_the_inventory(world: Any, django_assert_max_num_queries: Any) -> None:
    client = world.client(world.member)
    gpus(world.cluster, "H100 SXM", nodes=1, per_node=8)
    with django_assert_max_num_queries(12) as small:
        post(client, SPEC)
    gpus(world.cluster, "H100 SXM", nodes=20, per_node=8)
    gpus(world.cluster, "A100 80GB SXM", nodes=10, per_node=8)
    with django_assert_max_num_queries(len(small.captured_queries)):
        post(client, SPEC)
