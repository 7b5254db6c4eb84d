"""How benchmarks and load tests print their figures: a plain table, and a 95th percentile."""

from __future__ import annotations


def table(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(int(round(0.95 * len(ordered))) - 1, 0)]
