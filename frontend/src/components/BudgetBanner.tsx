import { Link } from "react-router";
import { useBudgets } from "../api/costs";
import { budgetWarning } from "../lib/budgets";

/**
 * One line per budget the caller can see that is past its soft limit or at its amount, linking
 * to the costs page; nothing otherwise, nor when the budgets cannot be read (the costs page says
 * why). Polls with the budgets.
 */
export function BudgetBanner() {
  const budgets = useBudgets();
  const over = (budgets.data ?? [])
    .map((budget) => ({ budget, warning: budgetWarning(budget) }))
    .filter((b): b is { budget: (typeof b)["budget"]; warning: string } => b.warning !== null)
    // The budgets that hold work back first.
    .sort((a, b) => Number(b.budget.status === "hard") - Number(a.budget.status === "hard"));
  if (over.length === 0) return null;
  return (
    <div className="budget-banner" role="status" data-testid="budget-banner">
      {over.map(({ budget, warning }) => (
        <p key={budget.id} className={`budget-banner-${budget.status}`}>
          <Link to="/costs">{warning}</Link>
        </p>
      ))}
    </div>
  );
}
