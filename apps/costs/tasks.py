"""Thin Celery entry points for costs: the periodic accrual (then the budgets' alerts) and the
delivery of an alert to its webhook."""

from __future__ import annotations

from apps.core.tasks import any_of, paddock_task
from apps.costs import accrual, budgets


@paddock_task("costs.accrue", changed=any_of("records", "alerts"))
def accrue() -> dict[str, int]:
    """Charge running and finished work up to now, then raise any budget alert it crossed."""
    result = accrual.accrue()
    alerts = budgets.evaluate() if result.ran else []
    return {"attempts": result.attempts, "records": result.records, "alerts": len(alerts)}


@paddock_task("costs.deliver_alert")
def deliver_alert(alert_id: int) -> str:
    return budgets.deliver(alert_id)
