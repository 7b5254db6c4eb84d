"""The cause line of a failed attempt, read from what real clusters said.

``fixtures/ray_failures.json`` holds what a local Ray 2.60 head answered (the FAILED job's
message, exit code and error type, and the job's log) for jobs that raised, exited 3, were
killed by SIGKILL, ran out of device memory (a raised "CUDA out of memory"), or asked pip for a
package that does not exist (pip run with ``--no-index`` so that it fails in seconds here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.jobs.choices import AttemptState
from apps.jobs.failures import CAUSE_LIMIT, cause_line

RAY = json.loads((Path(__file__).parent / "fixtures" / "ray_failures.json").read_text())


def _ray(name: str) -> dict[str, Any]:
    case = RAY[name]
    return {"exit_code": case["exit_code"], "message": case["message"], "log_tail": case["log"]}


def test_a_python_exception_is_its_exit_code_and_the_last_error_line() -> None:
    assert cause_line(AttemptState.FAILED, **_ray("value_error")) == "exit code 1: ValueError: bad lr"


def test_an_exit_without_an_exception_is_its_exit_code() -> None:
    assert cause_line(AttemptState.FAILED, **_ray("exit_3")) == "exit code 3"


def test_a_killed_process_says_which_signal() -> None:
    assert cause_line(AttemptState.FAILED, **_ray("killed")) == "exit code 137 (killed by SIGKILL)"


def test_cuda_out_of_memory_is_out_of_memory() -> None:
    assert cause_line(AttemptState.FAILED, **_ray("cuda_oom")) == "out of memory"


def test_torch_out_of_memory_in_the_log_only_is_out_of_memory() -> None:
    log = (
        'step 10 loss 2.31\nTraceback (most recent call last):\n  File "train.py", line 40, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
        "of 79.10 GiB of which 1.06 GiB is free.\n"
    )
    assert cause_line(AttemptState.FAILED, exit_code=1, message="exit code 1", log_tail=log) == "out of memory"


def test_kubernetes_oom_killed_is_out_of_memory() -> None:
    # What the Kubernetes backend says of a container the kernel killed for memory.
    assert cause_line(AttemptState.FAILED, exit_code=137, message="exit code 137 (OOMKilled)") == "out of memory"


def test_kubernetes_error_with_a_message_is_its_code_and_error_line() -> None:
    message = "exit code 3 (Error): ValueError: bad learning rate"
    assert cause_line(AttemptState.FAILED, exit_code=3, message=message) == "exit code 3: ValueError: bad learning rate"


def test_the_log_s_error_line_wins_over_the_message_s() -> None:
    cause = cause_line(
        AttemptState.FAILED,
        exit_code=2,
        message="Job entrypoint command failed with exit code 2\nKeyError: 'old'",
        log_tail="Traceback (most recent call last):\nmy_pkg.errors.ConfigError: no such dataset\n",
    )
    assert cause == "exit code 2: my_pkg.errors.ConfigError: no such dataset"


def test_a_pip_requirement_ray_could_not_install_names_it() -> None:
    # Ray's runtime_env failure: 2.7 KB of its own traceback, pip's verdict on the last line.
    case = _ray("bad_pip")
    assert case["exit_code"] is None and len(case["message"]) > 2000
    assert cause_line(AttemptState.FAILED, **case) == "pip could not install paddock-no-such-package-xyz==1.0"


def test_pip_could_not_find_a_version_names_the_requirement() -> None:
    message = (
        "runtime_env setup failed: Failed to set up runtime environment.\n"
        "Last 50 lines of stdout:\n"
        "    ERROR: Could not find a version that satisfies the requirement torchh>=2 (from versions: none)\n"
    )
    assert cause_line(AttemptState.FAILED, message=message) == "pip could not install torchh>=2"


def test_a_lost_attempt_says_so() -> None:
    assert cause_line(AttemptState.LOST, message="local no longer knows job x") == (
        "lost: the cluster no longer knows the job"
    )


def test_no_exit_code_and_no_error_line_is_the_message_s_last_line() -> None:
    assert cause_line(AttemptState.FAILED, message="ran longer than its max runtime of 1 h") == (
        "ran longer than its max runtime of 1 h"
    )


@pytest.mark.parametrize("state", [AttemptState.SUCCEEDED, AttemptState.RUNNING, AttemptState.ADMITTED])
def test_an_attempt_that_did_not_fail_has_no_cause(state: str) -> None:
    assert cause_line(state, exit_code=0, message="Job finished successfully.") == ""


def test_a_cause_is_one_short_line() -> None:
    cause = cause_line(AttemptState.FAILED, exit_code=1, message="", log_tail="ValueError: " + "x" * 2000)
    assert len(cause) == CAUSE_LIMIT and "\n" not in cause and cause.endswith("…")
