"""Offline checks of Kubernetes objects that the OpenAPI schemas leave out: custom resources
against their CRD's ``openAPIV3Schema`` (strictly: an unknown field is an error, as the API
server's strict field validation makes it), DNS-1123 names, label syntax and quantities.

Shared by tests/deploy and tests/admission (Kueue); tests/dispatch/k8s_schemas.py does the same
for the backend's manifests, and the two are meant to become one.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")  # plus: <= 15 chars, a letter, no "--"
# resource.Quantity's grammar, as the CRDs spell it.
QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3)}
_DECIMAL.update({"M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15)})
_DECIMAL["E"] = Decimal(10**18)


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(DNS_LABEL.match(name))


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))


def is_port_name(name: str) -> bool:
    return (
        len(name) <= 15
        and bool(IANA_SVC_NAME.match(name))
        and "--" not in name
        and re.search("[a-z]", name) is not None
    )


def label_problems(labels: dict[str, Any] | None) -> list[str]:
    problems = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix and not is_dns_subdomain(prefix):
            problems.append(f"label key {key!r}: prefix is not a DNS subdomain")
        if not (len(name) <= 63 and LABEL_NAME.match(name)):
            problems.append(f"label key {key!r}: name is not valid")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append(f"label {key}={value!r}: not a valid label value")
    return problems


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity as a number (bytes, cores); ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = QUANTITY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a quantity")
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return Decimal(f"{match['number']}{suffix}")  # an exponent: 1e3


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists its fields and does not say
    that it keeps unknown ones."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _validator(schema_path: str) -> jsonschema.protocols.Validator:
    schema = _strict(json.loads(Path(schema_path).read_text()))
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_class.check_schema(schema)
    return validator_class(schema)


def custom_resource_problems(obj: dict[str, Any], schema_path: Path, *, api_version: str, kind: str) -> list[str]:
    """What is wrong with ``obj`` as a ``kind`` of ``api_version`` under the CRD schema at
    ``schema_path``; empty when nothing is. CEL rules (x-kubernetes-validations) are not run."""
    problems: list[str] = []
    if obj.get("apiVersion") != api_version or obj.get("kind") != kind:
        problems.append(f"apiVersion/kind {obj.get('apiVersion')}/{obj.get('kind')}, expected {api_version}/{kind}")
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if not is_dns_subdomain(name):
        problems.append(f"metadata.name {name!r} is not a DNS-1123 subdomain")
    if "namespace" in metadata and not is_dns_label(metadata["namespace"]):
        problems.append(f"metadata.namespace {metadata['namespace']!r} is not a DNS-1123 label")
    problems += label_problems(metadata.get("labels"))
    unknown = set(metadata) - {"name", "namespace", "labels", "annotations"}
    if unknown:
        problems.append(f"unexpected metadata fields {sorted(unknown)}")
    body = copy.deepcopy(obj)
    body["metadata"] = {}
    for error in sorted(_validator(str(schema_path)).iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message}")
    return problems
