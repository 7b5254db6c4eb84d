import { act, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Budget } from "../api/costs";
import { makeBudget } from "../test/costs";
import { mockApi, page, renderPage } from "../test/utils";
import { BudgetBanner } from "./BudgetBanner";

describe("BudgetBanner", () => {
  it("says which budgets are past their soft limit or spent, hard ones first, linking to the costs page", async () => {
    mockApi({
      "GET /api/v1/budgets/": {
        body: page([
          makeBudget(),
          makeBudget({ id: 2, team: null, organisation: "acme", status: "ok", spent: "10.00" }),
          makeBudget({ id: 3, team: "vision", status: "hard", spent: "2000.00", amount: "2000.00", currency: "EUR" }),
          makeBudget({ id: 4, team: "infra", status: "hard", hard: false, active: false }),
        ]),
      },
    });
    renderPage(<BudgetBanner />);

    const banner = await screen.findByTestId("budget-banner");
    const links = screen.getAllByRole("link");
    expect(links.map((l) => l.textContent)).toEqual([
      "Team vision has reached its EUR 2,000.00 monthly budget: new jobs wait",
      "Team nlp has used 94 % of its USD 5,000.00 monthly budget",
    ]);
    for (const link of links) expect(link).toHaveAttribute("href", "/costs");
    expect(banner.querySelector(".budget-banner-hard")).toHaveTextContent("Team vision");
  });

  it("shows nothing while every budget is fine, nor when budgets cannot be read", async () => {
    const { calls } = mockApi({ "GET /api/v1/budgets/": { body: page([makeBudget({ status: "ok", spent: "10.00" })]) } });
    const { unmount } = renderPage(<BudgetBanner />);
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(screen.queryByTestId("budget-banner")).not.toBeInTheDocument();
    unmount();

    mockApi({ "GET /api/v1/budgets/": { status: 500, body: { detail: "Down." } } });
    renderPage(<BudgetBanner />);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(screen.queryByTestId("budget-banner")).not.toBeInTheDocument();
  });

  it("polls every minute, so a budget that crosses its limit shows without a reload", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let budget: Budget = makeBudget({ status: "ok", spent: "3000.00" });
    const { calls } = mockApi({ "GET /api/v1/budgets/": () => ({ body: page([budget]) }) });
    renderPage(<BudgetBanner />);
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(screen.queryByTestId("budget-banner")).not.toBeInTheDocument();

    budget = makeBudget({ status: "hard", spent: "5000.00", on_hard_limit: "stop" });
    await act(() => vi.advanceTimersByTimeAsync(60_000));
    expect(await screen.findByRole("link")).toHaveTextContent(
      "Team nlp has reached its USD 5,000.00 monthly budget: new jobs wait and running jobs stop",
    );
    expect(calls).toHaveLength(2);
  });
});
