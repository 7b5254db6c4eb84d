"""deploy/grafana/paddock.json queries only what Paddock's /metrics exports, by the labels it has."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.core.metrics import REGISTRY
from apps.jobs.models import Attempt
from apps.telemetry import services
from tests.factories import AcceleratorFactory, NodeFactory
from tests.telemetry.helpers import holding_job, network, utilisation_report

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "paddock.json"
METRIC = re.compile(r"\bpaddock_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(paddock_[a-z0-9_]+)\{([^}]*)\}")
BY = re.compile(r"\bby \(([^)]*)\)")
LEGEND = re.compile(r"\{\{(\w+)\}\}")
# Labels PromQL itself adds or uses, not Paddock's.
PROMQL_LABELS = {"le"}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str, str]]:
    """(panel title, expression, legend format) of every panel's targets, and the variables."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"${variable['name']}", variable["query"]["query"], ""))
    return found


@pytest.fixture
def exported(world: Any) -> dict[str, set[str]]:
    """Every metric /metrics exports, with its labels: a world where every family has samples."""
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    AcceleratorFactory(node=node, index=0, utilisation_percent=3.0)
    holding_job(world, node, [0])
    report = replace(utilisation_report("h200-2", {0: 3.0}), network=network(("ib0", "infiniband", 1.0, 2.0)))
    now = timezone.now()
    services.record_host_readings(cluster=world.cluster, report=report, at=now - timedelta(hours=1))
    services.record_host_readings(cluster=world.cluster, report=report, at=now)
    Attempt.objects.update(dispatch_seconds=1.0)  # the dispatch histogram's buckets
    labels: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        labels.setdefault(family.name, set())
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            labels[family.name].update(sample.labels)
    return labels


def test_the_dashboard_is_grafana_json_with_a_prometheus_data_source_variable() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] == "Paddock"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_the_dashboard_covers_fleet_queue_and_team_use() -> None:
    expressions = " ".join(expr for _, expr, _ in queries())
    for metric in ("paddock_fleet_gpus", "paddock_fleet_gpu_utilisation_percent", "paddock_team_gpus_held"):
        assert metric in expressions
    assert 'paddock_jobs{state="pending"}' in expressions  # queue depth
    assert "paddock_gpu_utilisation_percent" in expressions and "paddock_node_network_receive" in expressions


@pytest.mark.django_db
def test_every_metric_the_dashboard_queries_is_one_paddock_exports(exported: dict[str, set[str]]) -> None:
    for title, expr, _legend in queries():
        names = set(METRIC.findall(expr))
        assert names, f"{title}: no Paddock metric in {expr!r}"
        unknown = names - set(exported)
        assert not unknown, f"{title}: {sorted(unknown)} are not exported (exported: {sorted(exported)})"


@pytest.mark.django_db
def test_every_label_the_dashboard_uses_is_one_its_metrics_carry(exported: dict[str, set[str]]) -> None:
    for title, expr, legend in queries():
        carried = set().union(*(exported[name] for name in METRIC.findall(expr))) | PROMQL_LABELS
        for name, matchers in SELECTOR.findall(expr):
            used = {m.split("=")[0].rstrip("!~").strip() for m in matchers.split(",") if m.strip()}
            assert used <= exported[name], f"{title}: {name} has no label {sorted(used - exported[name])}"
        grouped = [set(filter(None, (label.strip() for label in by.split(",")))) for by in BY.findall(expr)]
        for labels in grouped:
            assert labels <= carried, f"{title}: grouped by {sorted(labels - carried)}, which {expr!r} lacks"
        in_legend = set(LEGEND.findall(legend))
        available = grouped[-1] if grouped and expr.lstrip().startswith(("sum", "avg", "max", "min")) else carried
        assert in_legend <= available, f"{title}: the legend names {sorted(in_legend - available)}"
        if expr.startswith("label_values("):
            label = expr.rstrip(")").rsplit(",", 1)[1].strip()
            assert label in carried, f"{title}: no label {label}"
