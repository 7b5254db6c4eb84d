#!/usr/bin/env python3
"""Container health check for the web process: GET http://127.0.0.1:8000/healthz.

    paddock-healthcheck [URL]        (the image installs this file under that name)

Exit 0 when Paddock answers 200 (database and broker up), 1 otherwise. Django answers 400 to
a Host header that PADDOCK_ALLOWED_HOSTS does not list, so the request names the first host
that list allows (or localhost when the list is unset or only a wildcard). Standard library
only, and no Django import: a check must stay cheap.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

URL = "http://127.0.0.1:8000/healthz"
TIMEOUT_SECONDS = 4.0


def allowed_hosts() -> list[str]:
    value = os.environ.get("PADDOCK_ALLOWED_HOSTS")
    if value is None and os.environ.get("PADDOCK_ALLOWED_HOSTS_FILE"):
        try:
            value = Path(os.environ["PADDOCK_ALLOWED_HOSTS_FILE"]).read_text().strip()
        except OSError:
            value = None
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def host_header() -> str:
    for host in allowed_hosts():
        if host == "*":
            continue
        # ".example.com" allows example.com and its subdomains.
        return host.lstrip(".")
    return "localhost"


def main(argv: list[str]) -> int:
    url = argv[0] if argv else URL
    request = urllib.request.Request(url, headers={"Host": host_header()})  # noqa: S310 - fixed http URL
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
