"""A stored kubeconfig never makes Paddock run a command or read a file, and its secrets never
show in what Paddock prints."""

from __future__ import annotations

import base64
import builtins
import json
import os
import pathlib
import subprocess

import pytest
import yaml

from apps.dispatch.kubeconfig import (
    MAX_KUBECONFIG_BYTES,
    KubeconfigError,
    SafeKubeconfig,
    in_cluster,
    parse_kubeconfig,
)

CANARY = "CANARY-TOKEN-7c1e0f5b9d"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBcanary\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n").decode()
KEY_CANARY = "CANARYKEY"
KEY = base64.b64encode(f"-----BEGIN PRIVATE KEY-----\n{KEY_CANARY}\n-----END PRIVATE KEY-----\n".encode()).decode()


def kubeconfig(cluster: dict | None = None, user: dict | None = None, **top) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [{"name": "gpu-cluster", "cluster": cluster or {"server": "https://10.0.0.1:6443"}}],
        "contexts": [
            {"name": "prod", "context": {"cluster": "gpu-cluster", "user": "paddock", "namespace": "ml-jobs"}}
        ],
        "users": [{"name": "paddock", "user": user if user is not None else {"token": CANARY}}],
    }
    document.update(top)
    return yaml.safe_dump(document)


def test_a_good_kubeconfig_with_inline_data_is_kept():
    text = kubeconfig(
        {"server": "https://k8s.example.com:6443", "certificate-authority-data": CA, "tls-server-name": "kubernetes"},
        {"token": CANARY},
    )
    config = parse_kubeconfig(text)
    assert config == SafeKubeconfig(
        server="https://k8s.example.com:6443",
        namespace="ml-jobs",
        ca_data=CA,
        token=CANARY,
        tls_server_name="kubernetes",
    )
    assert SafeKubeconfig.from_json(config.to_json()) == config
    assert config.redacted() == {
        "server": "https://k8s.example.com:6443",
        "namespace": "ml-jobs",
        "auth": "token",
        "tls": "verified against the given certificate authority",
    }


def test_a_client_certificate_is_kept_and_json_is_accepted_too():
    document = yaml.safe_load(kubeconfig(user={"client-certificate-data": CERT, "client-key-data": KEY}))
    config = parse_kubeconfig(json.dumps(document))
    assert (config.client_cert_data, config.client_key_data, config.auth_kind) == (CERT, KEY, "client-certificate")


def test_secrets_never_show_in_redacted_repr_or_str():
    config = parse_kubeconfig(
        kubeconfig({"server": "https://h:6443", "certificate-authority-data": CA}, {"token": CANARY})
    )
    cert_config = parse_kubeconfig(kubeconfig(user={"client-certificate-data": CERT, "client-key-data": KEY}))
    for shown in (
        json.dumps(config.redacted()),
        repr(config),
        str(config),
        f"{config}",
        f"{config!r}",
        repr([config]),
        json.dumps(cert_config.redacted()),
        repr(cert_config),
    ):
        assert CANARY not in shown and KEY not in shown and KEY_CANARY not in shown and CA not in shown
    assert "https://h:6443" in repr(config)


def test_a_refusal_never_quotes_a_secret():
    for user in ({"token": f"{CANARY} with spaces"}, {"client-certificate-data": CERT, "client-key-data": CANARY}):
        with pytest.raises(KubeconfigError) as caught:
            parse_kubeconfig(kubeconfig(user=user))
        assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("cluster", "user", "field", "reason"),
    [
        (None, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "sh"}}, "exec", "runs a program"),
        (None, {"auth-provider": {"name": "gcp", "config": {"cmd-path": "/bin/sh"}}}, "auth-provider", "plugin"),
        (None, {"tokenFile": "/var/run/secrets/token"}, "tokenFile", "names a file"),
        (None, {"client-key": "/etc/ssl/key.pem", "client-certificate-data": CERT}, "client-key", "names a file"),
        (None, {"client-certificate": "/etc/ssl/c.pem", "client-key-data": KEY}, "client-certificate", "names a file"),
        (
            {"server": "https://h", "certificate-authority": "/etc/passwd"},
            None,
            "certificate-authority",
            "names a file",
        ),
        ({"server": "file:///etc/passwd"}, None, "server", "not file://"),
        ({"server": "unix:///var/run/x"}, None, "server", "not unix://"),
        ({"server": "10.0.0.1:6443"}, None, "server", "without a scheme"),
        ({"server": "https://user:pw@h"}, None, "server", "credentials in the URL"),
        ({"server": "https://h", "proxy-url": "socks5://127.0.0.1:1080"}, None, "proxy-url", "not socks5://"),
        ({"server": "https://h", "proxy-url": "file:///tmp/p"}, None, "proxy-url", "not file://"),
        (None, {"username": "admin"}, "username", "basic authentication"),
        (None, {"password": "pw", "token": "t"}, "password", "basic authentication"),
        (None, {"as": "system:admin", "token": "t"}, "as", "impersonation"),
        (None, {"token": "t", "unknown-thing": 1}, "unknown-thing", "not a field"),
        ({"server": "https://h", "insecure-skip-tls-verify": True, "certificate-authority-data": CA}, None, "", ""),
        ({"server": "https://h", "certificate-authority-data": "not base64!"}, None, "certificate", "not base64"),
        (None, {"client-certificate-data": CERT}, "client-certificate-data", "needs its key"),
        (None, {"client-key-data": KEY}, "client-certificate-data", "needs its key"),
    ],
)
def test_malicious_or_unsafe_kubeconfigs_are_refused_naming_the_field(cluster, user, field, reason):
    with pytest.raises(KubeconfigError) as caught:
        parse_kubeconfig(kubeconfig(cluster, user))
    message = str(caught.value)
    assert f".{field}" in message and reason in message, message


def test_parsing_never_opens_a_file_or_runs_a_program(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"parse_kubeconfig tried to read or run: {args!r}")

    for target, name in [
        (builtins, "open"),
        (pathlib.Path, "open"),
        (pathlib.Path, "read_text"),
        (pathlib.Path, "read_bytes"),
        (os, "system"),
        (os, "popen"),
        (subprocess, "Popen"),
    ]:
        monkeypatch.setattr(target, name, forbidden)
    for cluster, user in [
        ({"server": "https://h", "certificate-authority": "/etc/passwd"}, None),
        (None, {"tokenFile": "/etc/shadow"}),
        (None, {"exec": {"command": "touch", "args": ["/tmp/pwned"]}}),
        (None, {"client-certificate": "/a", "client-key": "/b"}),
    ]:
        with pytest.raises(KubeconfigError):
            parse_kubeconfig(kubeconfig(cluster, user))
    parse_kubeconfig(kubeconfig())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("- just\n- a list\n", "not a kubeconfig"),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "kind"),
        ("hello: world\n", "not a kubeconfig field"),
        ("{{{not yaml", "not YAML"),
        ("", "not a kubeconfig"),
        ("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n", "aliases"),
        ("x" * (MAX_KUBECONFIG_BYTES + 1), "too large"),
        (kubeconfig(**{"current-context": "staging"}), "no context named 'staging'"),
        (kubeconfig(**{"current-context": ""}), "current-context"),
        (kubeconfig(apiVersion="v2"), "apiVersion"),
        (kubeconfig(clusters="everything"), "clusters: must be a list"),
    ],
)
def test_what_is_not_a_usable_kubeconfig_is_refused(text, reason):
    with pytest.raises(KubeconfigError, match=reason):
        parse_kubeconfig(text)


def test_the_named_context_is_used_and_other_entries_are_dropped_unread():
    document = yaml.safe_load(kubeconfig())
    document["clusters"].append({"name": "laptop", "cluster": {"server": "unix:///var/run/docker.sock"}})
    document["users"].append({"name": "eks", "user": {"exec": {"command": "aws", "args": ["eks", "get-token"]}}})
    document["contexts"].append({"name": "dev", "context": {"cluster": "laptop", "user": "eks"}})
    config = parse_kubeconfig(yaml.safe_dump(document))
    assert config.server == "https://10.0.0.1:6443" and config.token == CANARY
    assert "aws" not in config.to_json() and "docker.sock" not in config.to_json()
    with pytest.raises(KubeconfigError, match="exec"):
        parse_kubeconfig(yaml.safe_dump(document), context="dev")
    with pytest.raises(KubeconfigError, match=r"no context named 'nope' \(the kubeconfig has: dev, prod\)"):
        parse_kubeconfig(yaml.safe_dump(document), context="nope")


def test_a_context_without_a_user_or_namespace_means_no_auth_in_default():
    document = yaml.safe_load(kubeconfig())
    document["contexts"][0]["context"] = {"cluster": "gpu-cluster"}
    del document["users"]
    config = parse_kubeconfig(yaml.safe_dump(document))
    assert (config.namespace, config.auth_kind, config.token) == ("default", "none", "")


@pytest.mark.parametrize(
    "change",
    [
        {"server": "file:///etc/passwd"},
        {"server": "https://h", "exec": "sh"},
        {"namespace": "../etc"},
        {"insecure_skip_tls_verify": "yes"},
        {"token": ["a"]},
    ],
)
def test_stored_json_is_checked_again_when_read(change):
    stored = json.loads(SafeKubeconfig(server="https://h", token="t").to_json())
    stored.update(change)
    with pytest.raises(KubeconfigError):
        SafeKubeconfig.from_json(json.dumps(stored))


def test_in_cluster_reads_the_mounted_service_account(tmp_path):
    (tmp_path / "token").write_text(CANARY + "\n")
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(CA))
    (tmp_path / "namespace").write_text("paddock")
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    config = in_cluster(environ=environ, directory=tmp_path)
    assert config == SafeKubeconfig(server="https://10.96.0.1:443", namespace="paddock", token=CANARY, ca_data=CA)
    assert CANARY not in repr(config)
    ipv6 = in_cluster(environ={**environ, "KUBERNETES_SERVICE_HOST": "fd00::1"}, directory=tmp_path)
    assert ipv6.server == "https://[fd00::1]:443"


def test_in_cluster_outside_a_pod_says_so(tmp_path):
    with pytest.raises(KubeconfigError, match="not running in a Kubernetes pod"):
        in_cluster(environ={}, directory=tmp_path)
    with pytest.raises(KubeconfigError, match="cannot read the service account"):
        in_cluster(environ={"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "443"}, directory=tmp_path)
