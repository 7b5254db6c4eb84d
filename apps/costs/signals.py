"""What costs asks of the apps built on it (which costs itself never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by an accrual pass with ``job_ids`` (deployment jobs that ran in the pass). A receiver
# returns {job_id: (endpoint_id, endpoint_name, revision_id or None)}: the serving app says which
# endpoint each deployment job holds capacity for, and which revision takes its traffic now.
usage_subjects = Signal()
