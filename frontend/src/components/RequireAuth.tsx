import { Navigate, Outlet, useLocation } from "react-router";
import { useMe } from "../api/queries";
import { ErrorState, Loading } from "./Status";

/** Renders the app for a signed-in user; sends anyone else to /login and back afterwards. */
export function RequireAuth() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading label="Checking your session…" />;
  if (me.isError) return <ErrorState error={me.error} title="Could not check your session" onRetry={() => void me.refetch()} />;
  if (me.data === null) {
    const next = location.pathname + location.search;
    return <Navigate to="/login" replace state={{ next }} />;
  }
  return <Outlet />;
}
