"""The `paddock` CLI against a live Paddock: what a CI pipeline runs."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from typing import Any

import pytest

from paddock.cli import main, parse_duration
from tests.conftest import token_for


@pytest.mark.ray
@pytest.mark.worker
def test_submit_wait_follows_the_log_and_exits_with_the_outcome(live: Any, live_server: Any, capsys: Any) -> None:
    token = token_for(live.member)
    base = ["--url", live_server.url, "--token", token]
    ok = main(
        [
            *base,
            "submit",
            "--name",
            "ci",
            "--team",
            "demo",
            "--env",
            "WHO=ci",
            "--wait",
            "--",
            "python",
            "-c",
            "import os; print('hi', os.environ['WHO'])",
        ]
    )
    out = capsys.readouterr()
    assert ok == 0, out.err
    assert "hi ci" in out.out
    assert "succeeded" in out.err

    failed = main(
        [*base, "submit", "--name", "ci-fail", "--team", "demo", "--wait", "--", "python", "-c", "raise SystemExit(4)"]
    )
    assert failed == 4  # the job's own exit code
    assert "failed: exit code 4" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_bad_input_prints_the_field_errors_and_exits_2(world: Any, live_server: Any, capsys: Any) -> None:
    token = token_for(world.member)
    code = main(["--url", live_server.url, "--token", token, "submit", "--name", "x", "--team", "nope", "--", "true"])
    assert code == 2
    assert "Unknown team" in capsys.readouterr().err
    assert main(["--url", live_server.url, "--token", "pdk_bad.bad", "list"]) == 4  # a refused token


@pytest.mark.django_db(transaction=True)
def test_plan_prints_the_estimate_and_require_fit_fails_a_pipeline(
    world: Any, live_server: Any, catalog: Any, tmp_path: Any, capsys: Any
) -> None:
    base = ["--url", live_server.url, "--token", token_for(world.member)]
    small = {"model": {"name": "llama-2-7b"}, "workload": {"mode": "lora"}, "hardware": {"accelerator": "H100"}}
    big = {**small, "model": {"name": "llama-2-70b"}, "workload": {"mode": "full_finetune"}}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([small, big]))
    assert main([*base, "plan", "--json", str(spec)]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [answer["fits"] for answer in answers] == [True, False]
    assert main([*base, "plan", "--require-fit", str(spec)]) == 1

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"model": big["model"], "workload": big["workload"]}))
    submit = [*base, "submit", "--name", "big", "--team", "alpha", "--gpus", "1", "--accelerator", "H100"]
    assert main([*submit, "--plan", str(plan), "--", "python", "train.py"]) == 2
    assert "Does not fit" in capsys.readouterr().err
    assert main([*submit, "--plan", str(plan), "--override-planner", "--", "python", "train.py"]) == 0


def make_project(root: Any) -> Any:
    """A working directory with things a package must leave out."""
    (root / "src").mkdir(parents=True)
    (root / "main.py").write_text("print(open('src/greeting.txt').read())\n")
    (root / "src" / "greeting.txt").write_text("hello\n")
    (root / "data").mkdir()
    (root / "data" / "shard-0.bin").write_bytes(b"\0" * 1000)
    (root / "train.log").write_text("old run\n")
    (root / ".gitignore").write_text("# local things\ndata/\n*.log\n")
    return root


def zip_names(data: bytes) -> set[str]:
    import io
    import zipfile

    return set(zipfile.ZipFile(io.BytesIO(data)).namelist())


def test_workdir_outside_git_leaves_out_dot_git_and_what_gitignore_says(tmp_path: Any) -> None:
    from paddock.workdir import package_directory

    project = make_project(tmp_path / "project")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n")
    os.mkfifo(project / "src" / "pipe")  # never read (it would block forever)

    package = package_directory(project)

    assert zip_names(package.data) == {".gitignore", "main.py", "src/greeting.txt"}
    assert package_directory(project).sha256 == package.sha256  # the same files, the same bytes


def test_workdir_in_a_git_work_tree_packs_what_git_would_commit(tmp_path: Any) -> None:
    from paddock.workdir import package_directory

    repo = tmp_path / "repo"
    project = make_project(repo / "project")
    (project / "src" / ".gitignore").write_text("secret.txt\n")  # nested ignores count too
    (project / "src" / "secret.txt").write_text("token\n")
    (repo / "elsewhere.py").write_text("")  # outside the directory packed
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "project/main.py"], check=True)

    package = package_directory(project)

    assert zip_names(package.data) == {".gitignore", "main.py", "src/.gitignore", "src/greeting.txt"}


def test_workdir_too_big_is_refused_naming_the_largest_files(tmp_path: Any) -> None:
    from paddock.workdir import PackageTooBig, package_directory

    project = tmp_path / "project"
    project.mkdir()
    (project / "weights.bin").write_bytes(os.urandom(50_000))
    (project / "main.py").write_text("print(1)\n")

    with pytest.raises(PackageTooBig) as raised:
        package_directory(project, max_bytes=20_000)

    assert "weights.bin" in str(raised.value)


@pytest.mark.django_db(transaction=True)
def test_submit_workdir_uploads_the_directory_and_runs_the_job_in_it(
    world: Any, live_server: Any, fake_backend: Any, tmp_path: Any, capsys: Any
) -> None:
    from apps.jobs.models import CodePackage, Job

    project = make_project(tmp_path / "project")
    base = ["--url", live_server.url, "--token", token_for(world.member)]
    submit = [*base, "submit", "--name", "shipped", "--team", "alpha", "--workdir", str(project)]

    assert main([*submit, "--", "python", "main.py"]) == 0, capsys.readouterr().err
    assert main([*submit, "--", "python", "main.py"]) == 0  # unchanged: the same package

    package = CodePackage.objects.get()
    assert zip_names(bytes(CodePackage.objects.values_list("content", flat=True).get())) == {
        ".gitignore",
        "main.py",
        "src/greeting.txt",
    }
    jobs = list(Job.objects.order_by("id"))
    assert [job.runtime_env for job in jobs] == [{"working_dir": package.uri}] * 2
    spec = fake_backend.spec_of(fake_backend.list_remote_ids()[0])
    from apps.jobs.services import client_package

    assert list(spec.packages) == [package.uri, client_package().uri]  # and Paddock's reporting client


@pytest.mark.django_db(transaction=True)
def test_submit_workdir_too_big_uploads_nothing(
    world: Any, live_server: Any, tmp_path: Any, capsys: Any, monkeypatch: Any
) -> None:
    from apps.jobs.models import CodePackage, Job

    project = make_project(tmp_path / "project")
    (project / "checkpoint.pt").write_bytes(os.urandom(50_000))
    monkeypatch.setenv("PADDOCK_PACKAGE_MAX_BYTES", "20000")
    base = ["--url", live_server.url, "--token", token_for(world.member)]

    code = main([*base, "submit", "--name", "big", "--team", "alpha", "--workdir", str(project), "--", "true"])

    assert code == 2
    assert "checkpoint.pt" in capsys.readouterr().err
    assert CodePackage.objects.count() == 0 and Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_working_dir_takes_a_uri_not_a_path(world: Any, live_server: Any, capsys: Any) -> None:
    from apps.jobs.models import Job

    base = ["--url", live_server.url, "--token", token_for(world.member), "submit", "--name", "w", "--team", "alpha"]

    assert main([*base, "--working-dir", "/srv/code", "--", "true"]) == 2
    assert "--workdir" in capsys.readouterr().err
    assert main([*base, "--working-dir", "s3://bucket/code.zip", "--", "true"]) == 0
    assert Job.objects.get().runtime_env == {"working_dir": "s3://bucket/code.zip"}


@pytest.mark.django_db(transaction=True)
def test_only_the_first_double_dash_separates_the_command(world: Any, live_server: Any, fake_backend: Any) -> None:
    from apps.jobs.models import Job

    base = ["--url", live_server.url, "--token", token_for(world.member), "submit", "--name", "dd", "--team", "alpha"]

    assert main([*base, "--", "python", "x.py", "--", "--flag"]) == 0
    assert main([*base, "--", "--", "--help"]) == 0

    assert [job.entrypoint for job in Job.objects.order_by("id")] == ["python x.py -- --flag", "-- --help"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("45s", 45), ("2d", 172800), ("30d", 2592000)],
)
def test_max_runtime_reads_seconds_minutes_hours_and_days(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "2 hours", "h", "1.5h", "-5m", "31d", "2h and"])
def test_a_max_runtime_that_is_not_a_duration_or_too_long_is_refused(text: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--url", "http://127.0.0.1:9", "submit", "--name", "x", "--team", "t", "--max-runtime", text, "--", "1"])
    assert exit_info.value.code == 2
    assert "--max-runtime" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_submit_max_runtime_declares_it_on_the_job(world: Any, live_server: Any, fake_backend: Any) -> None:
    from apps.jobs.models import Job

    base = ["--url", live_server.url, "--token", token_for(world.member), "submit", "--name", "mr", "--team", "alpha"]
    assert main([*base, "--max-runtime", "2h", "--", "true"]) == 0
    assert main([*base, "--", "true"]) == 0
    assert list(Job.objects.order_by("id").values_list("max_runtime_seconds", flat=True)) == [7200, None]


@pytest.mark.django_db(transaction=True)
def test_submit_ray_asks_for_a_ray_cluster_of_its_own_where_one_can_be_made(
    world: Any, live_server: Any, fake_backend: Any, capsys: Any
) -> None:
    from apps.jobs.models import Job
    from tests.factories import ClusterFactory

    ClusterFactory(organisation=world.org, name="k8s", kind="kubernetes", address="https://127.0.0.1:6443")
    base = ["--url", live_server.url, "--token", token_for(world.member), "submit", "--name", "r", "--team", "alpha"]
    assert main([*base, "--ray", "--", "python", "tune.py"]) == 0
    assert main([*base, "--", "true"]) == 0
    assert list(Job.objects.order_by("id").values_list("runtime", flat=True)) == ["ray", "process"]
    capsys.readouterr()

    assert main([*base, "--cluster", "k8s", "--ray", "--", "true"]) == 2
    assert "has no KubeRay" in capsys.readouterr().err
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_queue_prints_position_estimate_and_reason_and_json_for_scripts(
    world: Any, live_server: Any, capsys: Any
) -> None:
    from django.utils import timezone

    from apps.jobs.models import Job
    from tests.factories import JobFactory, MembershipFactory

    MembershipFactory(team=world.beta, user=world.member, role="viewer")
    reason = "Waiting for GPUs"
    first = JobFactory(team=world.alpha, cluster=world.cluster, name="train-a", priority=5, state_reason=reason)
    JobFactory(team=world.alpha, cluster=world.cluster, name="train-b")
    JobFactory(team=world.beta, cluster=world.cluster, name="beta-job")
    JobFactory(team=world.alpha, cluster=world.cluster, name="done", state="succeeded")
    Job.objects.filter(pk=first.pk).update(
        estimated_start_at=timezone.now() + timedelta(minutes=10, seconds=20),
        estimate_confidence="high",
        estimate_basis="after train-0 ends (declared max runtime)",
    )
    base = ["--url", live_server.url, "--token", token_for(world.member)]

    assert main([*base, "queue"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == "POS JOB TEAM POOL PRIO WAITING SINCE ESTIMATED START REASON".split()
    assert [line.split()[2] for line in lines[1:]] == ["train-a", "train-b", "beta-job"]
    assert lines[1].split()[0] == "1" and "in 10 min (high)" in lines[1] and lines[1].endswith("Waiting for GPUs")
    assert lines[2].split()[0] == "2" and "—" in lines[2]
    assert lines[3].split()[0] == "1"  # beta's own queue

    assert main([*base, "queue", "--team", "beta", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["name"], e["queue_position"], e["jobs_ahead"]) for e in entries] == [("beta-job", 1, 2)]

    assert main([*base, "status", str(first.pk), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimate_confidence"] == "high"
    assert main([*base, "status", str(first.pk)]) == 0
    out = capsys.readouterr().out
    assert "position 1 in team alpha's queue; estimated start in 10 min (high)" in out
    assert "after train-0 ends" in out


@pytest.mark.django_db(transaction=True)
def test_an_empty_queue_says_so(world: Any, live_server: Any, capsys: Any) -> None:
    assert main(["--url", live_server.url, "--token", token_for(world.member), "queue"]) == 0
    assert capsys.readouterr().out.strip() == "nothing waits"
