"""Job tokens: ``pdj_<attempt id>.<mac>``, given to one attempt in ``PADDOCK_JOB_TOKEN``.

Nothing is stored: the MAC (HMAC-SHA256 under a key derived from SECRET_KEY) proves Paddock
minted the token for that attempt, and the attempt's row says whether it still counts — only
while the attempt is live and is its job's latest (see :mod:`apps.jobs.authentication`). A job
that ends takes its token with it; rotating SECRET_KEY ends every token at once.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.conf import settings

PREFIX = "pdj_"


def _mac(attempt_hex: str) -> str:
    key = hashlib.sha256(b"paddock-job-token:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, attempt_hex.encode(), hashlib.sha256).hexdigest()


def mint(attempt_id: uuid.UUID | str) -> str:
    attempt_hex = uuid.UUID(str(attempt_id)).hex
    return f"{PREFIX}{attempt_hex}.{_mac(attempt_hex)}"


def is_job_token(value: str) -> bool:
    return value.startswith(PREFIX)


def attempt_of(token: str) -> uuid.UUID | None:
    """The attempt a well-formed token with a valid MAC names, else None."""
    if not token.startswith(PREFIX):
        return None
    attempt_hex, _, mac = token[len(PREFIX) :].partition(".")
    try:
        attempt_id = uuid.UUID(hex=attempt_hex)
    except ValueError:
        return None
    if attempt_id.hex != attempt_hex or not hmac.compare_digest(mac, _mac(attempt_hex)):
        return None
    return attempt_id
