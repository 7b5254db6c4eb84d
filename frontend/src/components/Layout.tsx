import { useMutation, useQueryClient } from "@tanstack/react-query";
import { NavLink, Outlet, useNavigate } from "react-router";
import { api } from "../api/endpoints";
import { queryKeys, useMe } from "../api/queries";
import { BudgetBanner } from "./BudgetBanner";

/** The app shell: top navigation, user menu, the budget banner and the page. */
export function Layout() {
  const me = useMe().data;
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const logout = useMutation({
    mutationFn: api.logout,
    onSettled: () => {
      queryClient.clear();
      queryClient.setQueryData(queryKeys.me, null);
      void navigate("/login", { replace: true });
    },
  });

  return (
    <div className="shell">
      <header className="topbar">
        <NavLink to="/jobs" className="brand" end>
          Paddock
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/jobs" end>
            Jobs
          </NavLink>
          <NavLink to="/jobs/new">Submit job</NavLink>
          <NavLink to="/models">Models</NavLink>
          <NavLink to="/endpoints">Endpoints</NavLink>
          <NavLink to="/queue">Queue</NavLink>
          <NavLink to="/quotas">Quotas</NavLink>
          <NavLink to="/costs">Costs</NavLink>
          <NavLink to="/inventory">Inventory</NavLink>
          {(me?.is_staff || (me?.administers.length ?? 0) > 0) && <NavLink to="/idle-gpus">Idle GPUs</NavLink>}
          <NavLink to="/planner">Planner</NavLink>
          <NavLink to="/tokens">API tokens</NavLink>
        </nav>
        <div className="user-menu">
          <a href="/api/docs/">API docs</a>
          {me?.is_staff && <a href="/admin/">Admin</a>}
          {me && (
            <span className="username" data-testid="current-user">
              {me.username}
            </span>
          )}
          <button type="button" className="button-secondary" onClick={() => logout.mutate()} disabled={logout.isPending}>
            Log out
          </button>
        </div>
      </header>
      <BudgetBanner />
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
