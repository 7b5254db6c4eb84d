"""PLACEHOLDER for helper A's module (issue 14): the lead replaces this file with theirs.

Only the part of the contract's interface the Kubernetes backend uses, with a minimal real
implementation (:class:`SafeKubeconfig` and its JSON form); parsing a kubeconfig and reading
the in-cluster service account are helper A's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


class KubeconfigError(ValueError):
    """A kubeconfig Paddock refuses; the message says what was refused and why."""


@dataclass(frozen=True)
class SafeKubeconfig:
    """The only parts of a kubeconfig Paddock keeps: inline data, never a path or a command."""

    server: str  # https://… or http://… only
    namespace: str = "default"
    ca_data: str = ""  # base64 PEM, inline only
    token: str = ""  # bearer token, inline only
    client_cert_data: str = ""  # base64 PEM, inline only
    client_key_data: str = ""  # base64 PEM, inline only
    insecure_skip_tls_verify: bool = False

    def __post_init__(self) -> None:
        if not self.server.startswith(("https://", "http://")):
            raise KubeconfigError("the cluster's server must be an http:// or https:// URL")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SafeKubeconfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KubeconfigError(f"stored kubeconfig is not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise KubeconfigError("stored kubeconfig is not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise KubeconfigError(f"stored kubeconfig has fields Paddock does not keep: {', '.join(unknown)}")
        if not isinstance(data.get("server"), str):
            raise KubeconfigError("stored kubeconfig names no server")
        for name in known - {"insecure_skip_tls_verify"}:
            if not isinstance(data.get(name, ""), str):
                raise KubeconfigError(f"stored kubeconfig field {name} is not text")
        return cls(**{**data, "insecure_skip_tls_verify": bool(data.get("insecure_skip_tls_verify", False))})

    def redacted(self) -> dict[str, str]:
        auth = "token" if self.token else "client-certificate" if self.client_cert_data else "none"
        return {"server": self.server, "namespace": self.namespace, "auth": auth}
