import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { api } from "../api/endpoints";
import { queryKeys, useMe } from "../api/queries";
import { BudgetBanner } from "./BudgetBanner";

/**
 * The app shell: top navigation, user menu, the budget banner and the page. On a narrow screen
 * the links fold into a menu behind a button (Escape or choosing a page closes it).
 */
export function Layout() {
  const me = useMe().data;
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  useEffect(() => setMenuOpen(false), [location.pathname]);
  const onMenuKey = (event: KeyboardEvent) => {
    if (event.key === "Escape" && menuOpen) {
      setMenuOpen(false);
      toggle.current?.focus();
    }
  };
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
      <header className="topbar" onKeyDown={onMenuKey}>
        <NavLink to="/jobs" className="brand" end>
          Paddock
        </NavLink>
        <button
          ref={toggle}
          type="button"
          className="menu-toggle button-secondary"
          aria-expanded={menuOpen}
          aria-controls="main-menu"
          onClick={() => setMenuOpen((open) => !open)}
        >
          <span aria-hidden="true">☰</span> Menu
        </button>
        <div id="main-menu" className={`topbar-menu${menuOpen ? " open" : ""}`}>
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
        </div>
      </header>
      <BudgetBanner />
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
