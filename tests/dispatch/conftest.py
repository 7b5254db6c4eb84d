"""The dispatch tests use the session's Ray head from ``tests/conftest.py``."""
