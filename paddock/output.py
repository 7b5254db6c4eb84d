"""What every ``paddock`` command shares when it talks to people and scripts: the exit codes,
errors as one line on stderr, relative times, aligned tables and ``--json``.

Exit codes (the README's table says the same):

- 0 ok;
- 1 failed: Paddock could not be reached or failed itself (5xx, 429), a check said no
  (``plan --require-fit``), an endpoint under ``--wait`` failed; ``submit --wait`` and ``wait``
  exit with the job's own outcome instead (see the README);
- 2 usage: the command line is wrong, or Paddock refused the input (400 with field errors);
- 3 not found: the job, endpoint, version… does not exist or is not yours (404);
- 4 auth: no token, a token Paddock refused (401), or one not allowed to do it (403);
- 5 conflict: the object is in a state that does not allow it (409, e.g. cancelling a
  finished job).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_CONFLICT = 5


class UsageError(ValueError):
    """Flags that do not go together, or a value the server would refuse anyway; exits 2."""


class NotFound(LookupError):
    """What a command names does not exist for the caller; exits 3."""


def exit_code_for_status(status: int) -> int:
    """The exit code of an API refusal with this HTTP status."""
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_CONFLICT
    if status in (400, 413, 415, 422):
        return EXIT_USAGE
    return EXIT_FAILED


def one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages(value: Any, path: str) -> list[str]:
    """``field: message`` for each message, nested fields as ``resources.gpus``."""
    if isinstance(value, dict):
        found: list[str] = []
        for key, inner in value.items():
            child = str(key) if not path or key in ("non_field_errors", "detail") else f"{path}.{key}"
            if key in ("non_field_errors", "detail"):
                child = path
            found += _messages(inner, child)
        return found
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            text = " ".join(str(item).rstrip(".") + "." for item in value).rstrip(".")
            return [f"{path}: {text}" if path else text] if text else []
        found = []
        for index, item in enumerate(value):
            found += _messages(item, f"{path}[{index}]" if path else f"[{index}]")
        return found
    text = str(value).rstrip(".")
    return [f"{path}: {text}" if path else text]


def refusal_line(body: Any) -> str:
    """An API error body as one readable line: the detail, or ``field: message`` per field
    (nested ones as ``resources.gpus: …``), joined with ``; ``."""
    if isinstance(body, dict):
        if "detail" in body and len(body) == 1:
            return one_line(str(body["detail"]))
        return one_line("; ".join(_messages(body, "")))
    if isinstance(body, list):
        return one_line(" ".join(map(str, body)))
    if isinstance(body, str) and body.lstrip().lower().startswith(("<!doctype", "<html")):
        return one_line(re.sub(r"<[^>]+>", " ", body))
    return one_line(str(body)) if body not in (None, "") else "no detail"


def api_error_text(status: int, body: Any) -> str:
    """``HTTP 404: Not found.``; a refused token says where the token comes from."""
    text = f"HTTP {status}: {refusal_line(body)}"
    if status == 401:
        text += " (check --token or $PADDOCK_TOKEN)"
    return text


def error(command: str, message: str) -> None:
    """``paddock submit: error: …``: one line on stderr."""
    print(f"{command}: error: {one_line(message, 1000)}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse that reports a wrong command line in one line (``paddock submit: error: …``,
    pointing at ``--help``) and exits 2, rather than the usage block and the message."""

    def error(self, message: str) -> NoReturn:
        error(self.prog, f"{message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# --- for people --------------------------------------------------------------------------------
def parse_time(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def _when(iso: str | None, now: datetime) -> str:
    """``in 12 min``, ``5 min ago``, or ``—`` for none."""
    moment = parse_time(iso)
    if moment is None:
        return "—"
    delta = (moment - now).total_seconds()
    if abs(delta) < 30:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def _table_lines(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns, the header first; the last column runs free."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        lines.append(f"{cells}  {row[-1]}".rstrip())
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("\n".join(_table_lines(header, rows)))
