"""What jobs announce to the apps built on them (which jobs itself never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that moves a job out of the states that hold capacity (it ended,
# was preempted or went back to the queue), with ``job_id`` and ``at``: whatever it held goes back.
stopped_holding = Signal()

# Sent when an attempt is about to be sent to its cluster, with ``attempt`` and ``memo`` (a dict
# shared by the attempts of one dispatch batch, for lookups that are the same for many). A receiver returns
# environment variables for the attempt (``PADDOCK_CHECKPOINT_URI``, ``PADDOCK_RESUME_FROM`` and
# ``PADDOCK_RESUME_STEP``, which the attempt then records) or an empty dict.
attempt_environment = Signal()

# Sent (after commit) when a deployment job's attempt is admitted and so holds its quota, with
# ``job_id`` and ``attempt_id``: the serving app then puts the endpoint on its cluster (a
# deployment's attempt runs no remote job of its own; serving watches what it deploys).
deployment_started = Signal()

# Sent while a submission is checked, before anything is written, with ``request`` (a
# ``services.JobRequest``). A receiver returns field errors for what can never run on the
# request's cluster (``{"resources": {"gpus": ["…"]}}``) or an empty dict: the submission is
# then refused with them (admission knows the cluster's hardware and how jobs are placed).
checking_submission = Signal()
