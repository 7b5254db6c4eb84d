"""``paddock endpoint …`` and ``paddock chat`` against a fake Paddock that speaks issue 12's
contract: what people read, what scripts parse (--json), and the exit codes a pipeline relies on
(0 ok; 1 an endpoint that failed under --wait, a server error, an unreachable server; 2 refused
input or an ENDPOINT that names several things; 3 not found; 4 a refused token; 5 a conflict)."""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from paddock import cli
from paddock.cli import build_parser, endpoint_create_body, main, rate_text
from paddock.client import ApiError, sse_text
from tests.paddock.fake_serving import ENDPOINT_TOKEN, USER_TOKEN, FakeServing, endpoint, revision


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServing]:
    monkeypatch.delenv("PADDOCK_ENDPOINT_TOKEN", raising=False)
    monkeypatch.setattr(cli, "ENDPOINT_POLL_SECONDS", 0.01)
    server = FakeServing(tmp_path).start()
    yield server
    server.stop()


def cli_run(fake: FakeServing, *args: str) -> int:
    return main(["--url", fake.url, "--token", USER_TOKEN, *args])


def sent(fake: FakeServing, method: str, suffix: str) -> list[Any]:
    """The bodies of the requests with this method whose path ends with ``suffix``."""
    return [body for m, path, body in fake.bodies if m == method and path.rstrip("/").endswith(suffix.rstrip("/"))]


# --- list ------------------------------------------------------------------------------------------


def test_list_is_a_table_with_the_reason_under_each_endpoint_that_is_not_ready(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(
        endpoint(12, "demo", "tiny-chat"),
        endpoint(13, "ml", "big-chat", state="pending", state_reason="waiting for 2 GPUs in pool h100",
                 latest=None, gpus_held=0.0, cost={"currency": "EUR", "priced": False, "note": "no price for H100"},
                 replicas={"min": 0, "max": 4, "running": 0, "target_ongoing_requests": 2.0, "scale_to_zero": True}),
    )  # fmt: skip
    assert cli_run(fake, "endpoint", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TEAM", "STATE", "REPLICAS", "P95", "REQ/S", "GPUS", "COST", "URL"]
    ready = lines[1]
    assert ready.split()[:9] == ["12", "tiny-chat", "demo", "ready", "1/1-2", "80", "ms", "3.2", "1"]
    assert "USD 3.11" in ready and ready.endswith("/serve/demo/tiny-chat")
    pending = lines[2]
    assert pending.split()[:6] == ["13", "big-chat", "ml", "pending", "0/0-4", "—"]
    assert "not priced" in pending and pending.rstrip().endswith("—")  # no URL until deployed
    assert lines[3].strip() == "↳ waiting for 2 GPUs in pool h100"
    assert lines[3].index("↳") == lines[0].index("STATE")  # under the state it explains
    assert len(lines) == 4  # a ready endpoint has no reason line
    assert lines[0].index("REPLICAS") == lines[1].index("1/1-2") == lines[2].index("0/0-4")  # aligned


def test_list_filters_and_json_prints_the_api_objects(fake: FakeServing, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"), endpoint(13, "ml", "big-chat", state="failed"))
    assert cli_run(fake, "endpoint", "list", "--team", "ml", "--json") == 0
    items = json.loads(capsys.readouterr().out)
    assert [(item["id"], item["state"]) for item in items] == [(13, "failed")]
    assert items[0]["cost"]["so_far"] == "3.11"  # the API's decimal string, untouched

    assert cli_run(fake, "endpoint", "list", "--state", "stopped") == 0
    assert capsys.readouterr().out == "no endpoints\n"


def test_rates_read_like_people_write_them() -> None:
    assert [rate_text(v) for v in (None, 0.0, 0.05, 3.2, 12.34, 341.6)] == ["—", "0", "0.05", "3.2", "12.3", "342"]


# --- create ----------------------------------------------------------------------------------------

CREATE = ["endpoint", "create", "tiny-chat", "--team", "demo", "--cluster", "local"]


def test_create_flags_become_the_contract_body() -> None:
    args = build_parser().parse_args(
        [*CREATE, "--model-uri", "/models/tiny", "--entry-point", "my.mod:Chat", "--gpus", "1", "--accelerator",
         "H100", "--memory-gb", "16", "--min-replicas", "0", "--max-replicas", "3", "--target-ongoing", "4",
         "--scale-to-zero", "--priority-class", "serving", "--config", "max_new_tokens=64",
         "--config", "greeting=hi there", "--config", "sample=false", "--runtime", "vllm"]
    )  # fmt: skip
    assert endpoint_create_body(args) == {
        "team": "demo",
        "name": "tiny-chat",
        "cluster": "local",
        "runtime": "vllm",
        "model_uri": "/models/tiny",
        "entry_point": "my.mod:Chat",
        "config": {"max_new_tokens": 64, "greeting": "hi there", "sample": False},
        "gpus": 1.0,
        "accelerator_model": "H100",
        "memory_gb": 16.0,
        "min_replicas": 0,
        "max_replicas": 3,
        "target_ongoing_requests": 4.0,
        "scale_to_zero": True,
        "priority_class": "serving",
    }
    minimal = build_parser().parse_args([*CREATE, "--model-version", "3"])
    assert endpoint_create_body(minimal) == {
        "team": "demo", "name": "tiny-chat", "cluster": "local", "model_version": 3
    }  # fmt: skip


def test_create_prints_the_endpoint_and_the_token_once(fake: FakeServing, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(fake, *CREATE, "--model-version", "3") == 0
    out = capsys.readouterr().out
    assert out.count(ENDPOINT_TOKEN) == 1
    assert "created demo/tiny-chat (id 100): pending — waiting for 1 GPU in pool default" in out
    assert "will not be shown again" in out
    assert "url: — (assigned when it first deploys" in out
    assert sent(fake, "POST", "endpoints/") == [{"team": "demo", "name": "tiny-chat", "cluster": "local",
                                                  "model_version": 3}]  # fmt: skip
    assert any(h.get("Idempotency-Key") for h in fake.headers_seen)  # a retried create is not a second one

    assert cli_run(fake, "endpoint", "create", "other", "--team", "demo", "--cluster", "local",
                   "--model-version", "3", "--json") == 0  # fmt: skip
    created = json.loads(capsys.readouterr().out)
    assert created["token"]["token"] == ENDPOINT_TOKEN and created["name"] == "other"


def test_create_refusals_exit_2_with_the_server_s_words(fake: FakeServing, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    assert cli_run(fake, *CREATE, "--model-version", "3") == 2
    assert "name: An endpoint with this name exists in the team" in capsys.readouterr().err
    assert cli_run(fake, *CREATE, "--model-version", "3", "--entry-point", "a:B") == 2
    assert "--entry-point goes with --model-uri" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # neither --model-version nor --model-uri
        cli_run(fake, *CREATE)
    assert exc.value.code == 2


def test_create_wait_prints_each_state_and_exits_0_when_ready(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.progress[100] = ["pending", "deploying", "deploying", "ready"]
    assert cli_run(fake, *CREATE, "--model-version", "3", "--wait") == 0
    captured = capsys.readouterr()
    assert captured.out.count(ENDPOINT_TOKEN) == 1
    assert captured.out.index(ENDPOINT_TOKEN) < captured.out.index("is ready at")  # the token comes first
    states = [line.split(": ")[1].split(" —")[0] for line in captured.err.splitlines()]
    assert states == ["pending", "deploying", "ready"]  # changes only
    assert "demo/tiny-chat is ready at http://" in captured.out


def test_create_wait_exits_1_when_the_endpoint_fails_and_json_keeps_the_token(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.progress[100] = ["deploying", "failed"]
    assert cli_run(fake, *CREATE, "--model-version", "3", "--wait", "--json") == 1
    captured = capsys.readouterr()
    assert "demo/tiny-chat: failed — CUDA out of memory while loading" in captured.err
    final = json.loads(captured.out)  # one JSON object: the endpoint as it ended, with its one-time token
    assert final["state"] == "failed" and final["token"]["token"] == ENDPOINT_TOKEN


# --- ENDPOINT names --------------------------------------------------------------------------------


def test_endpoint_is_an_id_a_team_and_name_or_a_unique_name(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"), endpoint(13, "ml", "tiny-chat"), endpoint(14, "ml", "solo"))
    fake.page_size_cap = 1  # the lookup walks every page
    for ref, expected in [("12", 12), ("ml/tiny-chat", 13), ("solo", 14)]:
        assert cli_run(fake, "endpoint", "show", ref, "--json") == 0
        assert json.loads(capsys.readouterr().out)["id"] == expected

    assert cli_run(fake, "endpoint", "stop", "tiny-chat") == 2
    err = capsys.readouterr().err
    assert "'tiny-chat' is ambiguous: demo/tiny-chat (id 12), ml/tiny-chat (id 13)" in err
    assert "TEAM/NAME or by id" in err
    assert cli_run(fake, "endpoint", "stop", "nope") == 3
    assert "no endpoint named 'nope' in any of your teams" in capsys.readouterr().err
    assert cli_run(fake, "endpoint", "stop", "demo/solo") == 3
    assert "no endpoint named 'solo' in team demo" in capsys.readouterr().err
    assert cli_run(fake, "endpoint", "stop", "99") == 3
    assert "HTTP 404: No Endpoint matches the given query." in capsys.readouterr().err
    assert [e["state"] for e in fake.endpoints] == ["ready", "ready", "ready"]  # nothing was stopped


# --- show and the changes --------------------------------------------------------------------------


def test_show_has_revisions_with_their_traffic_health_and_cost(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat", traffic=[
        {"revision": 121, "number": 1, "percent": 80, "state": "ready"},
        {"revision": 122, "number": 2, "percent": 20, "state": "ready"},
    ]))  # fmt: skip
    fake.revisions[12] = [revision(121, 1, traffic=80), revision(122, 2, traffic=20, message="more data")]
    assert cli_run(fake, "endpoint", "show", "demo/tiny-chat") == 0
    out = capsys.readouterr().out
    assert out.startswith("demo/tiny-chat  (id 12)  ready\n")
    assert "revision 1 80 % (ready), revision 2 20 % (ready) — a canary" in out
    assert "3.2 req/s, p50 41 ms, p95 80 ms, p99 95 ms, errors 0.0 %, 51 tokens/s, 1 replica (5 min ago)" in out
    assert "USD 3.11 so far (1.25 replica-hours at USD 2.49/h)" in out
    assert "USD 0.0123 per 1k requests, USD 0.0009 per 1k tokens" in out
    assert "tiny-llama v1 (model version 3), from job 5" in out
    table = out[out.index("REVISION") :].splitlines()
    assert table[1].split()[:4] == ["2", "ready", "20", "%"] and table[1].endswith("more data")  # newest first
    assert table[2].split()[:4] == ["1", "ready", "80", "%"]
    assert "1 replica serves" in out  # recent events

    assert cli_run(fake, "endpoint", "show", "12", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in shown["revision_list"]] == [2, 1]


def test_scale_rollout_promote_rollback_stop_start(fake: FakeServing, capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    assert cli_run(fake, "endpoint", "scale", "tiny-chat", "--min", "0", "--max", "4", "--target", "3") == 0
    assert sent(fake, "PATCH", "endpoints/12/") == [{"min_replicas": 0, "max_replicas": 4,
                                                     "target_ongoing_requests": 3.0}]  # fmt: skip
    assert "demo/tiny-chat: 1/0-4 replicas (running/min-max), scale at 3 requests in flight each" in (
        capsys.readouterr().out
    )
    assert cli_run(fake, "endpoint", "scale", "tiny-chat") == 2
    assert "say what to change" in capsys.readouterr().err

    assert cli_run(fake, "endpoint", "rollout", "tiny-chat", "--model-version", "5", "--traffic", "20",
                   "--config", "max_new_tokens=32") == 0  # fmt: skip
    assert sent(fake, "POST", "endpoints/12/revisions/") == [
        {"model_version": 5, "config": {"max_new_tokens": 32}, "traffic_percent": 20}
    ]
    out = capsys.readouterr().out
    assert "revision 2 pending" in out and "20 % of the traffic as a canary" in out
    assert "paddock endpoint promote demo/tiny-chat 2" in out
    with pytest.raises(SystemExit):
        cli_run(fake, "endpoint", "rollout", "tiny-chat", "--model-version", "5", "--traffic", "0")

    assert cli_run(fake, "endpoint", "promote", "tiny-chat") == 0  # the newest: revision 2, id 122
    assert fake.count("POST", "/api/v1/endpoints/12/revisions/122/promote/") == 1
    assert "revision 2 (pending) now takes 100 % of the traffic" in capsys.readouterr().out
    assert cli_run(fake, "endpoint", "promote", "tiny-chat", "7") == 2
    assert "has no revision 7 (it has 1, 2)" in capsys.readouterr().err

    assert cli_run(fake, "endpoint", "rollback", "tiny-chat") == 0
    assert "rolled back: traffic revision 1 100 % (ready)" in capsys.readouterr().out
    assert cli_run(fake, "endpoint", "promote", "tiny-chat", "2") == 5  # retired now: the server says no
    assert "HTTP 409: A retired revision cannot take traffic." in capsys.readouterr().err

    assert cli_run(fake, "endpoint", "stop", "tiny-chat") == 0
    assert "demo/tiny-chat: stopped; its GPUs are free" in capsys.readouterr().out
    assert cli_run(fake, "endpoint", "start", "tiny-chat", "--json") == 0
    assert json.loads(capsys.readouterr().out)["state"] == "pending"


def test_delete_asks_first_and_refuses_without_a_person_to_ask(
    fake: FakeServing, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a pipeline: nobody answers
    assert cli_run(fake, "endpoint", "delete", "tiny-chat") == 2
    assert "needs --yes" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert cli_run(fake, "endpoint", "delete", "tiny-chat") == 1
    assert "not deleted" in capsys.readouterr().out
    assert fake.endpoints

    assert cli_run(fake, "endpoint", "delete", "tiny-chat", "--yes") == 0
    assert "deleted demo/tiny-chat (id 12)" in capsys.readouterr().out
    assert fake.endpoints == []


def test_tokens_are_created_shown_once_listed_by_prefix_and_revoked(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    assert cli_run(fake, "endpoint", "token", "create", "tiny-chat", "--name", "ci") == 0
    out = capsys.readouterr().out
    assert out.count("pde_cd34.newsecret") == 1 and "will not be shown again" in out
    assert sent(fake, "POST", "endpoints/12/tokens/") == [{"name": "ci"}]

    assert cli_run(fake, "endpoint", "token", "list", "tiny-chat") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "BY", "STATE"]
    assert lines[1].split() == ["2", "ci", "pde_cd34…", "5", "min", "ago", "alice", "active"]
    assert "newsecret" not in "".join(lines)

    assert cli_run(fake, "endpoint", "token", "revoke", "tiny-chat", "2") == 0
    assert "token 2 (pde_cd34…) of demo/tiny-chat revoked" in capsys.readouterr().out
    assert cli_run(fake, "endpoint", "token", "revoke", "tiny-chat", "9") == 3
    assert "HTTP 404" in capsys.readouterr().err


def test_errors_exit_codes(fake: FakeServing, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", fake.url, "--token", "pdk_bad.bad", "endpoint", "list"]) == 4
    assert "HTTP 401: Invalid token." in capsys.readouterr().err
    fake.fail("/api/v1/endpoints/", 503, body={"detail": "Ray is down."})
    assert cli_run(fake, "endpoint", "list") == 1
    assert capsys.readouterr().err == "paddock endpoint list: error: HTTP 503: Ray is down.\n"

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}"
    assert main(["--url", closed, "--token", USER_TOKEN, "endpoint", "list"]) == 1
    assert "cannot reach Paddock at" in capsys.readouterr().err


# --- chat ------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """stdout that notes when the first piece of the reply has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.first_piece = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "Hel" in self.getvalue():
            self.first_piece.set()
        return written


def test_chat_with_an_endpoint_token_streams_from_the_endpoint_itself(
    fake: FakeServing, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    terminal = Terminal()
    fake.before_rest = terminal.first_piece  # the server holds the rest back until "Hel" is on screen
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli_run(fake, "chat", "tiny-chat", "Say hello", "--max-tokens", "16",
                   "--endpoint-token", ENDPOINT_TOKEN) == 0  # fmt: skip
    assert fake.waited_for_client is True  # printed as it arrived, not after the whole reply
    assert terminal.getvalue() == "Hello wörld\n"  # UTF-8 though the stream names no charset
    assert sent(fake, "POST", "/serve/demo/tiny-chat/v1/chat/completions") == [
        {"model": "tiny-chat", "messages": [{"role": "user", "content": "Say hello"}], "stream": True,
         "max_tokens": 16}
    ]  # fmt: skip
    assert fake.count("POST", "/api/v1/endpoints/12/try/") == 0


@pytest.mark.parametrize("urllib3_has_read1", [True, False], ids=["urllib3-2", "urllib3-1"])
def test_chat_without_a_token_goes_through_paddock_s_relay(
    fake: FakeServing, monkeypatch: pytest.MonkeyPatch, urllib3_has_read1: bool
) -> None:
    if not urllib3_has_read1:  # an older urllib3 (requests allows 1.x): byte by byte, still as it arrives
        monkeypatch.delattr(urllib3.response.HTTPResponse, "read1")
        monkeypatch.delattr(urllib3.response.BaseHTTPResponse, "read1")
    fake.add(endpoint(12, "demo", "tiny-chat"))
    terminal = Terminal()
    fake.before_rest = terminal.first_piece
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli_run(fake, "chat", "demo/tiny-chat", "Say hello") == 0
    assert fake.waited_for_client is True
    assert terminal.getvalue() == "Hello wörld\n"
    assert sent(fake, "POST", "endpoints/12/try/") == [{"messages": [{"role": "user", "content": "Say hello"}]}]


def test_chat_reads_the_token_from_the_environment_and_takes_a_url(
    fake: FakeServing, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"))
    monkeypatch.setenv("PADDOCK_ENDPOINT_TOKEN", ENDPOINT_TOKEN)
    monkeypatch.delenv("PADDOCK_TOKEN", raising=False)
    # by URL: no Paddock account needed, the model name comes from {base}/models
    assert main(["chat", f"{fake.url}/serve/demo/tiny-chat", "hi"]) == 0
    assert capsys.readouterr().out == "Hello wörld\n"
    assert sent(fake, "POST", "/serve/demo/tiny-chat/v1/chat/completions")[0]["model"] == "tiny-chat"
    assert fake.count("GET", "/api/v1/") == 0


def test_chat_errors_exit_with_their_code_and_the_server_s_message(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(endpoint(12, "demo", "tiny-chat"), endpoint(13, "demo", "cold", state="stopped"))
    assert cli_run(fake, "chat", "tiny-chat", "hi", "--endpoint-token", "pde_revoked.x") == 4
    assert capsys.readouterr().err == "paddock chat: error: the endpoint token was refused (HTTP 401)\n"
    assert cli_run(fake, "chat", "cold", "hi") == 5
    assert "HTTP 409: The endpoint is stopped, not ready." in capsys.readouterr().err
    assert cli_run(fake, "chat", "cold", "hi", "--endpoint-token", ENDPOINT_TOKEN) == 5
    assert "demo/cold has no URL yet (stopped)" in capsys.readouterr().err
    assert cli_run(fake, "chat", "nope", "hi") == 3
    assert "no endpoint named 'nope'" in capsys.readouterr().err


def test_sse_text_follows_the_event_stream_format() -> None:
    lines = [
        ": keep-alive",
        "event: message",
        'data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}',
        "",
        'data: {"choices":[{"index":0,"delta":{"content":"A"}}]}',
        "",
        'data: {"choices":[{"index":0,',  # one event over two data: lines
        'data: "text":"B"}]}',
        "",
        "data:[DONE]",
        'data: {"choices":[{"index":0,"text":"after the end"}]}',
    ]
    assert list(sse_text(lines)) == ["A", "B"]
    with pytest.raises(ApiError) as exc:
        list(sse_text(['data: {"choices":[{"delta":{"content":"x"}}]}', 'data: {"error":{"message":"overloaded"}}']))
    assert exc.value.body == "overloaded"


def test_create_team_defaults_to_the_only_team_the_token_sees(
    fake: FakeServing, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.teams = [{"slug": "demo", "name": "Demo", "role": "member"}]
    assert cli_run(fake, "endpoint", "create", "tiny-chat", "--cluster", "local", "--model-version", "3") == 0
    assert sent(fake, "POST", "endpoints/")[0]["team"] == "demo"
