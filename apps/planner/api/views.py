"""``POST /api/v1/planner/estimate/`` and ``GET /api/v1/planner/options/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.planner import services
from apps.planner.api.serializers import EstimateSerializer, PlannerOptionsSerializer, PlanSpecSerializer
from apps.planner.api.throttling import PlannerSpecsThrottle
from apps.planner.estimator import KNOWN_MODELS, SpecError, spec
from apps.planner.estimator.spec import MAX_SPECS
from apps.tenancy.scoping import caller_organisation_ids

EXAMPLE = {
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


class EstimateView(APIView):
    # An estimate changes nothing, so read-scoped tokens (CI dashboards) may ask for one.
    read_scope_may_post = True
    throttle_classes = [PlannerSpecsThrottle]

    @extend_schema(
        operation_id="planner_estimate",
        request=PlanSpecSerializer,
        responses={
            200: EstimateSerializer,
            429: OpenApiResponse(description="Too many specs estimated in the window; Retry-After says when"),
        },
        examples=[OpenApiExample("Llama-style 1.35B, full fine-tune on one H200", value=EXAMPLE, request_only=True)],
        description=(
            "Memory per GPU (with a breakdown), fit, FLOPs, step time, time to train, cost and the cheapest "
            "fitting configurations across the inventory's pools. Send one spec for one answer or a list of "
            f"at most {MAX_SPECS} specs for a list of answers (errors are then keyed by position). Every number "
            "has the range the schema states; outside it is a 400 on that field. `manage.py plan` prints the "
            "same JSON. Each caller may have PADDOCK_PLANNER_SPECS_RATE specs estimated per window (a list "
            "costs its length); beyond it the answer is 429 with Retry-After."
        ),
    )
    def post(self, request: Request) -> Response:
        try:
            answer = services.plan(request.data, caller_organisation_ids(request))
        except SpecError as exc:
            return Response(exc.errors, status=400)
        return Response(answer)


class OptionsView(APIView):
    @extend_schema(operation_id="planner_options", responses={200: PlannerOptionsSerializer})
    def get(self, request: Request) -> Response:
        catalog = services.load_catalog()
        pools = services.pools_for(catalog, caller_organisation_ids(request))
        body: dict[str, Any] = {
            "models": [
                {
                    "name": m.name,
                    "params": m.architecture.params,
                    "source": m.source,
                    "architecture": m.architecture.as_dict(),
                }
                for m in sorted(KNOWN_MODELS.values(), key=lambda m: m.architecture.params)
            ],
            "pools": [
                {
                    "name": pool.name,
                    "cluster": pool.cluster or None,
                    "accelerator": pool.accelerator.name,
                    "gpus_per_node": pool.gpus_per_node,
                    "total_gpus": pool.total_gpus,
                    "memory_bytes": pool.accelerator.memory_bytes,
                    "price_per_gpu_hour": str(pool.accelerator.price.per_gpu_hour) if pool.accelerator.price else None,
                }
                for pool in pools
            ],
            "accelerators": catalog.names(),
            "modes": list(spec.MODES),
            "training_precisions": list(spec.TRAINING_PRECISIONS),
            "inference_precisions": list(spec.WEIGHT_PRECISIONS),
            "optimizers": list(spec.OPTIMIZERS),
        }
        return Response(body)
