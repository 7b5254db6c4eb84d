"""Network traffic: the agent's readers over kernel counter files, the report, the node's latest
rate and series, the API and /metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.inventory.agent import host
from apps.inventory.reports import NetworkReport
from apps.telemetry import services
from apps.telemetry.models import NodeNetwork, NodeNetworkSample
from tests.conftest import client_for, token_for
from tests.factories import NodeFactory, OrganisationAdminFactory, OrganisationFactory, UserFactory
from tests.inventory.test_agent import HOST_1, agent_setup  # noqa: F401  (a fixture)
from tests.telemetry.helpers import REPORTS_URL, T0, network, payload, utilisation_report

PROC_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: {lo} 169311    0    0    0     0          0         0 {lo}  169311    0    0    0     0       0          0
  eth0: {eth0_rx}   88000    0    0    0     0          0         0 {eth0_tx}   77000    0    0    0     0       0          0
"""  # noqa: E501  (the kernel's own layout)


def write_counters(root: Path, *, eth0: tuple[int, int], ib: tuple[int, int] | None, lo: int = 5) -> None:
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc" / "dev").write_text(PROC_NET_DEV.format(lo=lo, eth0_rx=eth0[0], eth0_tx=eth0[1]))
    if ib is not None:
        counters = root / "ib" / "mlx5_0" / "ports" / "1" / "counters"
        counters.mkdir(parents=True, exist_ok=True)
        (counters / "port_rcv_data").write_text(f"{ib[0]}\n")
        (counters / "port_xmit_data").write_text(f"{ib[1]}\n")


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def meter(root: Path, ticks: Ticks) -> host.NetworkMeter:
    return host.NetworkMeter(proc_net_dev=root / "proc" / "dev", sys_class_infiniband=root / "ib", clock=ticks)


def test_the_meter_gives_bytes_per_second_between_two_readings(tmp_path: Path) -> None:
    ticks = Ticks()
    write_counters(tmp_path, eth0=(1_000_000, 500_000), ib=(1_000, 2_000))
    readings = meter(tmp_path, ticks)
    assert readings.rates() == []  # nothing to compare with yet
    write_counters(tmp_path, eth0=(21_000_000, 2_500_000), ib=(251_000, 2_000), lo=999_999)
    ticks.now += 10
    assert readings.rates() == [
        NetworkReport("eth0", "ethernet", rx_bytes_per_second=2_000_000.0, tx_bytes_per_second=200_000.0),
        # InfiniBand's data counters count 4-byte words: 250,000 words in 10 s is 100,000 B/s.
        NetworkReport("mlx5_0/1", "infiniband", rx_bytes_per_second=100_000.0, tx_bytes_per_second=0.0),
    ]
    write_counters(tmp_path, eth0=(10, 10), ib=(251_000, 2_000))  # counters reset: not negative
    ticks.now += 5
    assert [(r.rx_bytes_per_second, r.tx_bytes_per_second) for r in readings.rates()] == [(0.0, 0.0), (0.0, 0.0)]


def test_a_host_without_infiniband_reports_its_nics_only(tmp_path: Path) -> None:
    ticks = Ticks()
    write_counters(tmp_path, eth0=(0, 0), ib=None)
    readings = meter(tmp_path, ticks)
    readings.prime()
    write_counters(tmp_path, eth0=(4_000, 8_000), ib=None)
    ticks.now += 2
    assert [(r.interface, r.kind, r.rx_bytes_per_second) for r in readings.rates()] == [("eth0", "ethernet", 2000.0)]


def test_this_machine_s_counters_read_without_error() -> None:
    """The real /proc/net/dev of the machine running the tests (no loopback in it)."""
    counters = host.nic_counters()
    assert "lo" not in counters
    assert all(rx >= 0 and tx >= 0 for rx, tx in counters.values())


@pytest.mark.django_db
def test_a_report_s_traffic_is_the_node_s_latest_rate_and_series(world: Any) -> None:
    agent = client_for(token_for(world.org_admin, scope="agent"))
    report = replace(
        utilisation_report("h200-2", {0: 50.0}),
        network=network(("eth0", "ethernet", 1e6, 2e6), ("mlx5_0/1", "infiniband", 4e9, 3e9)),
    )
    response = agent.post(REPORTS_URL, payload(report), format="json")
    assert response.status_code == 200, response.content
    rows = {(n.kind, n.interface): (n.rx_bytes_per_second, n.tx_bytes_per_second) for n in NodeNetwork.objects.all()}
    assert rows == {("ethernet", "eth0"): (1e6, 2e6), ("infiniband", "mlx5_0/1"): (4e9, 3e9)}

    # A later report without the IB port: it is gone; one without any traffic keeps the last.
    node = NodeNetwork.objects.first().node  # type: ignore[union-attr]
    services.record_host_readings(
        cluster=world.cluster,
        report=replace(report, network=network(("eth0", "ethernet", 3e6, 0.0))),
        at=T0,
    )
    later = T0 + timedelta(seconds=30)
    services.record_host_readings(cluster=world.cluster, report=replace(report, network=[]), at=later)
    assert list(NodeNetwork.objects.values_list("interface", "rx_bytes_per_second")) == [("eth0", 3e6)]
    services.record_host_readings(
        cluster=world.cluster,
        report=replace(report, network=network(("eth0", "ethernet", 5e6, 0.0), ("eth1", "ethernet", 1e6, 0.0))),
        at=T0 + timedelta(seconds=30),
    )
    minute = NodeNetworkSample.objects.get(node=node, kind="ethernet", resolution=60, bucket_start=T0)
    assert (minute.readings, minute.rx_bytes_per_second_sum) == (2, 3e6 + 6e6)  # per-node totals, summed per bucket


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        [{"interface": "eth0", "kind": "ethernet", "rx_bytes_per_second": -1, "tx_bytes_per_second": 0}],
        [{"interface": "eth0", "kind": "token-ring", "rx_bytes_per_second": 1, "tx_bytes_per_second": 0}],
        [{"interface": "eth0; rm", "kind": "ethernet", "rx_bytes_per_second": 1, "tx_bytes_per_second": 0}],
        [{"interface": "eth0", "kind": "ethernet", "rx_bytes_per_second": "1", "tx_bytes_per_second": 0}],
        [{"interface": "eth0", "kind": "ethernet", "rx_bytes_per_second": 1, "tx_bytes_per_second": 0}] * 2,
    ],
)
def test_bad_network_readings_are_field_errors(world: Any, bad: list[dict[str, Any]]) -> None:
    agent = client_for(token_for(world.org_admin, scope="agent"))
    body = {**payload(utilisation_report("h200-2", {0: 1.0})), "network": bad}
    response = agent.post(REPORTS_URL, body, format="json")
    assert response.status_code == 400
    assert "network" in response.json()
    assert not NodeNetwork.objects.exists()


@pytest.mark.django_db
def test_an_older_agent_without_network_is_still_accepted(world: Any) -> None:
    agent = client_for(token_for(world.org_admin, scope="agent"))
    body = payload(utilisation_report("h200-2", {0: 1.0}))
    del body["network"]
    assert agent.post(REPORTS_URL, body, format="json").status_code == 200


@pytest.mark.django_db
def test_the_network_list_is_scoped_to_the_cluster_s_organisation(world: Any, client: Any) -> None:
    node = NodeFactory(cluster=world.cluster, hostname="h200-2")
    services.record_host_readings(
        cluster=world.cluster,
        report=replace(utilisation_report("h200-2", {}), network=network(("ib0", "infiniband", 7.0, 8.0))),
        at=timezone.now(),  # /metrics shows fresh readings only
    )
    rows = world.client(world.viewer).get(f"/api/v1/node-network/?node={node.pk}").json()["results"]
    assert [(r["hostname"], r["interface"], r["kind"], r["rx_bytes_per_second"]) for r in rows] == [
        ("h200-2", "ib0", "infiniband", 7.0)
    ]
    stranger = OrganisationAdminFactory(organisation=OrganisationFactory(slug="x"), user=UserFactory()).user
    assert world.client(stranger).get("/api/v1/node-network/").json()["count"] == 0

    text = client.get("/metrics").content.decode()
    line = (
        'paddock_node_network_receive_bytes_per_second{cluster="gpu-a",interface="ib0",kind="infiniband",'
        'node="h200-2"} 7.0'
    )
    assert line in text
    NodeNetwork.objects.update(reading_at=timezone.now() - timedelta(minutes=11))  # the host went quiet
    assert "paddock_node_network_receive_bytes_per_second{" not in client.get("/metrics").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_agent_posts_this_host_s_traffic(live_server: Any, agent_setup: dict[str, Any]) -> None:  # noqa: F811
    """``manage.py agent --once`` reads the counters twice, a second apart, and reports them."""
    call_command(
        "agent", "--api", live_server.url, "--token", agent_setup["token"], "--cluster", "h200s",
        "--hostname", "h200-1", "--once", "--from-nvidia-smi-xml", str(HOST_1 / "nvidia-smi-q.xml"),
        stdout=StringIO(),
    )  # fmt: skip
    recorded = set(NodeNetwork.objects.filter(node__hostname="h200-1").values_list("interface", flat=True))
    assert recorded == set(host.nic_counters())  # every NIC of this machine but lo
