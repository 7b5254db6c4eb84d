"""``paddock costs …``: what work cost, the usage ledger the costs add up from, and budgets.

For people each command prints aligned tables, money with thousands separators and its currency;
``--json`` prints the API's JSON and ``--csv`` the server's CSV, for scripts. Errors are one line
on stderr with the exit codes of every command (``paddock.output``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import requests

from paddock.client import ApiError, Client
from paddock.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    _span,
    _table_lines,
    api_error_text,
    error,
    exit_code_for_status,
    one_line,
)

GROUPS = ("team", "user", "job", "endpoint", "pool", "day", "month")
UNIT_LABELS = {"gpu": "GPU-h", "cpu": "CPU-h"}
USAGE_LIMIT = 50


class Ambiguous(LookupError):
    """What the server holds does not say which object a command means; exits 2."""


# --- flag types --------------------------------------------------------------------------------
def group_by(text: str) -> str:
    """``team``, ``team,day``: one or two dimensions the summary groups by."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in parts if part not in GROUPS]
    if unknown or not 1 <= len(parts) <= 2 or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give one or two of {', '.join(GROUPS)}, e.g. team,day")
    return ",".join(parts)


def when(text: str) -> str:
    """A date (``2026-12-01``) or an ISO time, passed on as typed; a typo is a usage error here
    rather than a round trip."""
    try:
        (date if len(text) == 10 else datetime).fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    return text


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def amount(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount: write it like 5000 or 5000.50") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a budget is more than 0")
    return str(value)


def percent(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percentage from 1 to 100")
    return int(text)


# --- parsers -----------------------------------------------------------------------------------
# A flag the summary has too is given in a subcommand with no default of its own, so
# ``paddock costs --team nlp usage`` means what ``paddock costs usage --team nlp`` does (argparse
# would otherwise overwrite the value given before the subcommand with the subcommand's default).
INHERITED = argparse.SUPPRESS


def _output_flags(parser: argparse.ArgumentParser, *, csv: bool, default: Any = False) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", default=default, help="print the API's JSON (for scripts)")
    if csv:
        output.add_argument(
            "--csv", action="store_true", default=default, help="write the server's CSV (to stdout or -o FILE)"
        )
        parser.add_argument(
            "-o", "--output", metavar="FILE", default=None if default is False else default, help="with --csv: to FILE"
        )


def _window_flags(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument("--from", dest="start", type=when, default=default, metavar="DATE", help="from this date/time")
    parser.add_argument("--to", dest="end", type=when, default=default, metavar="DATE", help="up to this date/time")


def add_costs_parsers(sub: Any) -> None:
    costs = sub.add_parser(
        "costs",
        help="what work cost: a summary, the usage ledger, a job's cost, budgets",
        description="Without a command: costs grouped by team (or --group-by), this month unless --from/--to.",
    )
    costs.add_argument(
        "--group-by",
        type=group_by,
        metavar="DIM[,DIM]",
        help=f"one or two of {','.join(GROUPS)} (default team)",
    )
    _window_flags(costs)
    costs.add_argument("--team", metavar="SLUG", help="only this team")
    costs.add_argument("--limit", type=positive, metavar="N", help="the N rows with the highest amounts")
    _output_flags(costs, csv=True)
    commands = costs.add_subparsers(dest="costs_command", metavar="COMMAND")

    usage = commands.add_parser("usage", help="ledger records, newest first: who used what, when, at what price")
    usage.add_argument("--team", metavar="SLUG", default=INHERITED)
    usage.add_argument("--job", type=int, metavar="ID")
    usage.add_argument("--endpoint", type=int, metavar="ID")
    _window_flags(usage, INHERITED)
    usage.add_argument("--limit", type=positive, default=INHERITED, metavar="N", help="at most N records (default 50)")
    _output_flags(usage, csv=True, default=INHERITED)

    job = commands.add_parser("job", help="a job's cost: so far, GPU-hours, rate now, each attempt's prices")
    job.add_argument("job_id", type=int, metavar="ID")
    _output_flags(job, csv=False, default=INHERITED)

    budgets = commands.add_parser("budgets", help="budgets with spent, remaining, forecast and status")
    budgets.add_argument("--team", metavar="SLUG", default=INHERITED, help="the team's and its organisation's")
    _output_flags(budgets, csv=False, default=INHERITED)

    budget = commands.add_parser("budget", help="set or delete a budget")
    actions = budget.add_subparsers(dest="budget_command", required=True, metavar="COMMAND")
    put = actions.add_parser("set", help="create a team's budget, or change the one of that name")
    put.add_argument("--team", required=True, metavar="SLUG")
    put.add_argument("--name", help="default: '<team> <period>'; a budget of this name in the team is changed")
    put.add_argument("--amount", required=True, type=amount, help="the limit: money, or GPU-hours with --unit")
    put.add_argument("--currency", metavar="CODE", help="for money (default USD)")
    put.add_argument("--unit", choices=["money", "gpu_hours"], help="default money")
    put.add_argument("--period", choices=["monthly", "fixed"], help="default monthly; fixed needs --from and --to")
    put.add_argument("--from", dest="starts_on", type=when, metavar="DATE", help="a fixed period's first day")
    put.add_argument("--to", dest="ends_on", type=when, metavar="DATE", help="a fixed period's end")
    put.add_argument("--soft-percent", type=percent, metavar="PCT", help="alert when this share is spent")
    put.add_argument("--hard", action=argparse.BooleanOptionalAction, help="the amount is a limit, not an alert")
    put.add_argument(
        "--on-hard-limit", choices=["continue", "stop"], help="at the hard limit: let running work go on, or stop it"
    )
    put.add_argument("--json", action="store_true", default=INHERITED, help="print the API's JSON (for scripts)")
    delete = actions.add_parser("delete", help="delete a budget")
    delete.add_argument("budget_id", type=int, metavar="ID", help="see paddock costs budgets")
    delete.add_argument("--json", action="store_true", default=INHERITED, help="print the API's JSON (for scripts)")


# --- running -----------------------------------------------------------------------------------
def _command_name(args: Any) -> str:
    name = "paddock costs"
    if args.costs_command:
        name += f" {args.costs_command}"
    if args.costs_command == "budget":
        name += f" {args.budget_command}"
    return name


def run_costs(client: Client, args: Any) -> int:
    name = _command_name(args)
    try:
        return _costs(client, args)
    except (UsageError, Ambiguous) as exc:
        error(name, str(exc))
        return EXIT_USAGE
    except ApiError as exc:
        error(name, api_error_text(exc.status, exc.body))
        return exit_code_for_status(exc.status)
    except requests.RequestException as exc:
        error(name, f"cannot reach Paddock at {client.url}: {one_line(str(exc))}")
        return EXIT_FAILED
    except OSError as exc:
        error(name, f"cannot write {exc.filename}: {exc.strerror}")
        return EXIT_FAILED


def _costs(client: Client, args: Any) -> int:
    command = args.costs_command
    if args.output and not args.csv:
        raise UsageError("-o FILE goes with --csv")
    if args.csv and command not in (None, "usage"):
        raise UsageError("--csv is for the summary and for usage")
    if command and args.group_by:
        raise UsageError("--group-by is for the summary (paddock costs --group-by …), not for a command")
    if command not in (None, "usage") and (args.start or args.end or args.limit):
        raise UsageError("--from, --to and --limit go with the summary and usage")
    if command is None:
        return _summary(client, args)
    if command == "usage":
        return _usage(client, args)
    if command == "job":
        cost = client.job_cost(args.job_id)
        if args.json:
            _print_json(cost)
        else:
            print_job_cost(cost)
        return 0
    if command == "budgets":
        items = client.budgets(**_present(team=args.team))
        if args.team:  # the server may not filter: what applies to the team is its own and its organisation's
            items = [item for item in items if item.get("team") in (args.team, None)]
        if args.json:
            _print_json(items)
        else:
            print_budgets(items)
        return 0
    if args.budget_command == "set":
        return _set_budget(client, args)
    existing = client.budget(args.budget_id)
    client.delete_budget(args.budget_id)
    if args.json:
        _print_json({"id": args.budget_id, "deleted": True})
    else:
        print(f"deleted budget {args.budget_id} {existing.get('name', '')!r} ({scope_text(existing)})")
    return 0


def _summary(client: Client, args: Any) -> int:
    window = {"from": args.start, "to": args.end}
    params = _present(group_by=args.group_by or "team", team=args.team, limit=args.limit, **window)
    if args.csv:
        return _write_csv(client.cost_summary_csv(**params), args.output)
    summary = client.cost_summary(**params)
    if args.json:
        _print_json(summary)
    else:
        print_summary(summary, limit=args.limit)
    return 0


def _usage(client: Client, args: Any) -> int:
    filters = _present(team=args.team, job=args.job, endpoint=args.endpoint, **{"from": args.start, "to": args.end})
    if args.csv:
        if args.limit:
            raise UsageError("--csv writes every matching record; --limit is for the table and --json")
        return _write_csv(client.usage_csv(**filters), args.output)
    limit = args.limit or USAGE_LIMIT
    records = client.usage(limit=limit, **filters)
    if args.json:
        _print_json(records)
    else:
        print_usage(records)
        if len(records) == limit:
            print(f"… the newest {limit}; --limit N shows more, --csv writes them all")
    return 0


def budget_body(args: Any, *, creating: bool) -> dict[str, Any]:
    """``budget set``'s flags as the API takes them: all of them with defaults to create, only
    those given (and the amount) to change a budget."""
    body: dict[str, Any] = _present(
        amount=args.amount,
        unit=args.unit,
        currency=args.currency,
        period=args.period,
        starts_on=args.starts_on,
        ends_on=args.ends_on,
        soft_percent=args.soft_percent,
        hard=args.hard,
        on_hard_limit=args.on_hard_limit,
    )
    if creating:
        body = {"name": budget_name(args), "team": args.team, "unit": "money", "period": "monthly", **body}
        if body["unit"] == "money":
            body.setdefault("currency", "USD")
    return body


def budget_name(args: Any) -> str:
    return args.name or f"{args.team} {args.period or 'monthly'}"


def _set_budget(client: Client, args: Any) -> int:
    if args.period == "fixed" and not (args.starts_on and args.ends_on):
        raise UsageError("--period fixed needs --from and --to")
    name = budget_name(args)
    same = [b for b in client.budgets(team=args.team) if b.get("team") == args.team and b.get("name") == name]
    if len(same) > 1:
        ids = ", ".join(str(b["id"]) for b in same)
        raise Ambiguous(f"team {args.team} has several budgets named {name!r} (ids {ids}); delete all but one")
    if same:
        budget, verb = client.update_budget(same[0]["id"], **budget_body(args, creating=False)), "changed"
    else:
        budget, verb = client.create_budget(**budget_body(args, creating=True)), "created"
    if args.json:
        _print_json(budget)
        return 0
    print(f"{verb} budget {budget['id']} {budget['name']!r} ({scope_text(budget)}): {limit_text(budget)}")
    remaining = _value(budget.get("remaining"), budget)
    print(f"  spent {spent_text(budget)}, remaining {remaining}, status {budget.get('status', '—')}")
    return 0


# --- output ------------------------------------------------------------------------------------
def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _write_csv(text: str, path: str | None) -> int:
    if path:
        Path(path).write_text(text, encoding="utf-8")
        lines = max(text.count("\n") - 1, 0) if text.endswith("\n") else text.count("\n")
        print(f"wrote {lines} row{'s' if lines != 1 else ''} to {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def grouped(value: Any) -> str:
    """``1234.5`` → ``1,234.5``: the API's decimal string with thousands separators, its digits kept."""
    if value in (None, ""):
        return "—"
    try:
        return f"{Decimal(str(value)):,}"
    except (InvalidOperation, ValueError):
        return str(value)


def money(value: Any, currency: str | None) -> str:
    """``USD 4,687.60``; ``—`` for none."""
    if value in (None, ""):
        return "—"
    return f"{currency} {grouped(value)}" if currency else grouped(value)


def moment(iso: str | None, *, clock: bool = False) -> str:
    """``2026-12-06 08:30`` (UTC); just the date at midnight unless ``clock`` (a ledger's column)."""
    if not iso:
        return "—"
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if not clock and (len(iso) == 10 or (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0)):
        return parsed.strftime("%Y-%m-%d")
    return parsed.strftime("%Y-%m-%d %H:%M")


def _right(rows: list[list[str]], columns: Sequence[int]) -> None:
    """Pad these columns on the left so numbers line up on their last digit (in place)."""
    for column in columns:
        width = max(len(row[column]) for row in rows)
        for row in rows:
            row[column] = row[column].rjust(width)


def _print_table(header: Sequence[str], rows: list[list[str]], *, right: Sequence[int] = (), tail: int = 0) -> None:
    """An aligned table; ``right`` columns hold numbers; the last ``tail`` rows are totals under a rule."""
    everything = [list(header), *rows]
    _right(everything, right)
    lines = _table_lines(everything[0], everything[1:])
    if tail:
        width = max(len(line) for line in lines)
        lines.insert(len(lines) - tail, "─" * width)
    print("\n".join(lines))


def dimension_text(row: dict[str, Any], dimension: str) -> str:
    """A summary row's value for one dimension, for people."""
    if dimension == "job":
        return "—" if row.get("job") is None else f"{row['job']} {row.get('job_name') or ''}".strip()
    if dimension in ("endpoint", "pool"):
        return row.get(f"{dimension}_name") or ("—" if row.get(dimension) is None else str(row[dimension]))
    return str(row.get(dimension) or "—")


def print_summary(summary: dict[str, Any], *, limit: int | None = None) -> None:
    dimensions = summary.get("group_by") or ["team"]
    title = f"Costs by {' and '.join(dimensions)}, {moment(summary.get('from'))} → {moment(summary.get('to'))} UTC"
    if limit:
        title += f", the {limit} highest"
    print(title)
    rows = summary.get("rows") or []
    if not rows:
        print("nothing was charged in this window")
        return
    table = [
        [
            *(dimension_text(row, dimension) for dimension in dimensions),
            money(row.get("amount"), row.get("currency")),
            grouped(row.get("gpu_hours")),
            grouped(row.get("cpu_hours")),
        ]
        for row in rows
    ]
    totals = [
        ["total", *([""] * (len(dimensions) - 1)), money(total.get("amount"), total.get("currency")),
         grouped(total.get("gpu_hours")), grouped(total.get("cpu_hours"))]
        for total in summary.get("totals") or []
    ]  # fmt: skip
    header = [dimension.upper() for dimension in dimensions] + ["AMOUNT", "GPU-H", "CPU-H"]
    first = len(dimensions)
    _print_table(header, table + totals, right=range(first, first + 3), tail=len(totals))


def resources_text(item: dict[str, Any]) -> str:
    """``8 × H100 SXM`` or ``16 CPU``."""
    count = grouped(item.get("count"))
    if item.get("resource") == "cpu":
        return f"{count} CPU"
    return f"{count} × {item.get('accelerator_model') or 'GPU'}"


def rate_text(rate: Any, currency: str | None, resource: str | None) -> str:
    if rate in (None, ""):
        return "—"
    return f"{money(rate, currency)}/{UNIT_LABELS.get(resource or 'gpu', 'h')}"


def work_text(record: dict[str, Any]) -> str:
    if record.get("endpoint") is not None:
        return f"endpoint {record.get('endpoint_name') or record['endpoint']}"
    if record.get("job") is not None:
        text = f"job {record['job']} {record.get('job_name') or ''}".rstrip()
        return f"{text} #{record['attempt_number']}" if record.get("attempt_number") else text
    return "—"


def print_usage(records: list[dict[str, Any]]) -> None:
    if not records:
        print("no usage recorded")
        return
    rows = [
        [
            moment(record.get("start"), clock=True),
            record.get("team") or "—",
            record.get("user") or "—",
            work_text(record),
            resources_text(record),
            _span(record.get("seconds") or 0),
            rate_text(record.get("rate"), record.get("currency"), record.get("resource")) if record.get("priced")
            else "not priced",
            money(record.get("amount"), record.get("currency")) if record.get("priced") else "—",
        ]
        for record in records
    ]  # fmt: skip
    _print_table(("START (UTC)", "TEAM", "USER", "WORK", "RESOURCES", "TIME", "RATE", "AMOUNT"), rows, right=(5, 7))


def print_job_cost(cost: dict[str, Any]) -> None:
    currency = cost.get("currency") or ""
    priced = bool(currency)
    total = money(cost.get("live_amount") or cost.get("amount"), currency) if priced else "not priced"
    if cost.get("running"):
        rate = cost.get("rate_per_hour")
        headline = f"job {cost['job']}: {total} so far, running" + (f" at {money(rate, currency)}/h" if rate else "")
    else:
        headline = f"job {cost['job']}: {total}"
    print(headline)
    details = [
        ("GPU-hours", grouped(cost.get("gpu_hours"))),
        ("CPU-hours", grouped(cost.get("cpu_hours"))),
    ]
    if priced and cost.get("running"):
        details.append(("charged", f"{money(cost.get('amount'), currency)} until {moment(cost.get('accrued_until'))}"))
    width = max(len(key) for key, _ in details)
    for key, value in details:
        print(f"  {key.ljust(width)}  {value}")
    attempts = cost.get("attempts") or []
    if not attempts:
        return
    print()
    rows: list[list[str]] = []
    for attempt in attempts:
        prices = attempt.get("prices") or []
        first = [
            str(attempt.get("number", "—")),
            attempt.get("state") or "—",
            moment(attempt.get("start"), clock=True),
            _span(attempt.get("seconds") or 0),
            resources_text(attempt),
            money(attempt.get("amount"), attempt.get("currency")) if attempt.get("currency") else "not priced",
        ]
        lines = [price_text(price, attempt.get("resource"), several=len(prices) > 1) for price in prices] or ["—"]
        rows.append([*first, lines[0]])
        rows += [[""] * len(first) + [line] for line in lines[1:]]
    _print_table(("ATTEMPT", "STATE", "START (UTC)", "TIME", "RESOURCES", "AMOUNT", "PRICE"), rows, right=(3, 5))


def price_text(price: dict[str, Any], resource: str | None, *, several: bool) -> str:
    """``USD 2.4900/GPU-h on demand (AWS p5 …)``; with several prices, the span and amount of each."""
    text = rate_text(price.get("rate"), price.get("currency"), resource)
    if price.get("pricing_class"):
        text += f" {str(price['pricing_class']).replace('_', ' ')}"
    if price.get("offer"):
        text += f" ({price['offer']})"
    if several:
        until = moment(price.get("until"), clock=True) if price.get("until") else "now"
        span = f"{moment(price.get('from'), clock=True)} → {until}"
        text += f", {span}: {money(price.get('amount'), price.get('currency'))}"
    return text


def scope_text(budget: dict[str, Any]) -> str:
    if budget.get("team"):
        return f"team {budget['team']}"
    return f"org {budget.get('organisation') or '—'}"


def _value(value: Any, budget: dict[str, Any]) -> str:
    """An amount in the budget's unit: money with its currency, or GPU-hours."""
    if budget.get("unit") == "gpu_hours":
        return "—" if value in (None, "") else f"{grouped(value)} GPU-h"
    return money(value, budget.get("currency"))


def _used(budget: dict[str, Any]) -> str:
    try:
        share = Decimal(str(budget["spent"])) / Decimal(str(budget["amount"]))
    except (KeyError, InvalidOperation, ArithmeticError):
        return ""
    return f" ({int(share * 100)} %)"


def spent_parts(budget: dict[str, Any]) -> tuple[str, str]:
    """``("USD 4,687.60", "5,000.00 (93 %)")``: what is spent, and of how much."""
    unit = " GPU-h" if budget.get("unit") == "gpu_hours" else ""
    spent = _value(budget.get("spent"), budget).removesuffix(unit)
    return spent, f"{grouped(budget.get('amount'))}{unit}{_used(budget)}"


def spent_text(budget: dict[str, Any]) -> str:
    return " / ".join(spent_parts(budget))


def forecast_text(budget: dict[str, Any]) -> str:
    text = _value(budget.get("forecast"), budget)
    try:
        over = Decimal(str(budget["forecast"])) > Decimal(str(budget["amount"]))
    except (KeyError, InvalidOperation, TypeError):
        over = False
    return f"{text} (over)" if over else text


def limits_text(budget: dict[str, Any], *, short: bool = False) -> str:
    """``alert at 80 %; hard, stops running work``, or for a table ``80 %, hard: stop``."""
    parts = []
    if budget.get("soft_percent"):
        parts.append(f"{budget['soft_percent']} %" if short else f"alert at {budget['soft_percent']} %")
    if budget.get("hard"):
        stops = budget.get("on_hard_limit") == "stop"
        if short:
            parts.append(f"hard: {'stop' if stops else 'continue'}")
        else:
            parts.append("hard, " + ("stops running work" if stops else "running work goes on"))
    return (", " if short else "; ").join(parts) or "none"


def limit_text(budget: dict[str, Any]) -> str:
    """``USD 5,000.00 monthly, alert at 80 %; hard, stops running work``"""
    period = budget.get("period") or "monthly"
    if period == "fixed":
        period = f"from {budget.get('starts_on') or '—'} to {budget.get('ends_on') or '—'}"
    return f"{_value(budget.get('amount'), budget)} {period}, {limits_text(budget)}"


def period_text(budget: dict[str, Any]) -> str:
    """``monthly 2026-12`` or ``2027-01-01 → 2027-04-01``: the period the figures are for."""
    if budget.get("period") == "monthly" and budget.get("period_start"):
        return f"monthly {str(budget['period_start'])[:7]}"
    return f"{moment(budget.get('period_start'))} → {moment(budget.get('period_end'))}"


def print_budgets(budgets: list[dict[str, Any]]) -> None:
    if not budgets:
        print("no budgets")
        return
    spent = [spent_parts(budget) for budget in budgets]
    width = max(len(done) for done, _ in spent)
    rows = [
        [
            str(budget["id"]),
            budget.get("name") or "—",
            scope_text(budget),
            period_text(budget),
            f"{done.rjust(width)} / {of}",
            _value(budget.get("remaining"), budget),
            forecast_text(budget),
            limits_text(budget, short=True),
            budget.get("status", "—") if budget.get("active", True) else "inactive",
        ]
        for budget, (done, of) in zip(budgets, spent, strict=True)
    ]
    header = ("ID", "NAME", "SCOPE", "PERIOD", "SPENT / AMOUNT", "REMAINING", "FORECAST", "ALERT/LIMIT", "STATUS")
    _print_table(header, rows, right=(0, 5))
