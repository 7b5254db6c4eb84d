"""Why an attempt ended badly: the cluster under it, or the job's own code — and the evidence.

The cluster's failures (a lost node or head, a killed process, a device out of memory, a stop
that did not come from Paddock) are retried from the latest complete checkpoint; the job's own
errors (its command exited non-zero) are not, unless the job asks for it (``retry_on_error``).
Pure: the caller passes what the backend said and the end of the stored log.

:func:`cause_line` says the same for people in one short line ("exit code 3: ValueError: bad lr",
"out of memory", "pip could not install torchh"), shown first on the job page and by the CLI;
the full message stays beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.dispatch.port import RemoteStatus
from apps.jobs.choices import AttemptState

# A process killed by SIGKILL: Ray reports the signal negated; a shell reports 128 + 9.
KILLED_EXIT_CODES = frozenset({-9, 137})
DEVICE_OUT_OF_MEMORY = re.compile(
    r"(CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError|HIP out of memory|CUDA error: out of memory"
    r"|RESOURCE_EXHAUSTED: Out of memory)"
)
# The last line that names an exception ("ValueError: bad", "torch.OutOfMemoryError: …").
ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b.*$", re.MULTILINE)
# In a backend's one-line message the exception follows other words ("exit code 3 (Error): ValueError: …").
MESSAGE_ERROR = re.compile(r"(?:^|(?<=[\s:;]))((?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception)\b(?::.*)?)$", re.MULTILINE)
EVIDENCE_LIMIT = 500
CAUSE_LIMIT = 300  # Attempt.cause's max_length
# The host's out-of-memory killer, as Kubernetes and Ray report it.
HOST_OUT_OF_MEMORY = re.compile(
    r"\bOOMKilled\b|Task was killed due to the node running low on memory|OutOfMemoryError: Task was killed"
)
# Ray's runtime_env setup of pip: the message is pip's own traceback; these name the requirement.
PIP_SETUP = re.compile(r"RuntimeEnvSetupError|Failed to set up runtime environment|runtime_env", re.IGNORECASE)
PIP_REQUIREMENT = (
    re.compile(r"No matching distribution found for ([^\s]+)"),
    re.compile(r"Could not find a version that satisfies the requirement ([^\s]+)"),
    re.compile(r"Invalid requirement: '([^']+)'"),
    re.compile(r"Failed to build ([^\s,]+)"),
    re.compile(r"ERROR: (?:Could not build wheels for|Failed building wheel for) ([^\s,]+)"),
)
SIGNALS = {-9: "SIGKILL", -15: "SIGTERM", -11: "SIGSEGV", -6: "SIGABRT", 137: "SIGKILL", 143: "SIGTERM", 139: "SIGSEGV"}


@dataclass(frozen=True)
class Verdict:
    infrastructure: bool
    evidence: str


def classify(state: str, status: RemoteStatus | None, log_tail: str = "", *, cluster: str = "the cluster") -> Verdict:
    """The cause of an attempt that ended ``state`` (failed, stopped or lost)."""
    if state == AttemptState.LOST:
        return Verdict(
            True, f"{cluster} no longer knows the job: its Ray head restarted or the node running it was lost"
        )
    if state == AttemptState.STOPPED:
        return Verdict(True, f"stopped on {cluster}, not by Paddock (an operator, or the cluster taking its node back)")
    if status is not None and status.infrastructure:
        return Verdict(
            True, f"Ray reported {status.error_type or 'a failure of its own'}: the job's supervisor or node died"
        )
    exit_code = status.exit_code if status is not None else None
    if exit_code in KILLED_EXIT_CODES:
        return Verdict(
            True,
            f"the job's process was killed by SIGKILL (exit code {exit_code}): a lost node, the host's "
            "out-of-memory killer or an operator",
        )
    oom = DEVICE_OUT_OF_MEMORY.search(log_tail)
    if oom:
        return Verdict(True, f"out of memory on the device: {_line_of(log_tail, oom.start())}")
    parts = [f"exit code {exit_code}" if exit_code is not None else "the job's command failed"]
    errors = ERROR_LINE.findall(log_tail)
    if errors:
        parts.append(f"its log ends with: {errors[-1].strip()}")
    return Verdict(False, _short("; ".join(parts)))


def _line_of(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return _short(text[start : end if end >= 0 else len(text)].strip())


def _short(text: str) -> str:
    return text if len(text) <= EVIDENCE_LIMIT else text[: EVIDENCE_LIMIT - 1] + "…"


def cause_line(state: str, *, exit_code: int | None = None, message: str = "", log_tail: str = "") -> str:
    """One short line saying why an attempt ended badly ("" when it did not).

    First what is surest: a pip requirement Ray could not install, then memory (the device's or
    the host's), then the exit code with the last error line of the log (or of the message).
    """
    if state not in (AttemptState.FAILED, AttemptState.LOST, AttemptState.STOPPED):
        return ""
    if state == AttemptState.LOST:
        return "lost: the cluster no longer knows the job"
    text = f"{message}\n{log_tail}"
    if PIP_SETUP.search(message) or "pip" in message:
        for pattern in PIP_REQUIREMENT:
            found = pattern.findall(message)
            if found:
                return _cause(f"pip could not install {found[-1].rstrip('.,;:')}")
    if DEVICE_OUT_OF_MEMORY.search(text) or HOST_OUT_OF_MEMORY.search(text):
        return "out of memory"
    if state == AttemptState.STOPPED:
        return _cause(f"stopped outside Paddock: {_last_line(message)}" if message else "stopped outside Paddock")
    code = f"exit code {exit_code}" if exit_code is not None else ""
    if exit_code in SIGNALS:
        code += f" (killed by {SIGNALS[exit_code]})"
    errors = ERROR_LINE.findall(log_tail) or MESSAGE_ERROR.findall(message)
    if errors:
        return _cause(f"{code}: {errors[-1].strip()}" if code else errors[-1].strip())
    if code:
        return code
    return _cause(_last_line(message) or "failed")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _cause(text: str) -> str:
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 1] + "…"
