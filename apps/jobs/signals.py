"""What jobs announce to the apps built on them (which jobs itself never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that moves a job out of the states that hold capacity (it ended,
# was preempted or went back to the queue), with ``job_id`` and ``at``: whatever it held goes back.
stopped_holding = Signal()
