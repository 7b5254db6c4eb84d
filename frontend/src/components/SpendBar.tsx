import type { BudgetStatus } from "../api/costs";

/**
 * A small bar of spend against a budget, coloured by the budget's status (ok, soft, hard); full
 * at the budget's amount, however far past it the spend went.
 */
export function SpendBar({ fraction, status, label }: { fraction: number; status: BudgetStatus; label: string }) {
  const percent = Math.round(Math.max(0, fraction) * 100);
  return (
    <span
      className={`spend-bar spend-bar-${status}`}
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.min(percent, 100)}
      aria-valuetext={`${percent} %`}
    >
      <span className="spend-bar-fill" style={{ width: `${Math.min(percent, 100)}%` }} />
    </span>
  );
}
