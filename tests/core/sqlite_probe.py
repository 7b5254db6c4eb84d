"""Out-of-range numbers against the embedded default's SQLite, in a process of its own.

Run by ``test_sqlite_inputs.py`` with ``PADDOCK_ENV=development`` (so ``DEBUG`` is on) and a
fresh ``PADDOCK_DATA_DIR``: migrates the SQLite file there, creates a tenant, then sends every
GET of the API (path ids and every integer query parameter beyond 64 bits) and the known
body cases through Django's test client, and prints one JSON line per answer.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from drf_spectacular.generators import SchemaGenerator  # noqa: E402

from apps.inventory.models import Cluster, NetworkFabric, Node, StorageBackend  # noqa: E402
from apps.tenancy import services  # noqa: E402
from apps.tenancy.models import Membership, Organisation, Team  # noqa: E402

HUGE = 5959723489471459190856744960
NEGATIVE_HUGE = "-3068603770501909708800"


def main() -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.DEBUG, "the debug page is what must never reach a client"
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    user = User.objects.create_user("probe", is_staff=True)
    org = Organisation.objects.create(slug="acme", name="Acme")
    cluster = Cluster.objects.create(organisation=org, name="gpu-a", kind="ray", address="http://127.0.0.1:9")
    team = Team.objects.create(organisation=org, slug="alpha", name="Alpha", default_cluster=cluster)
    Membership.objects.create(team=team, user=user, role="admin")
    node = Node.objects.create(cluster=cluster, hostname="n1")
    fabric = NetworkFabric.objects.create(organisation=org, name="ib", kind="infiniband", gbps_per_node=400)
    storage = StorageBackend.objects.create(organisation=org, name="s", kind="nfs", uri="/mnt/n", purpose="models")
    token = services.create_token(actor=user, user=user, name="probe", scope="write", team=None).plaintext
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)

    def send(method: str, url: str, body: Any = None, case: str = "") -> None:
        call = getattr(client, method.lower())
        if body is None:
            response = call(url, HTTP_ACCEPT="application/json")
        else:
            response = call(url, json.dumps(body), content_type="application/json")
        text = response.content.decode(errors="replace")
        print(
            json.dumps(
                {
                    "case": case or f"{method} {url}",
                    "status": response.status_code,
                    "content_type": response.get("Content-Type", ""),
                    "body": text[:300],
                }
            )
        )

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for template, operations in sorted(schema["paths"].items()):
        get = operations.get("get")
        if get is None:
            continue
        params = get.get("parameters", [])
        path_types = {p["name"]: p["schema"].get("type") for p in params if p["in"] == "path"}
        url = re.sub(r"\{(\w+)\}", lambda m: str(HUGE) if path_types.get(m.group(1)) == "integer" else "x", template)
        send("GET", url)
        for param in params:
            if param["in"] == "query" and param["schema"].get("type") in ("integer", "number"):
                send("GET", f"{url}?{param['name']}={NEGATIVE_HUGE}", case=f"GET {template}?{param['name']}")
    for path in (f"/api/v1/network-fabrics/{fabric.pk}/", f"/api/v1/storage-backends/{storage.pk}/"):
        send("GET", f"{path}?page={HUGE}")
    body = {"name": "ib2", "organisation": "acme", "kind": "infiniband", "gbps_per_node": 400}
    send("POST", "/api/v1/network-fabrics/", {**body, "nodes": [HUGE]}, case="POST fabric nodes")
    send("PATCH", f"/api/v1/network-fabrics/{fabric.pk}/", {"nodes": [node.pk, HUGE]}, case="PATCH fabric nodes")
    storage_body = {"name": "s2", "organisation": "acme", "kind": "nfs", "uri": "/mnt/m", "purpose": "models"}
    send("POST", "/api/v1/storage-backends/", {**storage_body, "capacity_bytes": 2**70}, case="POST storage capacity")
    send("PATCH", f"/api/v1/storage-backends/{storage.pk}/", {"used_bytes": 2**70}, case="PATCH storage used")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
