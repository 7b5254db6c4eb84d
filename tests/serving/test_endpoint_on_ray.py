"""An endpoint on the real Ray head: deployed through Serve's REST API, answering the OpenAI API
through Paddock's ingress, which refuses anything without a valid token."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from apps.serving.models import Endpoint, HealthSample
from apps.serving.sampling import sample_all
from tests.serving.fixtures import complete, create_endpoint, endpoint_in, wait_until

pytestmark = [pytest.mark.ray, pytest.mark.worker]


def test_an_endpoint_serves_the_model_only_to_valid_tokens(serving: Any) -> None:
    created = create_endpoint(serving, "chat")
    token = created["token"]["token"]
    assert token.startswith("pde_") and created["state"] in ("pending", "deploying")
    endpoint = endpoint_in(created["id"], "ready")
    assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.replicas_running == 1

    answer = complete(endpoint.url, token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "text_completion" and body["model"] == "chat"
    assert body["usage"]["completion_tokens"] > 0 and isinstance(body["choices"][0]["text"], str)

    # No token, a wrong one, another scheme: 401 at the ingress, and the model is never called.
    served = _requests_seen(endpoint)
    for headers in ({}, {"Authorization": "Bearer pde_1.wrong"}, {"Authorization": f"Basic {token}"}):
        refused = requests.post(f"{endpoint.url}/v1/completions", json={"prompt": "x"}, headers=headers, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_api_key"
    assert _requests_seen(endpoint) == served

    # A revoked token stops working once the ingress holds the new token list.
    revoke = serving.client.post(f"/api/v1/endpoints/{endpoint.pk}/tokens/{created['token']['id']}/revoke/")
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    wait_until(lambda: complete(endpoint.url, token).status_code == 401, 30, "the revoked token to be refused")


def test_streaming_and_the_official_openai_client(serving: Any, live_server: Any, capsys: Any) -> None:
    from openai import OpenAI

    from paddock.cli import main
    from tests.conftest import token_for

    created = create_endpoint(serving, "stream")
    endpoint = endpoint_in(created["id"], "ready")
    client = OpenAI(base_url=endpoint.openai_base_url, api_key=created["token"]["token"], max_retries=0)

    assert [m.id for m in client.models.list()] == ["stream"]
    completion = client.completions.create(model="stream", prompt="Once", max_tokens=6)
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    chat = client.chat.completions.create(model="stream", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert chat.choices[0].message.role == "assistant"
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="stream", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True
        )
        if chunk.choices
    ]
    assert len(pieces) >= 2 and "".join(pieces)

    # Paddock reads the ingress's figures: requests, tokens and latency since the last read.
    sample_all()
    sample = HealthSample.objects.filter(endpoint_id=endpoint.pk).latest("at")
    assert sample.requests == 3 and sample.completion_tokens > 0 and sample.p50_ms is not None  # /models is not counted

    # The CLI: the list for people, and chat through Paddock's relay (no endpoint token needed).
    base = ["--url", live_server.url, "--token", token_for(serving.member)]
    capsys.readouterr()
    assert main([*base, "endpoint", "list"]) == 0
    listed = capsys.readouterr().out
    assert "stream" in listed and "ready" in listed and endpoint.url in listed
    assert main([*base, "chat", "demo/stream", "hello", "--max-tokens", "5"]) == 0
    assert capsys.readouterr().out.strip()
    assert main([*base, "chat", "stream", "hello", "--endpoint-token", "pde_1.wrong"]) == 4  # auth
    assert "refused" in capsys.readouterr().err


def _requests_seen(endpoint: Endpoint) -> int:
    from apps.serving.reconcile import read_stats

    stats = read_stats(endpoint, since=0.0)
    assert stats is not None
    return int(stats["totals"].get("requests", 0))
