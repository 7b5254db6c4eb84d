"""Encryption of credentials at rest (Fernet; keys from PADDOCK_ENCRYPTION_KEYS)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(settings.PADDOCK_ENCRYPTION_KEYS)
    if not keys:  # development and tests only: production settings refuse to start without keys
        keys = [_derived(settings.SECRET_KEY)]
        legacy = getattr(settings, "LEGACY_DEVELOPMENT_SECRET_KEY", "")
        if legacy and legacy != settings.SECRET_KEY:
            keys.append(_derived(legacy))  # decrypts what an older checkout stored; never encrypts
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _derived(secret_key: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(b"paddock-credentials:" + secret_key.encode()).digest()).decode()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Decrypt; raises ValueError when no configured key opens it (a rotated-away key)."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("credential cannot be decrypted with the configured keys") from exc
