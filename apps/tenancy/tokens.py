"""API token format: ``pdk_<key_id>.<secret>``. The key id finds the row; the secret's
SHA-256 is compared in constant time (the secret is 256 random bits, so a fast hash is safe)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "pdk_"


def new_token() -> tuple[str, str, str]:
    """Return (plaintext token, key id, secret hash)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}{key_id}.{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    if not token.startswith(PREFIX) or "." not in token:
        return None
    key_id, _, secret = token[len(PREFIX) :].partition(".")
    if not key_id or not secret or len(key_id) > 32:
        return None
    return key_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
