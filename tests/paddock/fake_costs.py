"""The fake Paddock with issue 13's costs API (/work CONTRACT-13): the summary, the usage ledger
(cursor-paginated, newest first), a job's cost, and budgets (page-paginated, PATCH and DELETE).

``FakeCosts(root).start()``, then fill ``ledger`` with ``record(...)`` dicts (or use
``sample_ledger()``), ``budgets`` with ``budget(...)`` and ``job_costs`` with ``job_cost(...)``.
The summary and budgets are computed from the ledger, so what a test adds is what it reads.
Requests are kept in ``queries`` (``(path, query)``) and ``bodies`` (``(method, path, body)``);
``answers`` holds each JSON answer given, so a test can compare ``--json`` output with it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode

from tests.paddock.fake_paddock import USER_TOKEN, FakePaddock

GROUPS = ("team", "user", "job", "endpoint", "pool", "day", "month")
NOW = "2026-12-06T14:05:00Z"
MONTH_START = "2026-12-01T00:00:00Z"
TEAMS = ("nlp", "vision")
CENT = Decimal("0.01")
MILLI = Decimal("0.001")


class Csv:
    """A text/csv answer."""

    def __init__(self, text: str) -> None:
        self.text = text


def _time(text: str) -> datetime:
    return datetime.fromisoformat((text + "T00:00:00Z" if len(text) == 10 else text).replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def record(
    id: int,
    team: str,
    start: str,
    hours: float,
    *,
    user: str = "alice",
    job: int | None = None,
    job_name: str = "",
    attempt_number: int | None = 1,
    endpoint: int | None = None,
    endpoint_name: str = "",
    pool: int | None = 1,
    pool_name: str = "h100",
    resource: str = "gpu",
    count: str = "8",
    accelerator_model: str | None = "H100 SXM",
    rate: str | None = "2.4900",
    currency: str = "USD",
) -> dict[str, Any]:
    """One ledger record as the contract has it; ``amount`` = rate × count × hours."""
    seconds = round(hours * 3600)
    began = _time(start)
    priced = rate is not None
    amount = (Decimal(rate) * Decimal(count) * Decimal(seconds) / 3600).quantize(CENT) if priced else None
    return {
        "id": id, "team": team, "user": user, "job": job, "job_name": job_name,
        "attempt": f"00000000-0000-0000-0000-{id:012d}" if job else None,
        "attempt_number": attempt_number if job else None, "endpoint": endpoint, "endpoint_name": endpoint_name,
        "revision": 1 if endpoint else None, "cluster": "aws-us-east-1", "pool": pool, "pool_name": pool_name,
        "accelerator_model": accelerator_model if resource == "gpu" else None, "resource": resource,
        "count": count, "start": _iso(began), "end": _iso(began + timedelta(seconds=seconds)), "seconds": seconds,
        "pricing_class": "on_demand" if priced else "", "rate": rate, "currency": currency if priced else "",
        "amount": str(amount) if priced else None, "price_point": 3 if priced else None, "priced": priced,
    }  # fmt: skip


def sample_ledger() -> list[dict[str, Any]]:
    """A realistic first week of December for two teams, newest first."""
    items = [
        record(9, "nlp", "2026-12-06T08:00:00Z", 6, user="alice", job=41, job_name="llama-70b-sft"),
        record(8, "vision", "2026-12-05T21:00:00Z", 4, user="bob", job=40, job_name="vit-h-pretrain",
               count="16", accelerator_model="A100 80GB SXM", rate="1.2900", pool=2, pool_name="a100"),
        record(7, "nlp", "2026-12-05T00:00:00Z", 24, user="", endpoint=7, endpoint_name="support-chat", count="2"),
        record(6, "nlp", "2026-12-04T10:00:00Z", 60, user="alice", job=38, job_name="llama-70b-pretrain",
               attempt_number=2),
        record(5, "nlp", "2026-12-03T09:00:00Z", 3, user="carol", job=37, job_name="eval-harness",
               resource="cpu", count="32", rate="0.0400", pool=3, pool_name="cpu"),
        record(4, "vision", "2026-12-02T12:00:00Z", 30, user="bob", job=36, job_name="detr-finetune",
               count="8", accelerator_model="A100 80GB SXM", rate="1.2900", pool=2, pool_name="a100"),
        record(3, "nlp", "2026-12-01T06:00:00Z", 2, user="alice", job=35, job_name="tokenizer-test", rate=None),
    ]  # fmt: skip
    return items


def job_cost(job: int = 41, **fields: Any) -> dict[str, Any]:
    """A running job's cost with two attempts; the second crossed a price change."""
    return {
        "job": job, "currency": "USD", "amount": "1234.56", "live_amount": "1254.48",
        "gpu_hours": "496.000", "cpu_hours": "0.000", "accrued_until": "2026-12-06T14:00:00Z",
        "running": True, "rate_per_hour": "19.92",
        "attempts": [
            {"attempt": "a1", "number": 1, "state": "failed", "start": "2026-12-04T10:00:00Z",
             "end": "2026-12-04T12:00:00Z", "seconds": 7200, "resource": "gpu", "count": "8",
             "accelerator_model": "H100 SXM", "amount": "39.84", "currency": "USD",
             "prices": [{"rate": "2.4900", "currency": "USD", "pricing_class": "on_demand", "price_point": 3,
                         "offer": "AWS p5.48xlarge", "from": "2026-12-04T10:00:00Z",
                         "until": "2026-12-04T12:00:00Z", "amount": "39.84"}]},
            {"attempt": "a2", "number": 2, "state": "running", "start": "2026-12-04T12:30:00Z",
             "end": None, "seconds": 221700, "resource": "gpu", "count": "8",
             "accelerator_model": "H100 SXM", "amount": "1194.72", "currency": "USD",
             "prices": [
                 {"rate": "2.4900", "currency": "USD", "pricing_class": "on_demand", "price_point": 3,
                  "offer": "AWS p5.48xlarge", "from": "2026-12-04T12:30:00Z", "until": "2026-12-05T00:00:00Z",
                  "amount": "229.08"},
                 {"rate": "2.1000", "currency": "USD", "pricing_class": "reserved", "price_point": 5,
                  "offer": "AWS p5 1-year reserved", "from": "2026-12-05T00:00:00Z", "until": None,
                  "amount": "965.64"},
             ]},
        ],
        **fields,
    }  # fmt: skip


def budget(id: int, name: str, amount: str, *, team: str | None = "nlp", **fields: Any) -> dict[str, Any]:
    """A budget as written; ``spent``, ``remaining``, ``forecast`` and ``status`` come from the ledger."""
    return {
        "id": id, "name": name, "team": team, "organisation": None if team else "acme", "unit": "money",
        "amount": amount, "currency": "USD", "period": "monthly", "starts_on": None, "ends_on": None,
        "soft_percent": 80, "hard": True, "on_hard_limit": "continue", "webhook_url": "", "active": True,
        **fields,
    }  # fmt: skip


class FakeCosts(FakePaddock):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger: list[dict[str, Any]] = []
        self.budgets: list[dict[str, Any]] = []
        self.job_costs: dict[int, dict[str, Any]] = {}
        self.queries: list[tuple[str, dict[str, str]]] = []
        self.bodies: list[tuple[str, str, Any]] = []
        self.answers: list[Any] = []
        self.headers_seen: list[tuple[str, dict[str, str]]] = []
        self.page_size_cap = 500
        self.next_budget_id = 1

    def start(self) -> FakeCosts:
        super().start()
        assert self.server is not None
        handler: Any = self.server.RequestHandlerClass
        handler.do_PATCH = lambda h: self.handle(h, "PATCH")
        handler.do_DELETE = lambda h: self.handle(h, "DELETE")
        return self

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self.headers_seen.append((method, dict(h.headers.items())))
        return super().handle(h, method)

    def send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, Csv):
            return super().send(h, status, body.text.encode(), {"Content-Type": "text/csv; charset=utf-8"})
        if status == 204:
            h.send_response(204)
            h.end_headers()
            return None
        self.answers.append(body)
        return super().send(h, status, body, {"Content-Type": "application/json", **(headers or {})})

    # --- the ledger ------------------------------------------------------------------------------
    def _window(self, query: dict[str, str]) -> tuple[datetime, datetime] | dict[str, list[str]]:
        start, end = _time(query.get("from", MONTH_START)), _time(query.get("to", NOW))
        if start > end:
            return {"from": ["from must not be after to."]}
        return start, end

    def _matching(self, query: dict[str, str], window: tuple[datetime, datetime]) -> list[dict[str, Any]]:
        start, end = window
        return [
            item
            for item in self.ledger
            if start <= _time(item["start"]) < end
            and all(query.get(key) in (None, str(item[key])) for key in ("team", "job", "endpoint"))
        ]

    def route_usage(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        self.queries.append((route, query))
        window = self._window(query)
        if isinstance(window, dict):
            return 400, window
        items = sorted(self._matching(query, window), key=lambda item: item["start"], reverse=True)
        if query.get("format") == "csv":
            return 200, Csv(_csv(items, list(items[0]) if items else ["id"]))
        size = min(int(query.get("page_size", 100)), self.page_size_cap)
        offset = int(query.get("cursor", "o0")[1:])
        chunk = items[offset : offset + size]
        rest = {key: value for key, value in query.items() if key != "cursor"}
        following = None
        if offset + size < len(items):
            following = f"{self.url}/api/v1/usage/?{urlencode({**rest, 'cursor': f'o{offset + size}'})}"
        return 200, {"next": following, "previous": None, "results": chunk}

    # --- costs -------------------------------------------------------------------------------------
    def route_costs(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        self.queries.append((route, query))
        parts = [part for part in route.split("/") if part]
        if parts[1:] == ["summary"]:
            return self.summary(query)
        if parts[1:2] == ["jobs"] and parts[2:] and parts[2] and int(parts[2]) in self.job_costs:
            return 200, self.job_costs[int(parts[2])]
        return 404, {"detail": "Not found."}

    def summary(self, query: dict[str, str]) -> tuple[int, Any]:
        dimensions = query.get("group_by", "team").split(",")
        if len(dimensions) > 2 or any(d not in GROUPS for d in dimensions):
            return 400, {"group_by": [f"Group by one or two of {', '.join(GROUPS)}."]}
        window = self._window(query)
        if isinstance(window, dict):
            return 400, window
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        totals: dict[str, dict[str, Any]] = {}
        for item in self._matching(query, window):
            if not item["priced"]:
                continue
            keys = _dimensions(item, dimensions)
            row = rows.setdefault((*keys.values(), item["currency"]), {**keys, **_zero(item["currency"])})
            total = totals.setdefault(item["currency"], _zero(item["currency"]))
            for target in (row, total):
                _add(target, item)
        ordered = list(rows.values())
        time_dimensions = [d for d in dimensions if d in ("day", "month")]
        ordered.sort(key=lambda r: Decimal(r["amount"]), reverse=True)
        if "limit" in query:
            ordered = ordered[: int(query["limit"])]
        if time_dimensions:
            ordered.sort(key=lambda r: r[time_dimensions[0]])
        if query.get("format") == "csv":
            columns = list(ordered[0]) if ordered else [*dimensions, "currency", "amount"]
            return 200, Csv(_csv(ordered, columns))
        start, end = window
        return 200, {
            "group_by": dimensions,
            "from": _iso(start),
            "to": _iso(end),
            "rows": ordered,
            "totals": sorted(totals.values(), key=lambda t: t["currency"]),
        }

    # --- budgets -----------------------------------------------------------------------------------
    def route_budgets(self, method: str, route: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        self.queries.append((route, query))
        self.bodies.append((method, route, body))
        parts = [part for part in route.split("/") if part][1:]
        if not parts:
            if method == "POST":
                return self.create_budget(body)
            items = [b for b in self.budgets if query.get("team") in (None, b["team"]) or b["team"] is None]
            return 200, {"count": len(items), "next": None, "previous": None, "results": [self.shown(b) for b in items]}
        target = next((b for b in self.budgets if b["id"] == int(parts[0])), None)
        if target is None:
            return 404, {"detail": "No Budget matches the given query."}
        if method == "DELETE":
            self.budgets.remove(target)
            return 204, None
        if method == "PATCH":
            errors = _budget_errors({**target, **body})
            if errors:
                return 400, errors
            target.update(body)
        return 200, self.shown(target)

    def create_budget(self, body: dict[str, Any]) -> tuple[int, Any]:
        errors = _budget_errors(body)
        if body.get("team") not in TEAMS:
            errors["team"] = [f"Object with slug={body.get('team')} does not exist."]
        if any(b["team"] == body.get("team") and b["name"] == body.get("name") for b in self.budgets):
            errors["name"] = ["The team has a budget with this name."]
        if errors:
            return 400, errors
        rest = {key: value for key, value in body.items() if key not in ("name", "amount")}
        made = budget(self.next_budget_id, body["name"], body["amount"], **rest)
        self.next_budget_id += 1
        self.budgets.append(made)
        return 201, self.shown(made)

    def shown(self, item: dict[str, Any]) -> dict[str, Any]:
        """The budget with what the server computes: this month's spending of its scope."""
        spent = sum(
            (Decimal(r["amount"]) for r in self.ledger
             if r["priced"] and (item["team"] is None or r["team"] == item["team"])
             and r["currency"] == item["currency"] and r["start"] >= MONTH_START),
            Decimal(0),
        )  # fmt: skip
        if item["unit"] == "gpu_hours":
            spent = sum(
                (Decimal(r["count"]) * r["seconds"] / 3600 for r in self.ledger
                 if r["resource"] == "gpu" and (item["team"] is None or r["team"] == item["team"])),
                Decimal(0),
            ).quantize(MILLI)  # fmt: skip
        amount = Decimal(item["amount"])
        forecast = (spent * 31 / 6).quantize(CENT)  # six days in, at the same pace
        soft = item["soft_percent"] and spent >= amount * item["soft_percent"] / 100
        status = "hard" if item["hard"] and spent >= amount else "soft" if soft else "ok"
        return {
            **item,
            "amount": str(amount.quantize(CENT)),
            "period_start": MONTH_START if item["period"] == "monthly" else f"{item['starts_on']}T00:00:00Z",
            "period_end": "2027-01-01T00:00:00Z" if item["period"] == "monthly" else f"{item['ends_on']}T00:00:00Z",
            "spent": str(spent.quantize(CENT)),
            "remaining": str(max(amount - spent, Decimal(0)).quantize(CENT)),
            "forecast": str(forecast),
            "status": status,
            "alerts": [],
        }


def _budget_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    try:
        if Decimal(str(body.get("amount"))) <= 0:
            errors["amount"] = ["Ensure this value is greater than 0."]
    except ArithmeticError:
        errors["amount"] = ["A valid number is required."]
    if body.get("period") == "fixed" and not (body.get("starts_on") and body.get("ends_on")):
        errors["ends_on"] = ["A fixed budget needs starts_on and ends_on."]
    if body.get("currency") not in (None, "USD", "EUR"):
        errors["currency"] = [f'"{body["currency"]}" is not a valid choice.']
    return errors


def _dimensions(item: dict[str, Any], dimensions: list[str]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for dimension in dimensions:
        if dimension == "day":
            keys["day"] = item["start"][:10]
        elif dimension == "month":
            keys["month"] = item["start"][:7]
        elif dimension in ("job", "endpoint", "pool"):
            keys[dimension] = item[dimension]
            keys[f"{dimension}_name"] = item[f"{dimension}_name"]
        else:
            keys[dimension] = item[dimension]
    return keys


def _zero(currency: str) -> dict[str, Any]:
    return {"currency": currency, "amount": "0.00", "gpu_hours": "0.000", "cpu_hours": "0.000", "records": 0}


def _add(target: dict[str, Any], item: dict[str, Any]) -> None:
    hours = (Decimal(item["count"]) * item["seconds"] / 3600).quantize(MILLI)
    key = "gpu_hours" if item["resource"] == "gpu" else "cpu_hours"
    target["amount"] = str(Decimal(target["amount"]) + Decimal(item["amount"]))
    target[key] = str(Decimal(target[key]) + hours)
    target["records"] += 1


def _csv(items: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return out.getvalue()


__all__ = ["USER_TOKEN", "FakeCosts", "budget", "job_cost", "record", "sample_ledger"]
