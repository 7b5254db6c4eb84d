"""What a sick revision says: the replica's own exception, not Serve's stock sentence, once seen."""

from __future__ import annotations

from apps.serving.reconcile import SERVE_STOCK_HEALTH, _telling

STOCK = f"{SERVE_STOCK_HEALTH}. This deployment will be UNHEALTHY until the replica recovers or a new deploy happens."
CAUSE = "RuntimeError: CUDA error: an illegal memory access was encountered"


def test_the_stock_sentence_does_not_replace_the_exception_seen_in_the_same_spell() -> None:
    assert _telling(CAUSE, "") == CAUSE
    assert _telling(STOCK, CAUSE) == CAUSE
    assert _telling("RuntimeError: out of memory", CAUSE) == "RuntimeError: out of memory"  # a newer cause wins
    assert _telling(STOCK, "") == STOCK  # nothing better seen
    assert _telling(STOCK, STOCK) == STOCK
