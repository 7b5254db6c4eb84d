#!/usr/bin/env python3
"""Write deploy/paddock.env, deploy/postgres.env and deploy/ray.env from their examples, with
fresh random secrets that agree with each other (the PostgreSQL password in DATABASE_URL and
POSTGRES_PASSWORD). Standard library only; never overwrites an existing file.

    python3 deploy/init_env.py [--host paddock.example.com] [--dir deploy]

--host adds the public name to PADDOCK_ALLOWED_HOSTS and https://NAME to
PADDOCK_CSRF_TRUSTED_ORIGINS (for a TLS reverse proxy in front of web).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("paddock.env", "postgres.env", "ray.env")


def fernet_key() -> str:
    """A Fernet key: 32 random bytes, URL-safe base64 (what Fernet.generate_key() returns)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def set_value(text: str, name: str, value: str) -> str:
    """Set the active ``NAME=`` line of an env file; fail loudly when the example lacks it."""
    pattern = re.compile(rf"^{re.escape(name)}=.*$", re.MULTILINE)
    if not pattern.search(text):
        raise SystemExit(f"init_env: no {name}= line in the example")
    return pattern.sub(lambda _: f"{name}={value}", text, count=1)


def render(examples: dict[str, str], host: str | None) -> dict[str, str]:
    postgres_password = secrets.token_hex(24)  # hex: safe inside a URL without escaping
    paddock = examples["paddock.env"]
    paddock = set_value(paddock, "PADDOCK_SECRET_KEY", secrets.token_urlsafe(50))
    paddock = set_value(paddock, "DATABASE_URL", f"postgres://paddock:{postgres_password}@postgres:5432/paddock")
    paddock = set_value(paddock, "PADDOCK_ENCRYPTION_KEYS", fernet_key())
    if host:
        paddock = set_value(paddock, "PADDOCK_ALLOWED_HOSTS", f"localhost,127.0.0.1,web,{host}")
        paddock = set_value(paddock, "PADDOCK_CSRF_TRUSTED_ORIGINS", f"https://{host}")
    postgres = set_value(examples["postgres.env"], "POSTGRES_PASSWORD", postgres_password)
    ray = set_value(examples["ray.env"], "RAY_AUTH_TOKEN", secrets.token_urlsafe(32))
    return {"paddock.env": paddock, "postgres.env": postgres, "ray.env": ray}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=HERE, help="where to write the files (default: deploy/)")
    parser.add_argument("--host", help="the public host name behind your TLS proxy, e.g. paddock.example.com")
    args = parser.parse_args(argv)
    if args.host and not re.fullmatch(r"[A-Za-z0-9.-]+", args.host):
        parser.error("--host takes a bare host name, without scheme or port")
    existing = [name for name in FILES if (args.dir / name).exists()]
    if existing:
        print(f"init_env: {', '.join(existing)} already exist in {args.dir}; nothing written", file=sys.stderr)
        return 1
    examples = {name: (HERE / f"{name}.example").read_text() for name in FILES}
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in render(examples, args.host).items():
        path = args.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        print(f"wrote {path}")
    print("The Ray token is in ray.env (RAY_AUTH_TOKEN): enter it for the cluster in the admin.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
