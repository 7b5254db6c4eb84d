"""Integers a client sends are bounded where they are parsed: an id beyond 64 bits is a 400 on
its own field, never a number handed to the database driver (SQLite refused those with
OverflowError: see test_sqlite_inputs.py for the same requests against SQLite).

The invariants below keep it true for endpoints added later: every integer in a request body
and every numeric filter states a range that a 64-bit column holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django_filters.rest_framework import DjangoFilterBackend

from apps.core.api.fields import INT64_MAX, INT64_MIN
from tests.core.test_invariants import api_viewsets
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

HUGE = 5959723489471459190856744960
NEGATIVE_HUGE = "-3068603770501909708800"


@pytest.fixture
def org_admin(world: Any) -> Any:
    world.admin.is_staff = True  # an organisation admin whatever the role model says
    world.admin.save()
    return world.client(world.admin)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/accelerators/?node={NEGATIVE_HUGE}",
        f"/api/v1/accelerators/summary/?node={NEGATIVE_HUGE}",
        f"/api/v1/network-fabrics/?node={HUGE}",
        "/api/v1/accelerators/?node=1.5",
        "/api/v1/accelerators/?node=0",
    ],
)
def test_an_id_filter_out_of_range_is_a_400_on_the_parameter(world: Any, url: str) -> None:
    response = world.client(world.member, scope="read").get(url)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["node"]


def test_id_filters_still_filter(world: Any) -> None:
    node = NodeFactory(cluster=world.cluster)
    response = world.client(world.member, scope="read").get(f"/api/v1/network-fabrics/?node={node.pk}")
    assert response.status_code == 200 and response.json()["count"] == 0


def test_node_ids_in_a_fabric_are_bounded(world: Any, org_admin: Any) -> None:
    body = {"name": "ib", "organisation": "acme", "kind": "infiniband", "gbps_per_node": 400, "nodes": [HUGE]}
    response = org_admin.post("/api/v1/network-fabrics/", body, format="json")
    assert response.status_code == 400, response.content
    assert "less than or equal to 9223372036854775807" in str(response.json()["nodes"])
    node = NodeFactory(cluster=world.cluster)
    created = org_admin.post("/api/v1/network-fabrics/", {**body, "nodes": [node.pk]}, format="json")
    assert created.status_code == 201, created.content


@pytest.mark.parametrize("field", ["capacity_bytes", "used_bytes"])
def test_storage_byte_counts_are_bounded(world: Any, org_admin: Any, field: str) -> None:
    # PostgreSQL's bigint refused 2**70 with a DataError (a 500), SQLite with OverflowError.
    body = {"name": "s", "organisation": "acme", "kind": "nfs", "uri": "/mnt/n", "purpose": "models", field: 2**70}
    response = org_admin.post("/api/v1/storage-backends/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert org_admin.post("/api/v1/storage-backends/", {**body, field: INT64_MAX}, format="json").status_code == 201


# --- invariants ---------------------------------------------------------------------------


def _integers(schema: dict[str, Any], components: dict[str, Any], where: str, seen: frozenset[str]) -> list[Any]:
    """(where, schema) for every writable integer in a request body schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return [] if name in seen else _integers(components[name], components, where, seen | {name})
    found: list[Any] = []
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            found += _integers(sub, components, where, seen)
    if schema.get("type") == "integer" and not schema.get("readOnly"):
        found.append((where, schema))
    for name, sub in schema.get("properties", {}).items():
        if not sub.get("readOnly"):
            found += _integers(sub, components, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += _integers(schema["items"], components, f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _integers(schema["additionalProperties"], components, f"{where}{{}}", seen)
    return found


def test_every_integer_in_a_request_body_has_a_64_bit_range() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    unbounded = []
    for url, operations in schema["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                for where, field in _integers(content["schema"], components, f"{method.upper()} {url}", frozenset()):
                    low, high = field.get("minimum"), field.get("maximum")
                    if low is None or high is None or low < INT64_MIN or high > INT64_MAX:
                        unbounded.append(where)
    assert not unbounded, f"integers without a 64-bit range: {sorted(set(unbounded))}"


def test_every_numeric_filter_has_a_64_bit_range() -> None:
    checked = 0
    for view in api_viewsets():
        filterset_class = DjangoFilterBackend().get_filterset_class(view(), view.queryset)
        if filterset_class is None:
            continue
        for name, declared in filterset_class.base_filters.items():
            field = declared.field
            if not isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
                continue
            checked += 1
            assert isinstance(field, forms.IntegerField), f"{filterset_class.__name__}.{name}: use IdFilter"
            assert field.min_value is not None and field.min_value >= INT64_MIN, f"{filterset_class.__name__}.{name}"
            assert field.max_value is not None and field.max_value <= INT64_MAX, f"{filterset_class.__name__}.{name}"
    assert checked >= 2  # the node filters of accelerators and fabrics
