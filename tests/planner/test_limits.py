"""The planner is bounded: a list of specs is capped, every number has a range, and no number
inside those ranges makes the arithmetic fail — a bad value is a 400 naming its field."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.planner.estimator import SpecError, catalog_pools, estimate_all
from apps.planner.estimator.spec import ARCHITECTURE_FIELDS, FIELDS_BY_MODE, LIMITS, MAX_SPECS, MODES
from tests.planner.conftest import CATALOG

URL = "/api/v1/planner/estimate/"
SMALL = {
    "model": {"name": "llama-2-7b"},
    "workload": {"mode": "lora", "batch": 1, "seq": 512},
    "hardware": {"accelerator": "H100"},
    "recommendations": 0,
}


@pytest.mark.django_db
def test_a_list_over_the_cap_is_refused_saying_the_cap(world: Any) -> None:
    client = world.client(world.viewer, scope="read")  # the cheapest credential there is
    over = client.post(URL, [SMALL] * (MAX_SPECS + 1), format="json")
    assert over.status_code == 400
    assert over.json() == {"non_field_errors": [f"Send at most {MAX_SPECS} specs at once (this list has 101)."]}
    at_cap = client.post(URL, [SMALL] * MAX_SPECS, format="json")
    assert at_cap.status_code == 200 and len(at_cap.json()) == MAX_SPECS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("workload", "field"),
    [
        ({"mfu": 1e-300, "tokens": 1e16}, "mfu"),  # was a 500: InvalidOperation
        ({"mfu": 5e-324}, "mfu"),
        ({"tokens_per_second_per_gpu": 1e-300, "tokens": 1e16}, "tokens_per_second_per_gpu"),
        ({"batch": 10**400}, "batch"),  # was a 500: OverflowError (an int too large for a float)
        ({"tokens": -(10**400)}, "tokens"),
        ({"grad_accum": 1e308}, "grad_accum"),
    ],
)
def test_numbers_out_of_range_are_a_400_naming_the_field(world: Any, workload: dict, field: str) -> None:
    spec = {**SMALL, "workload": {"mode": "pretrain", **workload}}
    response = world.client(world.viewer, scope="read").post(URL, spec, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["workload"]
    assert list(response.json()["workload"]) == [field]


@pytest.mark.django_db
def test_a_job_with_a_plan_gets_the_same_400(world: Any) -> None:
    body = {
        "name": "train",
        "team": "alpha",
        "entrypoint": "python train.py",
        "kind": "training",
        "model": {"name": "llama-2-7b"},
        "workload": {"mode": "pretrain", "mfu": 1e-300, "tokens": 1e16},
        "resources": {"gpus": 1, "accelerator_model": "H100"},
    }
    response = world.client(world.member).post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400, response.content
    assert "mfu" in response.json()["workload"]


def test_a_cost_beyond_10_to_the_22_is_computed_not_refused() -> None:
    # Python's default 28-digit context could not quantize this to the millionth (a 500 before).
    spec = {
        "model": {"architecture": {"hidden": 65536, "layers": 10000, "heads": 512, "vocab": 10_000_000}},
        "workload": {"mode": "pretrain", "mfu": 0.01, "tokens": 1e16},
        "hardware": {"accelerator": "T4", "price_per_gpu_hour": 1e6},
        "recommendations": 0,
    }
    answer = estimate_all(spec, CATALOG)[0]
    seconds = answer["time_to_train_s"]
    cost = Decimal(answer["cost"]["to_train"])
    assert cost > 10**22
    assert math.isclose(float(cost), seconds * 1e6 / 3600, rel_tol=1e-9)


def test_an_accelerator_without_a_compute_rate_is_named() -> None:
    from dataclasses import replace

    from apps.planner.estimator import Catalog

    h100 = CATALOG.find("H100")
    assert h100 is not None
    blank = replace(h100, name="Mystery", aliases=(), bf16_tflops=None, fp16_tflops=None, fp32_tflops=None)
    spec = {**SMALL, "hardware": {"accelerator": "Mystery"}}
    with pytest.raises(SpecError) as refused:
        estimate_all(spec, Catalog([blank]))
    assert "no dense TFLOPS" in refused.value.errors["hardware"]["accelerator"][0]


# --- property: any numbers, only SpecError ---------------------------------------------------

INTEGERS = {name for name, (low, high) in LIMITS.items() if isinstance(low, int) and isinstance(high, int)}
EXTREMES = [0, -1, 1e-300, 5e-324, 0.5, 1e16, 1e300, 1.7976931348623157e308, 2**63, 10**400, -(10**400)]


def number_for(name: str) -> st.SearchStrategy[Any]:
    """Mostly values inside the field's range (its ends, and anything between on a log scale),
    sometimes anything at all."""
    low, high = LIMITS[name]
    inside: list[st.SearchStrategy[Any]] = [st.just(low), st.just(high)]
    if name in INTEGERS:
        inside.append(st.integers(int(low), int(high)))
        top = math.log10(max(high, 1))
        inside.append(st.floats(0, top).map(lambda e: min(int(high), max(int(low), round(10**e)))))
    else:
        bottom = math.log10(low) if low > 0 else -3
        inside.append(st.floats(bottom, math.log10(high)).map(lambda e: min(high, max(low, 10**e))))
    anything = st.one_of(st.sampled_from(EXTREMES), st.floats(allow_nan=False, allow_infinity=False), st.integers())
    return st.one_of(*inside, *inside, anything)


WORKLOAD_NUMBERS = sorted(set(LIMITS) - ARCHITECTURE_FIELDS - {"params", "gpus", "gpus_per_node", "price_per_gpu_hour"})


@st.composite
def numeric_specs(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(MODES))
    shape = draw(st.sampled_from(["name", "params", "architecture"]))
    if shape == "name":
        model: dict[str, Any] = {"name": draw(st.sampled_from(["gpt2", "llama-2-7b", "llama-2-70b"]))}
    elif shape == "params":
        model = {"params": draw(number_for("params"))}
    else:
        heads = draw(st.sampled_from([1, 8, 64, 512]))
        model = {
            "architecture": {
                "heads": heads,
                "hidden": heads * draw(st.integers(1, 1_000_000 // heads)),
                "layers": draw(number_for("layers")),
                "vocab": draw(number_for("vocab")),
                **{f: draw(number_for(f)) for f in ("intermediate", "experts") if draw(st.booleans())},
            }
        }
    allowed = sorted(FIELDS_BY_MODE[mode] & set(WORKLOAD_NUMBERS) - {"tp", "pp", "dp"})
    workload = {"mode": mode, **{f: draw(number_for(f)) for f in allowed if draw(st.booleans())}}
    hardware: dict[str, Any] = {
        "accelerator": draw(st.sampled_from(CATALOG.names())),
        "gpus": draw(st.one_of(st.sampled_from([1, 8, 1_000_000]), number_for("gpus"))),
    }
    if draw(st.booleans()):
        hardware["price_per_gpu_hour"] = draw(number_for("price_per_gpu_hour"))
    return {"model": model, "workload": workload, "hardware": hardware, "recommendations": draw(st.integers(0, 1))}


POOLS = catalog_pools(CATALOG)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_specs())
def test_random_numeric_specs_raise_nothing_but_spec_error(spec: dict[str, Any]) -> None:
    try:
        answers = estimate_all(spec, CATALOG, POOLS)
    except SpecError as exc:
        json.dumps(exc.errors)  # a 400 body
        return
    # What the API renders: strict JSON (no NaN or Infinity), money as decimal strings.
    json.dumps(answers, allow_nan=False)
    for answer in answers:
        for key, value in answer["cost"].items():
            if key in ("per_gpu_hour", "per_hour", "per_step", "to_train", "total", "per_million_tokens") and value:
                assert Decimal(value).is_finite()


@pytest.mark.django_db
def test_each_caller_has_a_budget_of_specs_and_a_list_costs_its_length(world: Any, settings: Any) -> None:
    """A read-only token could keep a core busy with lists of 100 specs, one after another."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "planner_specs": "5/10m"},
    }
    viewer = world.client(world.viewer, scope="read")
    assert viewer.post(URL, [SMALL] * 3, format="json").status_code == 200
    assert viewer.post(URL, SMALL, format="json").status_code == 200
    refused = viewer.post(URL, [SMALL] * 2, format="json")  # 4 spent, 2 more is over 5
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 600
    assert viewer.post(URL, SMALL, format="json").status_code == 200  # exactly the budget
    assert viewer.post(URL, SMALL, format="json").status_code == 429
    # Another caller has a budget of its own.
    other = world.client(world.member, scope="read")
    assert other.post(URL, SMALL, format="json").status_code == 200
