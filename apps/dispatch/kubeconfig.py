"""What Paddock keeps of a kubeconfig: one server and inline credentials, nothing that acts.

A kubeconfig can tell a client to run a program (``exec``, ``auth-provider``) or to read a
file (``tokenFile``, ``client-key``, ``certificate-authority``…). A stored kubeconfig comes
from a user, and the control plane must never run a command or read a file because a user
said so: :func:`parse_kubeconfig` keeps only a server URL and inline (``-data``) credentials
of the chosen context, and refuses everything else with the field and the reason. It reads
nothing but the text it is given. :func:`in_cluster` is the one place that reads files: the
service account Kubernetes mounts into Paddock's own pod.

Pure: PyYAML and the standard library; no Kubernetes client here.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

MAX_KUBECONFIG_BYTES = 256 * 1024
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

_TOP_LEVEL = {"apiVersion", "kind", "clusters", "contexts", "users", "current-context", "preferences", "extensions"}
_CLUSTER_FIELDS = {
    "server",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "disable-compression",
    "extensions",
}
_USER_FIELDS = {"token", "client-certificate-data", "client-key-data", "extensions"}
_CONTEXT_FIELDS = {"cluster", "user", "namespace", "extensions"}
# Fields a kubeconfig may hold that Paddock refuses, and why (in the user's words).
_FILE_FIELD = "names a file on the machine that reads the kubeconfig; Paddock never reads files for a cluster"
_REFUSED_CLUSTER = {
    "certificate-authority": f"{_FILE_FIELD}. Inline it as certificate-authority-data (base64 PEM)",
}
_REFUSED_USER = {
    "exec": "runs a program on the machine that reads the kubeconfig; Paddock never runs commands for a cluster. "
    "Use a service account token (token) or a client certificate (client-certificate-data, client-key-data)",
    "auth-provider": "runs a credential plugin on the machine that reads the kubeconfig; Paddock never does. "
    "Use a service account token (token) or a client certificate (client-certificate-data, client-key-data)",
    "tokenFile": f"{_FILE_FIELD}. Put the token itself in token",
    "client-certificate": f"{_FILE_FIELD}. Inline it as client-certificate-data (base64 PEM)",
    "client-key": f"{_FILE_FIELD}. Inline it as client-key-data (base64 PEM)",
    "username": "basic authentication is not supported (Kubernetes removed it in 1.19); use a token",
    "password": "basic authentication is not supported (Kubernetes removed it in 1.19); use a token",
    "as": "impersonation is not supported: give the credentials of the account Paddock should act as",
    "as-uid": "impersonation is not supported: give the credentials of the account Paddock should act as",
    "as-groups": "impersonation is not supported: give the credentials of the account Paddock should act as",
    "as-user-extra": "impersonation is not supported: give the credentials of the account Paddock should act as",
}
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.\-]+$")


class KubeconfigError(ValueError):
    """A kubeconfig Paddock will not use; the message names the field and says why."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field  # the kubeconfig field at fault, when one is


@dataclass(frozen=True)
class SafeKubeconfig:
    """One cluster's address and inline credentials (nothing that names a file or a program)."""

    server: str  # https://… or http://… only
    namespace: str = "default"
    ca_data: str = field(default="", repr=False)  # base64 PEM, inline only
    token: str = field(default="", repr=False)  # bearer token, inline only
    client_cert_data: str = field(default="", repr=False)  # base64 PEM, inline only
    client_key_data: str = field(default="", repr=False)  # base64 PEM, inline only
    insecure_skip_tls_verify: bool = False
    tls_server_name: str = ""  # the name to check the server's certificate against, when not the host
    proxy_url: str = ""  # an http(s) proxy to reach the server through

    def __post_init__(self) -> None:
        _check_url(self.server, "server")
        if self.proxy_url:
            _check_url(self.proxy_url, "proxy-url", what="proxy")
        _check_namespace(self.namespace, "namespace")
        if self.tls_server_name and not _HOSTNAME.match(self.tls_server_name):
            raise KubeconfigError("tls-server-name: not a host name", field="tls-server-name")
        for name, value in (
            ("certificate-authority-data", self.ca_data),
            ("client-certificate-data", self.client_cert_data),
            ("client-key-data", self.client_key_data),
        ):
            if value:
                _check_pem(value, name)
        if self.token and (_CONTROL_OR_SPACE.search(self.token) or len(self.token) > 16 * 1024):
            raise KubeconfigError("token: must be one line without spaces (and at most 16 KiB)", field="token")
        if bool(self.client_cert_data) != bool(self.client_key_data):
            raise KubeconfigError(
                "client-certificate-data and client-key-data: a client certificate needs its key and the key its "
                "certificate",
                field="client-key-data",
            )
        if self.insecure_skip_tls_verify and self.ca_data:
            raise KubeconfigError(
                "insecure-skip-tls-verify: cannot be true together with certificate-authority-data (choose one)",
                field="insecure-skip-tls-verify",
            )

    def __repr__(self) -> str:
        return f"SafeKubeconfig(server={self.server!r}, namespace={self.namespace!r}, auth={self.auth_kind!r})"

    __str__ = __repr__

    @property
    def auth_kind(self) -> str:
        """How Paddock authenticates: ``token``, ``client-certificate`` or ``none``."""
        if self.token:
            return "token"
        if self.client_cert_data:
            return "client-certificate"
        return "none"

    def to_json(self) -> str:
        """What Paddock stores (encrypted) and hands to the backend."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SafeKubeconfig:
        """The stored form back, checked again as when it was parsed."""
        if not isinstance(text, str) or len(text.encode()) > MAX_KUBECONFIG_BYTES:
            raise KubeconfigError(f"stored credentials: not text of at most {MAX_KUBECONFIG_BYTES} bytes")
        try:
            data = json.loads(text)
        except ValueError:
            raise KubeconfigError("stored credentials: not JSON") from None
        if not isinstance(data, dict):
            raise KubeconfigError("stored credentials: not a JSON object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise KubeconfigError(f"stored credentials: unknown field {unknown[0]}")
        for name, value in data.items():
            wanted = bool if name == "insecure_skip_tls_verify" else str
            if not isinstance(value, wanted):
                raise KubeconfigError(f"stored credentials: {name} must be a {wanted.__name__}")
        if "server" not in data:
            raise KubeconfigError("stored credentials: server is missing")
        return cls(**data)

    def redacted(self) -> dict[str, str]:
        """What may be shown, logged or put in an event: never a credential."""
        if self.insecure_skip_tls_verify:
            tls = "not verified (insecure-skip-tls-verify)"
        elif self.server.startswith("http://"):
            tls = "none (plain http)"
        elif self.ca_data:
            tls = "verified against the given certificate authority"
        else:
            tls = "verified against the system's certificate authorities"
        shown = {"server": self.server, "namespace": self.namespace, "auth": self.auth_kind, "tls": tls}
        if self.proxy_url:
            shown["proxy"] = self.proxy_url
        return shown


def parse_kubeconfig(text: str, *, context: str | None = None) -> SafeKubeconfig:
    """The safe part of ``text`` for ``context`` (else its ``current-context``).

    Raises :class:`KubeconfigError` naming the field and the reason for anything that would
    make Paddock run a command or read a file, for a server that is not http(s), and for text
    that is not a kubeconfig. Entries of other contexts are dropped unread.
    """
    if not isinstance(text, str):
        raise KubeconfigError("kubeconfig: must be text (YAML or JSON)")
    size = len(text.encode())
    if size > MAX_KUBECONFIG_BYTES:
        raise KubeconfigError(f"kubeconfig: {size} bytes is too large (at most {MAX_KUBECONFIG_BYTES})")
    document = _load(text)
    if not isinstance(document, dict):
        raise KubeconfigError("kubeconfig: not a kubeconfig (expected a mapping with clusters, contexts and users)")
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind is not None and kind != "Config":
        raise KubeconfigError(f"kind: {_shown(kind)} is not a kubeconfig (kind: Config)")
    if api_version is not None and api_version != "v1":
        raise KubeconfigError(f"apiVersion: {_shown(api_version)} is not a kubeconfig version (v1)")
    unknown = sorted(str(key) for key in document if key not in _TOP_LEVEL)
    if unknown:
        raise KubeconfigError(f"{_shown(unknown[0])}: not a kubeconfig field (this does not look like a kubeconfig)")
    if "clusters" not in document or "contexts" not in document:
        raise KubeconfigError("kubeconfig: not a kubeconfig (it has no clusters or no contexts)")

    name = context if context is not None else document.get("current-context")
    if not isinstance(name, str) or not name:
        raise KubeconfigError("current-context: missing; name the context to use")
    contexts = _named(document, "contexts", "context")
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeconfigError(f"contexts: no context named {_shown(name)} (the kubeconfig has: {known})")
    chosen = contexts[name]
    _only(chosen, _CONTEXT_FIELDS, {}, f"contexts[{name}].context")
    cluster_name = chosen.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigError(f"contexts[{name}].context.cluster: missing")
    clusters = _named(document, "clusters", "cluster")
    if cluster_name not in clusters:
        raise KubeconfigError(f"clusters: no cluster named {_shown(cluster_name)} (context {_shown(name)} uses it)")
    cluster = clusters[cluster_name]
    where = f"clusters[{cluster_name}].cluster"
    _only(cluster, _CLUSTER_FIELDS, _REFUSED_CLUSTER, where)

    user: dict[str, Any] = {}
    user_name = chosen.get("user")
    if user_name not in (None, ""):
        users = _named(document, "users", "user") if "users" in document else {}
        if not isinstance(user_name, str) or user_name not in users:
            raise KubeconfigError(f"users: no user named {_shown(user_name)} (context {_shown(name)} uses it)")
        user = users[user_name]
        _only(user, _USER_FIELDS, _REFUSED_USER, f"users[{user_name}].user")

    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise KubeconfigError(f"{where}.insecure-skip-tls-verify: must be true or false")
    strings = {
        "server": (cluster, "server", where),
        "namespace": (chosen, "namespace", f"contexts[{name}].context"),
        "ca_data": (cluster, "certificate-authority-data", where),
        "tls_server_name": (cluster, "tls-server-name", where),
        "proxy_url": (cluster, "proxy-url", where),
        "token": (user, "token", f"users[{user_name}].user"),
        "client_cert_data": (user, "client-certificate-data", f"users[{user_name}].user"),
        "client_key_data": (user, "client-key-data", f"users[{user_name}].user"),
    }
    values: dict[str, str] = {}
    for attribute, (entry, key, entry_where) in strings.items():
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise KubeconfigError(f"{entry_where}.{key}: must be a string")
        values[attribute] = (value or "").strip()
    values["namespace"] = values["namespace"] or "default"
    if not values["server"]:
        raise KubeconfigError(f"{where}.server: missing")
    owners = {key: entry_where for _, key, entry_where in strings.values()}
    try:
        return SafeKubeconfig(insecure_skip_tls_verify=insecure, **values)
    except KubeconfigError as exc:
        raise KubeconfigError(f"{owners.get(exc.field, where)}.{exc}", field=exc.field) from None


def in_cluster(*, environ: Mapping[str, str] | None = None, directory: Path = SERVICE_ACCOUNT_DIR) -> SafeKubeconfig:
    """Paddock's own pod's service account (``KUBERNETES_SERVICE_HOST``/``PORT`` and the files
    Kubernetes mounts). The token is a bound token the kubelet renews: read it again (call
    this again) rather than keeping the result for hours."""
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError(
            "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (Paddock is not running "
            "in a Kubernetes pod); give a kubeconfig instead"
        )
    try:
        token = (directory / "token").read_text().strip()
        ca = (directory / "ca.crt").read_bytes()
        namespace_file = directory / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    except OSError as exc:
        raise KubeconfigError(f"in-cluster: cannot read the service account ({exc.strerror})") from None
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return SafeKubeconfig(
        server=server,
        namespace=namespace or "default",
        token=token,
        ca_data=base64.b64encode(ca).decode(),
    )


# --- helpers ----------------------------------------------------------------------------------
class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases: a kubeconfig never needs them, and they
    let a few bytes expand into a huge document (a "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def _load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig: not YAML or JSON ({problem}{at})") from None


def _named(document: Mapping[str, Any], section: str, key: str) -> dict[str, dict[str, Any]]:
    """``{name: entry[key]}`` of a kubeconfig list such as ``clusters``."""
    items = document.get(section)
    if items is None:
        return {}
    if not isinstance(items, list):
        raise KubeconfigError(f"{section}: must be a list")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise KubeconfigError(f"{section}[{index}]: must have a name and a {key}")
        body = item.get(key)
        if not isinstance(body, dict):
            raise KubeconfigError(f"{section}[{item['name']}].{key}: must be a mapping")
        found[item["name"]] = body
    return found


def _only(entry: Mapping[str, Any], allowed: set[str], refused: Mapping[str, str], where: str) -> None:
    for key in entry:
        if key in refused:
            raise KubeconfigError(f"{where}.{key}: refused: {refused[key]}", field=str(key))
        if key not in allowed:
            raise KubeconfigError(
                f"{where}.{str(key)[:60]}: not a field Paddock understands, so it is refused", field=str(key)
            )


def _check_url(url: str, name: str, *, what: str = "server") -> None:
    if not isinstance(url, str) or not url:
        raise KubeconfigError(f"{name}: missing", field=name)
    if _CONTROL_OR_SPACE.search(url):
        raise KubeconfigError(f"{name}: must not contain spaces or control characters", field=name)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise KubeconfigError(f"{name}: not a valid URL", field=name) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        said = f"{scheme}://" if "://" in url else "a URL without a scheme"
        raise KubeconfigError(
            f"{name}: the {what} must be an https:// (or http://) URL, not {said}: Paddock reaches clusters over "
            "HTTP(S) only, never through a local file or socket",
            field=name,
        )
    if not parts.hostname:
        raise KubeconfigError(f"{name}: the URL names no host", field=name)
    if parts.username is not None or parts.password is not None:
        raise KubeconfigError(f"{name}: credentials in the URL are refused; put them in the user entry", field=name)
    if parts.query or parts.fragment:
        raise KubeconfigError(f"{name}: a query or fragment is not allowed in the {what} URL", field=name)


def _check_namespace(namespace: str, name: str) -> None:
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS1123_LABEL.match(namespace):
        raise KubeconfigError(
            f"{name}: {_shown(namespace)} is not a Kubernetes namespace name (a-z, 0-9, -)", field=name
        )


def _check_pem(value: str, name: str) -> None:
    try:
        decoded = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{name}: not base64 (it must hold the PEM text, base64-encoded)", field=name) from None
    if b"-----BEGIN " not in decoded:
        raise KubeconfigError(f"{name}: the decoded value is not PEM (no -----BEGIN line)", field=name)


def _shown(value: Any) -> str:
    """A user's value quoted for a message, short (only ever names and kinds, never secrets)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
