"""One path from a validated submission to the request ``submit_job`` takes, for the jobs API
and for the job templates built on it (``apps.checkpoints``)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied, ValidationError

from apps.inventory.catalog import Matcher
from apps.inventory.choices import ClusterKind
from apps.inventory.models import AcceleratorModel, Cluster
from apps.inventory.services import kubernetes_options
from apps.jobs import services
from apps.jobs.choices import JobRuntime
from apps.planner import services as planner
from apps.planner.estimator import SpecError
from apps.quotas.models import PriorityClass
from apps.quotas.pools import pool_for
from apps.tenancy.choices import WRITE_ROLES
from apps.tenancy.models import Team

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(headers: Any) -> str | None:
    """The request's ``Idempotency-Key`` (None without one); a 400 when it is too long."""
    key = headers.get(IDEMPOTENCY_HEADER) or None
    if key is not None and len(key) > 255:
        raise ValidationError({IDEMPOTENCY_HEADER: ["At most 255 characters."]})
    return key


def prepare_submission(data: dict[str, Any], *, roles: dict[int, str]) -> services.JobRequest:
    """A submission checked against everything the job names (team and role, cluster, packages,
    priority class, accelerators, the planner's fit, and what the cluster's hardware could ever
    give it: see ``apps.admission.feasibility``) as the request the service takes; raises a 400
    naming the field, or a 403 for a role that may not submit."""
    team = Team.objects.filter(slug=data["team"], pk__in=list(roles)).select_related("default_cluster").first()
    if team is None:
        raise ValidationError({"team": [f"Unknown team {data['team']!r} (or you are not a member)."]})
    if roles.get(team.pk) not in WRITE_ROLES:
        raise PermissionDenied(f"Your role in this team ({roles.get(team.pk)}) cannot submit jobs.")
    cluster = _resolve_cluster(team, data.get("cluster"))
    runtime = data.get("runtime") or JobRuntime.PROCESS
    on_kubernetes = cluster.kind == ClusterKind.KUBERNETES
    if runtime == JobRuntime.RAY and on_kubernetes and not kubernetes_options(cluster).has_kuberay:
        raise ValidationError(
            {
                "runtime": [
                    f"Cluster {cluster.name} has no KubeRay (its settings lack has_kuberay): a job that needs a "
                    "Ray cluster of its own cannot run there."
                ]
            }
        )
    runtime_env = dict(data.get("runtime_env") or {})
    package_problems = services.package_problems(team, runtime_env)
    if package_problems:
        raise ValidationError({"runtime_env": package_problems})

    resources = data.get("resources") or {}
    priority, priority_class = data["priority"], None
    if data.get("priority_class"):
        priority_class = PriorityClass.objects.filter(
            organisation_id=team.organisation_id, name=data["priority_class"]
        ).first()
        if priority_class is None:
            raise ValidationError(
                {"priority_class": [f"Unknown priority class {data['priority_class']!r} for team {team.slug}."]}
            )
        priority = priority_class.value
    plan = _check_plan(team, data, resources) if "model" in data else {}
    models = tuple(resources.get("accelerator_models") or ())
    min_memory = resources.get("min_gpu_memory_gb")
    only = _check_accepted(models, min_memory)
    gpus, accelerator = resources.get("gpus", 0.0), only or resources.get("accelerator_model", "")
    pool = pool_for(cluster.pk, gpus, accelerator, models, min_memory)  # its first choice until admitted
    job_request = services.JobRequest(
        name=data["name"],
        team=team,
        cluster=cluster,
        kind=data["kind"],
        entrypoint=data["entrypoint"],
        runtime_env=runtime_env,
        cpus=resources.get("cpus", 1.0),
        gpus=resources.get("gpus", 0.0),
        accelerator_model=accelerator,
        accelerator_models=models if len(models) > 1 else (),
        min_gpu_memory_gb=min_memory,
        memory_gb=resources.get("memory_gb", 0.0),
        max_retries=data["max_retries"],
        retry_on_error=data.get("retry_on_error", False),
        runtime=runtime,
        checkpoint_policy=dict(data.get("checkpoint_policy") or {}),
        max_runtime_seconds=data.get("max_runtime_seconds"),
        priority=priority,
        priority_class=priority_class,
        pool=pool,
        plan=plan,
    )
    never = services.never_runs(job_request)
    if never:
        raise ValidationError(never)
    return job_request


def _check_accepted(models: tuple[str, ...], min_memory: float | None) -> str:
    """400 for models the catalog does not know, or a memory no GPU of the catalog has.
    Returns, for a list of one model, the name Ray knows it by (the job then names one model)."""
    only = ""
    if models:
        matcher = Matcher.load()
        found = [matcher.match(name) for name in models]
        unknown = [name for name, model in zip(models, found, strict=True) if model is None]
        if unknown:
            raise ValidationError(
                {"resources": {"accelerator_models": [f"Unknown accelerator model: {', '.join(unknown)}."]}}
            )
        if len(models) == 1 and found[0] is not None:
            only = found[0].ray_accelerator_type or models[0]
    if min_memory is not None and not AcceleratorModel.objects.filter(memory_gb__gte=min_memory).exists():
        raise ValidationError(
            {"resources": {"min_gpu_memory_gb": [f"No GPU in the catalog has {min_memory:g} GB or more."]}}
        )
    return only


def _check_plan(team: Team, data: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    """Ask the planner whether the job fits the GPUs it asks for; refuse it (400) when it
    does not, unless the submitter overrides. Returns what the job records as its plan."""
    accelerator = resources.get("accelerator_model", "")
    gpus = resources.get("gpus", 0.0)
    problems: dict[str, list[str]] = {}
    if not accelerator:
        problems["accelerator_model"] = ["Name the accelerator, so the planner can check that the job fits it."]
    if gpus < 1:
        problems["gpus"] = ["A job with a model and workload needs at least one whole GPU."]
    if problems:
        raise ValidationError({"resources": problems})
    try:
        check = planner.check_fit(
            model=data["model"],
            workload=data["workload"],
            accelerator=accelerator,
            gpus=int(gpus),
            organisation_ids=[team.organisation_id],
        )
    except SpecError as exc:
        errors = dict(exc.errors)
        hardware = errors.pop("hardware", {})
        if hardware:  # the job names its hardware in resources, not in a hardware object
            renamed = {"accelerator": "accelerator_model", "gpus": "gpus"}
            errors["resources"] = {renamed.get(key, key): value for key, value in hardware.items()}
        raise ValidationError(errors) from exc
    if not check.fits and not data["override_planner"]:
        raise ValidationError(
            {
                "plan": [
                    check.explanation,
                    check.alternative,
                    "Change the resources or the workload, or override the planner to submit it anyway.",
                ]
            }
        )
    return {
        "model": data["model"],
        "workload": data["workload"],
        **check.summary,
        "explanation": check.explanation,
        "overridden": not check.fits,
    }


def _resolve_cluster(team: Team, name: str | None) -> Cluster:
    """The cluster the job goes to: the one named, else the team's default, else the only
    one the team may use. A cluster of another organisation exists for the team only when
    it lists the team; one of its own organisation that does not take it is refused."""
    usable = Cluster.objects.usable_by_team(team)
    if name:
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None or (
            cluster.organisation_id != team.organisation_id and not usable.filter(pk=cluster.pk).exists()
        ):
            raise ValidationError({"cluster": [f"Unknown cluster {name!r} for team {team.slug}."]})
    elif team.default_cluster is not None:
        cluster = team.default_cluster
    else:
        only = list(usable[:2])
        if len(only) != 1:
            raise ValidationError({"cluster": ["This team has no default cluster: name one."]})
        cluster = only[0]
    if not usable.filter(pk=cluster.pk).exists():
        raise ValidationError(
            {
                "cluster": [
                    f"Team {team.slug} may not use cluster {cluster.name}: it takes jobs only from the "
                    "teams its organisation's admins allow."
                ]
            }
        )
    if cluster.kind not in RUNNABLE_KINDS:
        raise ValidationError(
            {"cluster": [f"Cluster {cluster.name} is of kind {cluster.kind}, which cannot run jobs yet."]}
        )
    return cluster


RUNNABLE_KINDS = {"ray", "kubernetes"}
