"""Why an attempt ended badly: the cluster under it, or the job's own code — and the evidence.

The cluster's failures (a lost node or head, a killed process, a device out of memory, a stop
that did not come from Paddock) are retried from the latest complete checkpoint; the job's own
errors (its command exited non-zero) are not, unless the job asks for it (``retry_on_error``).
Pure: the caller passes what the backend said and the end of the stored log.
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
EVIDENCE_LIMIT = 500


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
