"""What inventory announces to the apps built on it (which inventory itself never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that recorded a host agent's report, once its node and
# accelerators are written, with ``cluster``, ``report`` (a NodeReport: its readings, its
# network traffic) and ``at`` (the time the report was recorded). Telemetry keeps the readings.
host_reported = Signal()
