"""``paddock costs …`` against a fake Paddock that speaks issue 13's contract: what people read
(aligned tables, money with separators and its currency, totals), what scripts take (--json as
the API sent it, --csv as the server wrote it), and the exit codes a pipeline relies on, as every
paddock command has them (0 ok; 2 Paddock refused the request or the command line is wrong; 1
Paddock failed or could not be reached), each refusal said in one line."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from paddock.cli import main
from paddock.costs_cli import grouped
from paddock.output import refusal_line
from tests.paddock.fake_costs import USER_TOKEN, FakeCosts, budget, job_cost, record, sample_ledger


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeCosts]:
    server = FakeCosts(tmp_path).start()
    server.ledger = sample_ledger()
    yield server
    server.stop()


def cli_run(fake: FakeCosts, *args: str) -> int:
    return main(["--url", fake.url, "--token", USER_TOKEN, *args])


def queries(fake: FakeCosts, prefix: str) -> list[dict[str, str]]:
    return [query for route, query in fake.queries if route.startswith(prefix)]


# --- the summary -----------------------------------------------------------------------------------


def test_summary_is_a_table_by_team_this_month_with_separators_and_a_total(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_run(fake, "costs") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Costs by team, 2026-12-01 → 2026-12-06 14:05 UTC"  # the server's window, its default
    assert lines[1].split() == ["TEAM", "AMOUNT", "GPU-H", "CPU-H"]
    assert lines[2].split() == ["nlp", "USD", "1,438.08", "576.000", "96.000"]  # amount descending
    assert lines[3].split() == ["vision", "USD", "392.16", "304.000", "0.000"]
    assert set(lines[4]) == {"─"}
    assert lines[5].split() == ["total", "USD", "1,830.24", "880.000", "96.000"]
    assert len(lines) == 6
    # numbers line up on their last digit, under the end of their header
    assert len({line.index(".08") for line in lines[2:3]} | {lines[3].index(".16"), lines[5].index(".24")}) == 1
    assert lines[1].index("AMOUNT") + len("AMOUNT") == lines[2].index("1,438.08") + len("1,438.08")
    assert queries(fake, "costs/summary") == [{"group_by": "team"}]  # no window: the server's this month


def test_summary_by_two_dimensions_in_a_window_keeps_time_order_and_totals_per_currency(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.ledger.append(
        record(20, "vision", "2026-12-04T00:00:00Z", 1000, count="1", accelerator_model="L40S", rate="1.2345",
               currency="EUR")
    )  # fmt: skip
    assert cli_run(fake, "costs", "--group-by", "team,day", "--from", "2026-12-02", "--to", "2026-12-06") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Costs by team and day, 2026-12-02 → 2026-12-06 UTC"
    assert lines[1].split() == ["TEAM", "DAY", "AMOUNT", "GPU-H", "CPU-H"]
    days = [line.split()[1] for line in lines[2:-3]]
    assert days == sorted(days) and days[0] == "2026-12-02"  # time order when a time is grouped
    assert lines[-3].startswith("─")
    assert lines[-2].split() == ["total", "EUR", "1,234.50", "1,000.000", "0.000"]
    assert lines[-1].split() == ["total", "USD", "1,710.72", "832.000", "96.000"]
    assert queries(fake, "costs/summary")[-1] == {"group_by": "team,day", "from": "2026-12-02", "to": "2026-12-06"}


def test_summary_limit_team_and_job_names(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(fake, "costs", "--group-by", "job", "--team", "nlp", "--limit", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(", the 2 highest")
    assert lines[2].split()[:2] == ["38", "llama-70b-pretrain"] and lines[3].split()[:2] == ["41", "llama-70b-sft"]
    assert queries(fake, "costs/summary")[-1] == {"group_by": "job", "team": "nlp", "limit": "2"}


def test_summary_json_is_the_api_s_json_untouched(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(fake, "costs", "--group-by", "pool", "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == fake.answers[-1]
    assert printed["rows"][0]["amount"] == "1434.24"  # the decimal string as the server sent it


def test_summary_csv_writes_the_server_s_csv_to_stdout_or_a_file(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli_run(fake, "costs", "--csv", "--group-by", "team,month") == 0
    out = capsys.readouterr().out
    assert out == (
        "team,month,currency,amount,gpu_hours,cpu_hours,records\n"
        "nlp,2026-12,USD,1438.08,576.000,96.000,4\n"
        "vision,2026-12,USD,392.16,304.000,0.000,2\n"
    )
    assert queries(fake, "costs/summary")[-1] == {"group_by": "team,month", "format": "csv"}

    target = tmp_path / "costs.csv"
    assert cli_run(fake, "costs", "--csv", "--group-by", "team,month", "-o", str(target)) == 0
    captured = capsys.readouterr()
    assert target.read_text() == out and captured.out == ""
    assert captured.err.strip() == f"wrote 2 rows to {target}"


def test_from_after_to_is_the_server_s_refusal_in_one_line(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(fake, "costs", "--from", "2026-12-05", "--to", "2026-12-01") == 2
    captured = capsys.readouterr()
    assert captured.err == "paddock costs: error: HTTP 400: from: from must not be after to\n"
    assert captured.out == ""
    assert cli_run(fake, "costs", "usage", "--from", "2026-12-05", "--to", "2026-12-01", "--json") == 2
    assert capsys.readouterr().err == "paddock costs usage: error: HTTP 400: from: from must not be after to\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["costs", "--group-by", "team,cluster"],  # not a dimension
        ["costs", "--group-by", "team,day,user"],  # at most two
        ["costs", "--from", "2026-13-01"],
        ["costs", "--limit", "0"],
        ["costs", "--json", "--csv"],
        ["costs", "usage", "--limit", "-3"],
        ["costs", "budget", "set", "--team", "nlp", "--amount", "5,000"],
        ["costs", "budget", "set", "--team", "nlp", "--amount", "100", "--soft-percent", "120"],
        ["costs", "budget", "set", "--amount", "100"],  # no team
        ["costs", "bogus"],
    ],
)
def test_usage_errors_exit_2_before_asking_the_server(fake: FakeCosts, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_run(fake, *argv)
    assert exc.value.code == 2
    assert fake.queries == []


def test_flags_that_do_not_go_together_exit_2(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(fake, "costs", "-o", "x.csv") == 2
    assert "-o FILE goes with --csv" in capsys.readouterr().err
    assert cli_run(fake, "costs", "--group-by", "day", "usage") == 2
    assert "--group-by is for the summary" in capsys.readouterr().err
    assert cli_run(fake, "costs", "--csv", "job", "41") == 2
    assert cli_run(fake, "costs", "--from", "2026-12-01", "budgets") == 2
    assert cli_run(fake, "costs", "budget", "set", "--team", "nlp", "--amount", "9", "--period", "fixed",
                   "--from", "2027-01-01") == 2  # fmt: skip
    assert "--period fixed needs --from and --to" in capsys.readouterr().err
    assert fake.queries == []


# --- the ledger ------------------------------------------------------------------------------------


def test_usage_follows_the_cursor_up_to_the_limit_newest_first(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.page_size_cap = 2  # the server pages by two whatever is asked
    assert cli_run(fake, "costs", "usage", "--limit", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["START", "(UTC)", "TEAM", "USER", "WORK", "RESOURCES", "TIME", "RATE", "AMOUNT"]
    assert [line[:16] for line in lines[1:4]] == ["2026-12-06 08:00", "2026-12-05 21:00", "2026-12-05 00:00"]
    assert lines[4] == "… the newest 3; --limit N shows more, --csv writes them all"
    assert len(queries(fake, "usage")) == 2  # two pages for three records, not all four
    assert queries(fake, "usage")[1]["cursor"] == "o2"

    fake.queries.clear()
    assert cli_run(fake, "costs", "usage") == 0  # the default limit, 50: every page
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 7 and len(queries(fake, "usage")) == 4
    first = lines[1]
    assert first.split() == ["2026-12-06", "08:00", "nlp", "alice", "job", "41", "llama-70b-sft", "#1", "8", "×",
                             "H100", "SXM", "6", "h", "USD", "2.4900/GPU-h", "USD", "119.52"]  # fmt: skip
    big = next(line for line in lines if "llama-70b-pretrain" in line)
    assert big.endswith("USD 1,195.20") and "2 d 12 h" in big
    assert "endpoint support-chat" in lines[3] and "32 CPU" in lines[5] and "USD 0.0400/CPU-h" in lines[5]
    assert lines[7].split()[-3:] == ["not", "priced", "—"]
    assert lines[1].index("USD 119.52") + 10 == len(lines[1]) == big.index("USD 1,195.20") + 12  # right-aligned


def test_usage_filters_json_and_csv(fake: FakeCosts, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_run(fake, "costs", "usage", "--team", "nlp", "--job", "38", "--from", "2026-12-01", "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert [item["id"] for item in printed] == [6]
    assert printed[0] == next(item for item in fake.ledger if item["id"] == 6)
    assert queries(fake, "usage")[-1] == {"page_size": "50", "team": "nlp", "job": "38", "from": "2026-12-01"}

    assert cli_run(fake, "costs", "--team", "vision", "usage", "--json") == 0  # --team before the command counts
    assert {item["team"] for item in json.loads(capsys.readouterr().out)} == {"vision"}

    assert cli_run(fake, "costs", "usage", "--endpoint", "7", "--csv", "--limit", "1") == 2
    assert "--csv writes every matching record" in capsys.readouterr().err
    assert cli_run(fake, "costs", "usage", "--endpoint", "7", "--csv") == 0
    out = capsys.readouterr().out
    assert out.startswith("id,team,user,job,") and out.count("\n") == 2 and ",support-chat," in out
    query = queries(fake, "usage")[-1]
    assert query == {"endpoint": "7", "format": "csv"}  # the export is every matching row, unpaged

    target = tmp_path / "usage.csv"
    assert cli_run(fake, "costs", "usage", "--csv", "--output", str(target)) == 0
    assert target.read_text().count("\n") == 8
    assert capsys.readouterr().err.strip() == f"wrote 7 rows to {target}"


def test_usage_empty(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    fake.ledger = []
    assert cli_run(fake, "costs", "usage") == 0
    assert capsys.readouterr().out == "no usage recorded\n"
    assert cli_run(fake, "costs") == 0
    assert capsys.readouterr().out.splitlines()[1] == "nothing was charged in this window"


# --- a job's cost ----------------------------------------------------------------------------------


def test_job_cost_shows_live_total_rate_and_each_attempt_s_prices(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.job_costs[41] = job_cost()
    assert cli_run(fake, "costs", "job", "41") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "job 41: USD 1,254.48 so far, running at USD 19.92/h"  # live, not just accrued
    assert lines[1].split() == ["GPU-hours", "496.000"]
    assert lines[3].split() == ["charged", "USD", "1,234.56", "until", "2026-12-06", "14:00"]
    table = lines[5:]
    assert table[0].split() == ["ATTEMPT", "STATE", "START", "(UTC)", "TIME", "RESOURCES", "AMOUNT", "PRICE"]
    assert table[1].split()[:2] == ["1", "failed"] and table[1].endswith("USD 2.4900/GPU-h on demand (AWS p5.48xlarge)")
    assert table[2].split()[:2] == ["2", "running"] and "USD 1,194.72" in table[2]
    assert table[2].endswith("2026-12-04 12:30 → 2026-12-05 00:00: USD 229.08")
    assert table[3].strip() == "USD 2.1000/GPU-h reserved (AWS p5 1-year reserved), 2026-12-05 00:00 → now: USD 965.64"
    assert table[3].index("USD") == table[0].index("PRICE")  # a second price of the same attempt, under the first

    assert cli_run(fake, "costs", "job", "41", "--json") == 0
    assert json.loads(capsys.readouterr().out) == job_cost()


def test_finished_and_unpriced_jobs(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    fake.job_costs[35] = job_cost(35, running=False, rate_per_hour=None, live_amount="1234.56", attempts=[])
    fake.job_costs[36] = job_cost(36, running=False, currency="", amount="0.00", live_amount="0.00", attempts=[])
    assert cli_run(fake, "costs", "job", "35") == 0
    assert capsys.readouterr().out.splitlines()[0] == "job 35: USD 1,234.56"
    assert cli_run(fake, "costs", "job", "36") == 0
    assert capsys.readouterr().out.splitlines()[0] == "job 36: not priced"
    assert cli_run(fake, "costs", "job", "99") == 3  # another team's job is a 404 like a missing one
    assert capsys.readouterr().err == "paddock costs job: error: HTTP 404: Not found.\n"


# --- budgets ---------------------------------------------------------------------------------------


def test_budgets_table_shows_spent_of_amount_remaining_forecast_and_status(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.budgets = [
        budget(1, "nlp monthly", "1500", on_hard_limit="stop"),
        budget(2, "vision monthly", "20000", team="vision", soft_percent=None, hard=False),
        budget(3, "acme gpu hours", "5000", team=None, unit="gpu_hours", currency=""),
    ]
    assert cli_run(fake, "costs", "budgets") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPE", "PERIOD", "SPENT", "/", "AMOUNT", "REMAINING", "FORECAST",
                                "ALERT/LIMIT", "STATUS"]  # fmt: skip
    nlp, vision, org = lines[1:]
    assert "team nlp" in nlp and "monthly 2026-12" in nlp
    assert "USD 1,438.08 / 1,500.00 (95 %)" in nlp and "USD 61.92" in nlp
    assert "USD 7,430.08 (over)" in nlp and "80 %, hard: stop " in nlp
    assert nlp.endswith("soft")
    assert "USD 392.16 / 20,000.00 (1 %)" in vision and "USD 2,026.16 " in vision and "(over)" not in vision
    assert " none " in vision and vision.endswith("ok") and "80 %, hard: continue " in org
    assert "org acme" in org and "896.00 / 5,000.00 GPU-h (17 %)" in org and "4,104.00 GPU-h" in org
    assert len({line.index(" / ") for line in lines[1:]}) == 1  # what is spent lines up on the slash

    assert cli_run(fake, "costs", "budgets", "--team", "nlp") == 0
    shown = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert shown == ["nlp", "acme"]  # the team's own and its organisation's

    assert cli_run(fake, "costs", "budgets", "--json") == 0
    assert json.loads(capsys.readouterr().out) == fake.answers[-1]["results"]

    fake.budgets = []
    assert cli_run(fake, "costs", "budgets") == 0
    assert capsys.readouterr().out == "no budgets\n"


def test_budget_set_creates_then_changes_the_budget_of_that_name(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_run(fake, "costs", "budget", "set", "--team", "nlp", "--amount", "5000") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "created budget 1 'nlp monthly' (team nlp): USD 5,000.00 monthly, alert at 80 %; hard, running work goes on"
    )
    assert out[1] == "  spent USD 1,438.08 / 5,000.00 (28 %), remaining USD 3,561.92, status ok"
    creates = [body for method, _, body in fake.bodies if method == "POST"]
    assert creates == [{"name": "nlp monthly", "team": "nlp", "unit": "money", "period": "monthly",
                        "amount": "5000", "currency": "USD"}]  # fmt: skip
    assert [h.get("Idempotency-Key") for m, h in fake.headers_seen if m == "POST"][0]  # a retried create is one

    assert cli_run(fake, "costs", "budget", "set", "--team", "nlp", "--amount", "1200.50", "--soft-percent", "90",
                   "--no-hard", "--json") == 0  # fmt: skip
    changed = json.loads(capsys.readouterr().out)
    assert changed["id"] == 1 and changed["amount"] == "1200.50" and changed["hard"] is False
    assert [(m, r, b) for m, r, b in fake.bodies if m == "PATCH"] == [
        ("PATCH", "budgets/1/", {"amount": "1200.50", "soft_percent": 90, "hard": False})
    ]  # only what was given: the rest of the budget stays as it was
    assert len(fake.budgets) == 1

    assert cli_run(fake, "costs", "budget", "set", "--team", "vision", "--name", "q1 training", "--amount", "300",
                   "--unit", "gpu_hours", "--period", "fixed", "--from", "2027-01-01", "--to", "2027-04-01",
                   "--hard", "--on-hard-limit", "stop") == 0  # fmt: skip
    assert capsys.readouterr().out.startswith(
        "created budget 2 'q1 training' (team vision): 300.00 GPU-h from 2027-01-01 to 2027-04-01, alert at 80 %; "
        "hard, stops running work"
    )
    assert [b for m, _, b in fake.bodies if m == "POST"][-1] == {
        "name": "q1 training", "team": "vision", "unit": "gpu_hours", "period": "fixed", "amount": "300",
        "starts_on": "2027-01-01", "ends_on": "2027-04-01", "hard": True, "on_hard_limit": "stop",
    }  # fmt: skip


def test_budget_field_errors_are_one_readable_line_and_exit_2(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_run(fake, "costs", "budget", "set", "--team", "nope", "--amount", "5", "--currency", "XYZ") == 2
    captured = capsys.readouterr()
    assert captured.err == (
        'paddock costs budget set: error: HTTP 400: currency: "XYZ" is not a valid choice; '
        "team: Object with slug=nope does not exist\n"
    )
    assert "{" not in captured.err and captured.out == ""
    assert fake.budgets == []


def test_budget_delete(fake: FakeCosts, capsys: pytest.CaptureFixture[str]) -> None:
    fake.budgets = [budget(4, "nlp monthly", "5000")]
    assert cli_run(fake, "costs", "budget", "delete", "4") == 0
    assert capsys.readouterr().out == "deleted budget 4 'nlp monthly' (team nlp)\n"
    assert fake.budgets == [] and fake.count("DELETE", "/api/v1/budgets/4/") == 1
    assert cli_run(fake, "costs", "budget", "delete", "4") == 3
    assert capsys.readouterr().err == (
        "paddock costs budget delete: error: HTTP 404: No Budget matches the given query.\n"
    )


# --- errors ----------------------------------------------------------------------------------------


def test_a_refused_token_exits_4_failures_and_an_unreachable_server_1_in_one_line(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", fake.url, "--token", "pdk_bad.bad", "costs"]) == 4
    assert capsys.readouterr().err == (
        "paddock costs: error: HTTP 401: Invalid token. (check --token or $PADDOCK_TOKEN)\n"
    )
    fake.fail("/api/v1/usage/", 502, body=b"<html>\n<body>Bad gateway</body>\n</html>\n")
    assert cli_run(fake, "costs", "usage") == 1
    assert capsys.readouterr().err == "paddock costs usage: error: HTTP 502: Bad gateway\n"  # the page's words
    fake.fail("/api/v1/usage/", 503, body={"detail": "Database unavailable."})
    assert cli_run(fake, "costs", "usage", "--csv") == 1  # a download's refusal is JSON too
    assert capsys.readouterr().err == "paddock costs usage: error: HTTP 503: Database unavailable.\n"

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{free.getsockname()[1]}"
    assert main(["--url", closed, "--token", USER_TOKEN, "costs", "budgets"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"paddock costs budgets: error: cannot reach Paddock at {closed}: ") and err.count("\n") == 1


def test_refusal_line_and_separators() -> None:
    assert refusal_line({"non_field_errors": ["Budgets overlap."], "amount": ["Too big.", "Really."]}) == (
        "Budgets overlap; amount: Too big. Really"
    )
    assert refusal_line({"attempts": {"0": ["bad"]}}) == "attempts.0: bad"  # nested fields by their path
    assert refusal_line({"resources": {"gpus": ["Too many."]}, "runtime_env": {"pip": {"0": ["Not PEP 508."]}}}) == (
        "resources.gpus: Too many; runtime_env.pip.0: Not PEP 508"
    )
    assert refusal_line(None) == "no detail"
    assert [grouped(v) for v in ("1234567.5", "-1200.00", "0.000", None, "n/a")] == [
        "1,234,567.5", "-1,200.00", "0.000", "—", "n/a"
    ]  # fmt: skip


def test_budget_set_will_not_guess_between_two_budgets_of_one_name(
    fake: FakeCosts, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.budgets = [budget(1, "nlp monthly", "5000"), budget(2, "nlp monthly", "6000")]  # an older server allowed it
    assert cli_run(fake, "costs", "budget", "set", "--team", "nlp", "--amount", "7000") == 2
    assert "several budgets named 'nlp monthly' (ids 1, 2)" in capsys.readouterr().err
    assert [m for m, _, _ in fake.bodies if m != "GET"] == []
