"""Offline validation of Kubernetes objects: what an API server would refuse, without one.

The one validator for the tests of every package that writes Kubernetes objects: the
dispatch backend's Jobs, JobSets and RayJobs (tests/dispatch), the deploy/kubernetes manifests
(tests/deploy) and the Kueue objects of apps/admission/kueue.py (tests/admission).

``validate(obj)`` raises :class:`ManifestInvalid` listing every problem; ``problems(obj)``
returns them. Three layers:

1. Built-in kinds: ``kubernetes_validate.validate(obj, version, strict=True)`` for every
   supported Kubernetes version (unknown fields, missing required fields, wrong types).
2. Custom resources (JobSet, RayJob, Kueue, ServiceMonitor): the CRD's published
   ``openAPIV3Schema`` (``k8s_crds/``, see its README) with ``jsonschema``, unknown fields refused
   the way ``kubectl apply --validate=strict`` refuses them; every pod template inside is
   also validated as a built-in ``v1 PodTemplate`` for each version.
3. What neither schema says (the API server checks it in Go code): DNS-1123 / DNS-1035
   names, label and annotation syntax, quantities (parsed exactly, to compare values), enum
   values, ``fieldRef`` paths, node selector operators, tolerations, container, volume and
   port names, restartPolicy per context; and Kueue's creation-time CEL rules.

Other CEL rules (``x-kubernetes-validations``) and defaults are not evaluated. The helpers
(``is_dns1123_label``, ``label_problems``, ``quantity``, ``is_port_name`` ...) are public for
tests that assert one property directly.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, all_versions

SUPPORTED_VERSIONS: tuple[str, ...] = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
CRD_DIR = Path(__file__).resolve().parent / "k8s_crds"


class ManifestInvalid(AssertionError):
    """The object would be refused; ``problems`` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def validate(obj: Mapping[str, Any], versions: Iterable[str] = SUPPORTED_VERSIONS) -> None:
    """Raise :class:`ManifestInvalid` unless ``obj`` is valid for every one of ``versions``."""
    found = problems(obj, versions)
    if found:
        raise ManifestInvalid(found)


def validate_all(objs: Iterable[Mapping[str, Any]], versions: Iterable[str] = SUPPORTED_VERSIONS) -> None:
    versions = tuple(versions)
    found = [problem for obj in objs for problem in problems(obj, versions)]
    if found:
        raise ManifestInvalid(found)


def problems(obj: Mapping[str, Any], versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[str]:
    """Every reason an API server of any of ``versions`` would refuse ``obj`` (empty: none)."""
    versions = tuple(versions)
    shipped = {v.rsplit(".", 1)[0] for v in all_versions()}
    unknown = [v for v in versions if v not in shipped]
    if unknown:
        raise ValueError(f"kubernetes-validate has no schema for {unknown}; it has {sorted(shipped)}")
    if (
        not isinstance(obj, Mapping)
        or not isinstance(obj.get("apiVersion"), str)
        or not isinstance(obj.get("kind"), str)
    ):
        return ["the object has no apiVersion and kind"]
    obj = json.loads(json.dumps(obj))  # plain dicts and lists, as they would go over the wire
    where = f"{obj['kind']} {obj.get('metadata', {}).get('name', '?')}"
    found: list[str] = []
    crd = crd_schema(obj["apiVersion"], obj["kind"])
    if crd is not None:
        found += [f"{where}: {p}" for p in _crd_errors(obj)]
        for path, embedded in _embedded_builtins(obj):
            found += [f"{where}: {path}: {p}" for p in _builtin_errors(embedded, versions)]
    else:
        found += [f"{where}: {p}" for p in _builtin_errors(obj, versions)]
    found += [f"{where}: {p}" for p in semantic_problems(obj)]
    return found


# --- layer 1: built-in kinds ------------------------------------------------------------------
def _builtin_errors(obj: dict[str, Any], versions: tuple[str, ...]) -> list[str]:
    errors: dict[str, list[str]] = {}
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top)"
            errors.setdefault(f"{path}: {exc.message}", []).append(version)
        except SchemaNotFoundError as exc:
            errors.setdefault(exc.message, []).append(version)
    return [f"{message} [Kubernetes {', '.join(vs)}]" for message, vs in errors.items()]


# --- layer 2: custom resources -----------------------------------------------------------------
def crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The stored ``openAPIV3Schema`` for ``apiVersion``/``kind``; None for a built-in kind."""
    if "/" not in api_version:
        return None
    group = api_version.split("/", 1)[0]
    path = CRD_DIR / f"{group}_{kind.lower()}.json"
    if not path.exists():
        return None
    schema = _crd_file(path).get(api_version)
    if schema is None:
        raise ValueError(f"{path.name} holds no schema for {api_version} (it has {sorted(_crd_file(path))})")
    return schema


@functools.cache
def _crd_file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = crd_schema(api_version, kind)
    assert schema is not None
    structural = _structural(copy.deepcopy(schema), root=True)
    jsonschema.Draft7Validator.check_schema(structural)  # a damaged file must not pass everything
    return jsonschema.Draft7Validator(structural)


def _crd_errors(obj: dict[str, Any]) -> list[str]:
    validator = _crd_validator(obj["apiVersion"], obj["kind"])
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message} (CRD schema)" for e in errors]


def _structural(node: Any, *, root: bool = False) -> Any:
    """A CRD schema as the API server applies it: unknown fields are errors (strict field
    validation) unless ``x-kubernetes-preserve-unknown-fields``; ``nullable`` admits null."""
    if not isinstance(node, dict):
        return node
    for key in ("properties", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _structural(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if isinstance(node.get(key), list):
            node[key] = [_structural(sub) for sub in node[key]]
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if root and isinstance(node.get("properties"), dict):
        node["properties"]["metadata"] = _OBJECT_META
        node["required"] = sorted({*node.get("required", ()), "apiVersion", "kind", "metadata"})
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


# The ObjectMeta fields a client may set (the rest are the server's).
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


def _embedded_builtins(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The built-in objects a custom resource's controller will create from its templates:
    a JobSet's Jobs, any other kind's pods (as ``v1 PodTemplate``)."""
    if obj["kind"] == "JobSet":
        for index, replicated in enumerate((obj.get("spec") or {}).get("replicatedJobs") or []):
            template = replicated.get("template") if isinstance(replicated, dict) else None
            if isinstance(template, dict):
                job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "t"}, "spec": template.get("spec")}
                yield f"spec.replicatedJobs[{index}].template", job
        return
    for path, template in _pod_templates(obj):
        yield path, {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}


def _pod_templates(obj: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every PodTemplateSpec (``{metadata?, spec: {containers: [...]}}``) inside ``obj``."""
    if isinstance(obj, dict):
        spec = obj.get("spec")
        if path and isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            yield path, obj
            return
        for key, value in obj.items():
            yield from _pod_templates(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _pod_templates(value, f"{path}[{index}]")


# --- layer 3: what the schemas miss ------------------------------------------------------------
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# k8s.io/apimachinery/pkg/api/resource: <sign><digits>[.<digits>][<binarySI>|<decimalSI>|e<exponent>]
# (ParseQuantity takes a whole-number exponent only, though the CRDs' pattern allows "1e1.5").
QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY_SI = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")
_FIELD_PATHS = {
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
}
_FIELD_PATH_KEYED = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")

# Kinds whose name is a DNS-1123 label (at most 63), DNS-1035 (a Service), or a path segment (RBAC).
_LABEL_NAMED = {"Namespace", "Job", "CronJob", "JobSet", "RayJob", "RayCluster", "StatefulSet"}
_DNS1035_NAMED = {"Service"}
# Controllers derive longer names from these (CronJob: Jobs with an 11-character suffix;
# KubeRay: MaxRayJobNameLength, MaxRayClusterNameLength in ray-operator/.../constant.go).
_MAX_NAME_LENGTH = {"CronJob": 52, "RayJob": 47, "RayCluster": 53}
_PATH_SEGMENT_NAMED = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

# Fields with one meaning wherever they appear, and the values the API server accepts.
ENUMS: dict[str, set[str]] = {
    "completionMode": {"NonIndexed", "Indexed"},
    "propagationPolicy": {"Foreground", "Background", "Orphan"},
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "terminationMessagePolicy": {"File", "FallbackToLogsOnError"},
    "dnsPolicy": {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"},
    "concurrencyPolicy": {"Allow", "Forbid", "Replace"},
    "podReplacementPolicy": {"TerminatingOrFailed", "Failed"},
    "podManagementPolicy": {"OrderedReady", "Parallel"},
    "preemptionPolicy": {"PreemptLowerPriority", "Never"},
    "sessionAffinity": {"ClientIP", "None"},
    "externalTrafficPolicy": {"Cluster", "Local"},
    "internalTrafficPolicy": {"Cluster", "Local"},
    "ipFamilyPolicy": {"SingleStack", "PreferDualStack", "RequireDualStack"},
    "protocol": {"TCP", "UDP", "SCTP"},
}
_POD_RESTART = {"Always", "OnFailure", "Never"}
_SERVICE_TYPES = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}
_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}
_LABEL_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_TAINT_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}
_QUANTITY_MAPS = {"requests", "limits", "hard", "overhead", "allocatable", "capacity"}
_QUANTITY_SCALARS = {"sizeLimit", "nominalQuota", "borrowingLimit", "lendingLimit"}
_JOB_KINDS = {"Job", "CronJob", "JobSet"}
MAX_ANNOTATIONS_BYTES = 256 * 1024


def is_quantity(value: Any) -> bool:
    """A value the API server parses as a resource.Quantity: a string in its grammar or a JSON
    integer. A JSON float is refused although the API server would parse it: what Paddock
    writes is a string or an integer, and a float there is a bug (0.1 + 0.2 is
    0.30000000000000004)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and QUANTITY.match(value) is not None


def quantity(value: str | int) -> Decimal:
    """The exact number a quantity stands for (bytes, cores), to compare values; ValueError
    when ``value`` is not a quantity (see :func:`is_quantity`)."""
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    if isinstance(value, int):
        return Decimal(value)
    match = QUANTITY.match(value)
    assert match is not None
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix in _BINARY_SI:
        return number * _BINARY_SI[suffix]
    exponent = int(suffix[1:]) if suffix[:1] in ("e", "E") else _DECIMAL_SI[suffix]
    return number.scaleb(exponent)


def is_label_value(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and _LABEL_VALUE.match(value) is not None


def is_qualified_name(key: Any) -> bool:
    """A label or annotation key: ``[prefix/]name``, prefix a DNS subdomain, name ≤ 63."""
    if not isinstance(key, str):
        return False
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and _QUALIFIED_NAME.match(name) is not None


def is_dns1123_label(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and DNS1123_LABEL.match(value) is not None


def is_dns1123_subdomain(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 253 and DNS1123_SUBDOMAIN.match(value) is not None


def is_port_name(value: Any) -> bool:
    """An IANA service name, as a container port's name or a named ``targetPort`` / probe port
    (validation.IsValidPortName): ≤ 15 of a-z0-9-, a letter, no "--", no hyphen at either end."""
    return (
        isinstance(value, str)
        and len(value) <= 15
        and _PORT_NAME.match(value) is not None
        and re.search("[a-z]", value) is not None
        and "--" not in value
        and not value.startswith("-")
        and not value.endswith("-")
    )


def label_problems(labels: Any, path: str = "labels") -> list[str]:
    """What is wrong with a map of labels (keys qualified names, values label values;
    a value that is not a string included); empty when nothing is."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [f"{path} is not a map"]
    found = [f"{path}: key {k!r} is not a qualified name" for k in labels if not is_qualified_name(k)]
    found += [f"{path}.{k}: value {v!r} is not a valid label value" for k, v in labels.items() if not is_label_value(v)]
    return found


def semantic_problems(obj: Mapping[str, Any]) -> list[str]:
    """What the API server's Go validation would refuse that no schema describes."""
    found: list[str] = []
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    found += _name_problems(kind, metadata.get("name"))
    namespace = metadata.get("namespace")
    if namespace is not None and not is_dns1123_label(namespace):
        found.append(f"metadata.namespace {namespace!r} is not a DNS-1123 label")
    _walk(obj, "", kind, found)
    if kind == "Service":
        found += _service_problems(obj.get("spec") or {})
    if kind in ("Job", "JobSet", "CronJob"):
        for path, spec in _job_specs(obj):
            found += _job_problems(path, spec)
    if str(obj.get("apiVersion", "")).startswith("kueue.x-k8s.io/"):
        found += _kueue_problems(kind, obj.get("spec") or {})
    return found


def _name_problems(kind: str, name: Any) -> list[str]:
    if not isinstance(name, str) or not name:
        return ["metadata.name is missing"]
    if kind in _PATH_SEGMENT_NAMED:
        ok = name not in (".", "..") and "/" not in name and "%" not in name
        return [] if ok else [f"metadata.name {name!r} is not a valid path segment"]
    if kind in _DNS1035_NAMED:
        ok = len(name) <= 63 and DNS1035_LABEL.match(name) is not None
        return [] if ok else [f"metadata.name {name!r} is not a DNS-1035 label (a-z first, then a-z0-9-, ≤ 63)"]
    if kind in _LABEL_NAMED:
        if not is_dns1123_label(name):
            return [f"metadata.name {name!r} is not a DNS-1123 label (a-z0-9-, ≤ 63)"]
        limit = _MAX_NAME_LENGTH.get(kind, 63)
        return [] if len(name) <= limit else [f"metadata.name is {len(name)} characters; a {kind} has at most {limit}"]
    ok = len(name) <= 253 and DNS1123_SUBDOMAIN.match(name) is not None
    return [] if ok else [f"metadata.name {name!r} is not a DNS-1123 subdomain"]


def _walk(node: Any, path: str, kind: str, found: list[str]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{path}[{index}]", kind, found)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("containers"), list):
        found += _pod_spec_problems(path, node, kind)
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if key == "metadata" and isinstance(value, dict):
            found += _meta_problems(here, value)
        elif key in ("labels", "matchLabels", "nodeLabels") and isinstance(value, dict) and not _is_nested(value):
            found += label_problems(value, here)
        elif key in ("nodeSelector", "selector") and _is_string_map(value):
            found += label_problems(value, here)
        elif key in _QUANTITY_MAPS and isinstance(value, dict) and not _is_nested(value):
            found += [
                f"{here}.{name}: {amount!r} is not a Kubernetes quantity"
                for name, amount in value.items()
                if not is_quantity(amount)
            ]
        elif key in _QUANTITY_SCALARS and not isinstance(value, dict | list):
            if not is_quantity(value):
                found.append(f"{here}: {value!r} is not a Kubernetes quantity")
            elif quantity(value) < 0:
                found.append(f"{here}: {value!r} is negative")
        elif key in ENUMS and isinstance(value, str) and value not in ENUMS[key]:
            found.append(f"{here}: {value!r} is not one of {sorted(ENUMS[key])}")
        elif key == "fieldRef" and isinstance(value, dict):
            found += _field_ref_problems(here, value.get("fieldPath"))
        elif key in ("nodeSelectorTerms", "preference"):
            found += _node_selector_problems(here, value)
        elif key == "matchExpressions" and "nodeSelector" not in path and "nodeSelectorTerms" not in path:
            found += _expressions_problems(here, value, _LABEL_SELECTOR_OPERATORS)
        elif key == "tolerations" and isinstance(value, list):
            found += _toleration_problems(here, value)
        _walk(value, here, kind, found)


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_nested(value: dict[str, Any]) -> bool:
    return any(isinstance(v, dict | list) for v in value.values())


def _meta_problems(path: str, meta: dict[str, Any]) -> list[str]:
    found = []
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, dict):
        found += [
            f"{path}.annotations: key {k!r} is not a qualified name" for k in annotations if not is_qualified_name(k)
        ]
        size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
        if size > MAX_ANNOTATIONS_BYTES:
            found.append(f"{path}.annotations hold {size} bytes; at most {MAX_ANNOTATIONS_BYTES}")
    return found


def _field_ref_problems(path: str, field_path: Any) -> list[str]:
    if field_path in _FIELD_PATHS:
        return []
    match = _FIELD_PATH_KEYED.match(field_path or "")
    if match and is_qualified_name(match.group(2)):
        return []
    return [f"{path}.fieldPath {field_path!r} is not a field the downward API exposes"]


def _node_selector_problems(path: str, terms: Any) -> list[str]:
    found = []
    for index, term in enumerate(terms if isinstance(terms, list) else [terms]):
        if not isinstance(term, dict):
            continue
        where = f"{path}[{index}]" if isinstance(terms, list) else path
        found += _expressions_problems(f"{where}.matchExpressions", term.get("matchExpressions"), _SELECTOR_OPERATORS)
        found += _expressions_problems(f"{where}.matchFields", term.get("matchFields"), _SELECTOR_OPERATORS)
    return found


def _expressions_problems(path: str, expressions: Any, operators: set[str]) -> list[str]:
    found = []
    for index, expression in enumerate(expressions or []):
        if not isinstance(expression, dict):
            continue
        where, operator, values = f"{path}[{index}]", expression.get("operator"), expression.get("values") or []
        if not is_qualified_name(expression.get("key")):
            found.append(f"{where}.key {expression.get('key')!r} is not a qualified name")
        if operator not in operators:
            found.append(f"{where}.operator {operator!r} is not one of {sorted(operators)}")
        elif operator in ("In", "NotIn") and not values:
            found.append(f"{where}: operator {operator} needs values")
        elif operator in ("Exists", "DoesNotExist") and values:
            found.append(f"{where}: operator {operator} takes no values")
        elif operator in ("Gt", "Lt") and (len(values) != 1 or not str(values[0]).lstrip("-").isdigit()):
            found.append(f"{where}: operator {operator} takes exactly one integer value")
        if operator in ("In", "NotIn"):  # a node label value too: anything else never matches
            found += [f"{where}.values: {v!r} is not a valid label value" for v in values if not is_label_value(v)]
    return found


def _toleration_problems(path: str, tolerations: list[Any]) -> list[str]:
    found = []
    for index, toleration in enumerate(tolerations):
        where = f"{path}[{index}]"
        if not isinstance(toleration, dict):
            found.append(f"{where} is not an object")
            continue
        key, operator = toleration.get("key", ""), toleration.get("operator", "Equal")
        if key and not is_qualified_name(key):
            found.append(f"{where}.key {key!r} is not a qualified name")
        if operator not in ("Exists", "Equal"):
            found.append(f"{where}.operator {operator!r} is not Exists or Equal")
        if operator == "Exists" and toleration.get("value"):
            found.append(f"{where}: operator Exists takes no value")
        if not key and operator != "Exists":
            found.append(f"{where}: a toleration without a key must use operator Exists")
        if toleration.get("effect", "") not in _TAINT_EFFECTS:
            found.append(f"{where}.effect {toleration.get('effect')!r} is not one of {sorted(_TAINT_EFFECTS)}")
        if toleration.get("tolerationSeconds") is not None and toleration.get("effect") != "NoExecute":
            found.append(f"{where}: tolerationSeconds needs effect NoExecute")
    return found


def _pod_spec_problems(path: str, spec: dict[str, Any], kind: str) -> list[str]:
    found: list[str] = []
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in _POD_RESTART:
        found.append(f"{path}.restartPolicy {restart!r} is not one of {sorted(_POD_RESTART)}")
    if kind in _JOB_KINDS and restart not in ("Never", "OnFailure"):
        found.append(f"{path}.restartPolicy must be Never or OnFailure in a {kind} (is {restart!r})")
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for volume in spec.get("volumes") or []:
        if not is_dns1123_label(volume.get("name")):
            found.append(f"{path}.volumes: name {volume.get('name')!r} is not a DNS-1123 label")
    names: list[str] = []
    containers = [("initContainers", c) for c in spec.get("initContainers") or []]
    containers += [("containers", c) for c in spec.get("containers") or []]
    for index, (field, container) in enumerate(containers):
        if not isinstance(container, dict):
            continue
        where = f"{path}.{field}[{container.get('name', index)}]"
        name = container.get("name")
        if not is_dns1123_label(name):
            found.append(f"{where}: name {name!r} is not a DNS-1123 label")
        if name in names:
            found.append(f"{where}: container name {name!r} is used twice in one pod")
        names.append(name)
        container_restart = container.get("restartPolicy")
        if container_restart is not None and (field != "initContainers" or container_restart != "Always"):
            found.append(f"{where}.restartPolicy {container_restart!r}: only init containers may set it (Always)")
        env_names = [e.get("name") for e in container.get("env") or [] if isinstance(e, dict)]
        found += [f"{where}.env: {n!r} is not a valid variable name" for n in env_names if not _ENV_NAME.match(n or "")]
        found += [f"{where}.env: {n!r} is set twice" for n in sorted({n for n in env_names if env_names.count(n) > 1})]
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                found.append(f"{where}.volumeMounts: {mount.get('name')!r} names no volume of the pod")
            if not str(mount.get("mountPath", "")).startswith("/"):
                found.append(f"{where}.volumeMounts: mountPath {mount.get('mountPath')!r} is not absolute")
        for port in container.get("ports") or []:
            if "name" in port and not is_port_name(port["name"]):
                found.append(f"{where}.ports: name {port['name']!r} is not an IANA service name (≤ 15)")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            for handler in ("httpGet", "tcpSocket"):
                port = ((container.get(probe) or {}).get(handler) or {}).get("port")
                if isinstance(port, str) and not is_port_name(port):
                    found.append(f"{where}.{probe}.{handler}.port {port!r} is not a port name")
        found += _resource_problems(where, container.get("resources") or {})
    for field in ("subdomain", "hostname"):
        if field in spec and not is_dns1123_label(spec[field]):
            found.append(f"{path}.{field} {spec[field]!r} is not a DNS-1123 label")
    return found


def _resource_problems(where: str, resources: dict[str, Any]) -> list[str]:
    found: list[str] = []
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name in sorted(set(requests) | set(limits)):
        request, limit = requests.get(name), limits.get(name)
        if not all(v is None or is_quantity(v) for v in (request, limit)):
            continue  # reported by the quantity check
        values = [quantity(v) for v in (request, limit) if v is not None]
        if any(v < 0 for v in values):
            found.append(f"{where}.resources.{name} is negative")
        extended = "/" in name and not name.startswith(("kubernetes.io/", "requests."))
        if extended or name.startswith("hugepages-"):
            if request is not None and limit is not None and quantity(request) != quantity(limit):
                found.append(f"{where}.resources.{name}: requests must equal limits for {name}")
            if extended and limit is None:
                found.append(f"{where}.resources.{name}: an extended resource needs a limit")
            if extended and any(v != v.to_integral_value() for v in values):
                found.append(f"{where}.resources.{name} must be a whole number")
        elif request is not None and limit is not None and quantity(request) > quantity(limit):
            found.append(f"{where}.resources.{name}: request {request!r} is above the limit {limit!r}")
    return found


def _service_problems(spec: dict[str, Any]) -> list[str]:
    found = []
    if spec.get("type", "ClusterIP") not in _SERVICE_TYPES:
        found.append(f"spec.type {spec.get('type')!r} is not one of {sorted(_SERVICE_TYPES)}")
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
        found.append("spec.ports: a Service that is not headless needs at least one port")
    if len(ports) > 1 and any(not p.get("name") for p in ports):
        found.append("spec.ports: every port needs a name when there are several")
    for port in ports:
        if "name" in port and not is_dns1123_label(port["name"]):
            found.append(f"spec.ports: name {port['name']!r} is not a DNS-1123 label")
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            found.append(f"spec.ports: port {number!r} is not in 1-65535")
        target = port.get("targetPort")
        if isinstance(target, str) and not is_port_name(target):
            found.append(f"spec.ports: targetPort {target!r} is not a port name")
    return found


def _job_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Job":
        yield "spec", spec
    elif obj["kind"] == "CronJob":
        yield "spec.jobTemplate.spec", (spec.get("jobTemplate") or {}).get("spec") or {}
    else:
        for index, replicated in enumerate(spec.get("replicatedJobs") or []):
            yield f"spec.replicatedJobs[{index}].template.spec", (replicated.get("template") or {}).get("spec") or {}


def _job_problems(path: str, spec: dict[str, Any]) -> list[str]:
    found = []
    for field in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds", "parallelism", "completions"):
        value = spec.get(field)
        if value is not None and (not isinstance(value, int) or value < 0):
            found.append(f"{path}.{field} {value!r} must be a whole number ≥ 0")
    if spec.get("completionMode") == "Indexed":
        completions = spec.get("completions")
        if not isinstance(completions, int) or completions < 1:
            found.append(f"{path}: an Indexed Job needs completions ≥ 1")
        elif completions > 100_000:
            found.append(f"{path}: an Indexed Job has at most 100000 completions")
    return found


def _kueue_problems(kind: str, spec: dict[str, Any]) -> list[str]:
    """Kueue's CEL rules (and its webhook's) that a new object must pass; the ``oldSelf`` ones
    govern updates and are left out."""
    found: list[str] = []
    resources: list[dict[str, Any]] = []
    for g, group in enumerate((spec.get("resourceGroups") or []) if kind in ("ClusterQueue", "Cohort") else []):
        for flavor in group.get("flavors") or []:
            resources += flavor.get("resources") or []
            # CEL: size(resources) == size(coveredResources); the webhook wants the same order.
            if [r.get("name") for r in flavor.get("resources") or []] != group.get("coveredResources"):
                found.append(
                    f"spec.resourceGroups[{g}]: flavor {flavor.get('name')!r} does not follow coveredResources"
                )
    if kind == "ClusterQueue":
        if "cohortName" not in spec and any("borrowingLimit" in r for r in resources):
            found.append("spec: borrowingLimit must be nil when cohort is empty")
        fungibility = spec.get("flavorFungibility") or {}
        choices = {fungibility.get("whenCanBorrow"), fungibility.get("whenCanPreempt")}
        if "preference" in fungibility and choices != {"TryNextFlavor"}:
            found.append("spec.flavorFungibility: preference needs whenCanBorrow and whenCanPreempt TryNextFlavor")
        preemption = spec.get("preemption") or {}
        borrow = (preemption.get("borrowWithinCohort") or {}).get("policy", "Never")
        if preemption.get("reclaimWithinCohort") == "Never" and borrow != "Never":
            found.append("spec.preemption: reclaimWithinCohort=Never and borrowWithinCohort.policy!=Never")
    if kind == "ResourceFlavor" and "topologyName" in spec and not spec.get("nodeLabels"):
        found.append("spec: at least one nodeLabel is required when topology is set")
    return found
