"""Built-in job templates: a recipe a user submits with a few parameters.

``fine_tuning/lora``: LoRA fine-tuning of a causal LM (``paddock.recipes.lora``, shipped to the
job with the rest of the ``paddock`` package). A template turns its parameters into an ordinary
job submission — the same checks, queue, quotas and retries as any job — and records what the
job starts from (its lineage).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from apps.checkpoints import storage as stores
from apps.checkpoints.models import ModelVersion
from apps.inventory.models import StorageBackend
from apps.tenancy.models import Team

VERSION_REF = re.compile(r"^version:(\d+)$")
PATH_LIKE = re.compile(r"^(/|file://|s3://|https://)")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "string" | "integer" | "number"
    default: Any
    help: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "help": self.help,
            "required": self.required,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


LORA_PARAMETERS = (
    Parameter(
        "base_model",
        "string",
        None,
        "A registered model version (version:<id>) or the path/URI of a Hugging Face model directory",
        required=True,
    ),
    Parameter(
        "dataset",
        "string",
        None,
        'A JSONL file ({"text": …} or {"prompt": …, "completion": …} per line): a path, file://, s3:// or https:// URI',
        required=True,
    ),
    Parameter("rank", "integer", 8, "LoRA rank", minimum=1, maximum=1024),
    Parameter("alpha", "integer", 16, "LoRA alpha (scaling = alpha / rank)", minimum=1, maximum=4096),
    Parameter("learning_rate", "number", 2e-4, "AdamW learning rate", minimum=1e-8, maximum=1.0),
    Parameter("steps", "integer", 100, "Optimizer steps", minimum=1, maximum=10_000_000),
    Parameter("batch_size", "integer", 4, "Sequences per step", minimum=1, maximum=4096),
    Parameter("seq_len", "integer", 256, "Tokens per sequence", minimum=8, maximum=131_072),
    Parameter("checkpoint_every", "integer", 20, "Save a checkpoint every this many steps", minimum=1),
    Parameter("model_name", "string", "", "The registry model its result becomes (default: the job's name)"),
    Parameter("seed", "integer", 0, "Seed for data order and initialisation", minimum=0, maximum=2**31 - 1),
    Parameter(
        "planner_model",
        "string",
        "",
        "For the planner's estimate: a known model (e.g. llama-3-8b) when the base model's config.json "
        "is not on a registered storage",
    ),
)


@dataclass(frozen=True)
class Template:
    id: str
    slug: str
    kind: str
    title: str
    description: str
    parameters: tuple[Parameter, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "parameters": [p.as_dict() for p in self.parameters],
        }


LORA = Template(
    id="fine_tuning/lora",
    slug="lora",
    kind="fine_tuning",
    title="LoRA fine-tuning of a causal LM",
    description=(
        "Trains a LoRA adapter on a JSONL dataset (torch + transformers + peft; CUDA and bf16 on a GPU, "
        "fp32 on a CPU), checkpoints every few steps to the team's storage, resumes from the latest "
        "checkpoint after a failure or a preemption, reports loss and tokens/s, and registers a model "
        "version when it ends."
    ),
    parameters=LORA_PARAMETERS,
)
TEMPLATES = {LORA.slug: LORA}


class TemplateError(Exception):
    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class Expanded:
    config: dict[str, Any]
    entrypoint: str
    base_version: ModelVersion | None
    base_uri: str
    model_name: str


def check_parameters(template: Template, values: Any, *, team: Team) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise TemplateError({"parameters": ["Give an object of parameters."]})
    known = {p.name: p for p in template.parameters}
    errors: dict[str, list[str]] = {}
    for name in values:
        if name not in known:
            errors[str(name)] = [f"{template.id} has no parameter {name!r}."]
    checked: dict[str, Any] = {}
    for parameter in template.parameters:
        value = values.get(parameter.name, parameter.default)
        if value is None or value == "":
            if parameter.required:
                errors[parameter.name] = ["Required."]
            else:
                checked[parameter.name] = parameter.default
            continue
        if parameter.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                errors[parameter.name] = ["Give a whole number."]
                continue
        elif parameter.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors[parameter.name] = ["Give a number."]
                continue
            value = float(value)
        elif not isinstance(value, str) or len(value) > 1000:
            errors[parameter.name] = ["Give text of at most 1,000 characters."]
            continue
        if parameter.minimum is not None and value < parameter.minimum:
            errors[parameter.name] = [f"At least {parameter.minimum:g}."]
            continue
        if parameter.maximum is not None and value > parameter.maximum:
            errors[parameter.name] = [f"At most {parameter.maximum:g}."]
            continue
        checked[parameter.name] = value
    for name in ("base_model", "dataset"):
        value = checked.get(name)
        if isinstance(value, str) and not (
            PATH_LIKE.match(value) or (name == "base_model" and VERSION_REF.match(value))
        ):
            hint = "version:<id>, " if name == "base_model" else ""
            errors[name] = [f"Give {hint}an absolute path, or a file://, s3:// or https:// URI."]
    if errors:
        raise TemplateError(errors)
    return checked


def expand(template: Template, values: Any, *, team: Team, job_name: str) -> Expanded:
    checked = check_parameters(template, values, team=team)
    base_version = None
    base_uri = checked["base_model"]
    match = VERSION_REF.match(base_uri)
    if match:
        base_version = (
            ModelVersion.objects.select_related("model").filter(pk=int(match.group(1)), model__team=team).first()
        )
        if base_version is None:
            raise TemplateError({"base_model": [f"Team {team.slug} has no model version {match.group(1)}."]})
        base_uri = base_version.uri
    model_name = checked["model_name"] or job_name
    config = {
        "base_model": base_uri,
        "dataset": checked["dataset"],
        "rank": checked["rank"],
        "alpha": checked["alpha"],
        "learning_rate": checked["learning_rate"],
        "steps": checked["steps"],
        "batch_size": checked["batch_size"],
        "seq_len": checked["seq_len"],
        "checkpoint_every": checked["checkpoint_every"],
        "model_name": model_name,
        "seed": checked["seed"],
    }
    entrypoint = "python -m paddock.recipes.lora --config " + shlex.quote(json.dumps(config, separators=(",", ":")))
    return Expanded(
        config=config,
        entrypoint=entrypoint,
        base_version=base_version,
        base_uri="" if base_version is not None else base_uri,
        model_name=model_name,
    )


# --- the planner's view of it ----------------------------------------------------------------
CONFIG_MAX_BYTES = 256 * 1024


def base_architecture(team: Team, uri: str) -> dict[str, Any] | None:
    """The base model's architecture for the planner, from its ``config.json`` — only when the
    model lies on a storage backend registered to the team's organisation (Paddock never reads
    a path a user names anywhere else)."""
    try:
        normal = stores.normalise(uri if "://" in uri else "file://" + uri, directory=True)
    except ValueError:
        return None
    for backend in StorageBackend.objects.filter(organisation_id=team.organisation_id).order_by("name"):
        try:
            if not stores.within(stores.root_uri(backend), normal):
                continue
            store = stores.store_for(backend)
            files = {f.path: f.size for f in store.files(normal)}
            if files.get("config.json", CONFIG_MAX_BYTES + 1) > CONFIG_MAX_BYTES:
                return None
            config = json.loads(b"".join(store.read(normal, "config.json")))
        except (stores.StorageError, ValueError, OSError):
            return None
        return architecture_from_config(config)
    return None


def architecture_from_config(config: Any) -> dict[str, Any] | None:
    if not isinstance(config, dict):
        return None
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        heads = int(config["num_attention_heads"])
        vocab = int(config["vocab_size"])
    except (KeyError, TypeError, ValueError):
        return None
    architecture: dict[str, Any] = {"hidden": hidden, "layers": layers, "heads": heads, "vocab": vocab}
    if config.get("num_key_value_heads"):
        architecture["kv_heads"] = int(config["num_key_value_heads"])
    if config.get("intermediate_size"):
        architecture["intermediate"] = int(config["intermediate_size"])
    architecture["tied_embeddings"] = bool(config.get("tie_word_embeddings", False))
    return architecture


def planner_spec(expanded: Expanded, values: dict[str, Any], *, team: Team) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model, workload) for the planner; TemplateError when it cannot tell the model's size."""
    architecture = base_architecture(team, expanded.config["base_model"])
    named = str(values.get("planner_model") or "")
    if architecture is not None:
        model: dict[str, Any] = {"architecture": architecture}
    elif named:
        model = {"name": named}
    else:
        raise TemplateError(
            {
                "planner_model": [
                    "The planner cannot read this base model's config.json (it is not on a registered storage): "
                    "name a known model of the same size (e.g. llama-3-8b)."
                ]
            }
        )
    config = expanded.config
    workload = {
        "mode": "lora",
        "batch": config["batch_size"],
        "seq": config["seq_len"],
        "lora_rank": config["rank"],
        "tokens": float(config["steps"] * config["batch_size"] * config["seq_len"]),
    }
    return model, workload
