import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import { queryKeys, useMe } from "../api/queries";
import { Field } from "../components/Field";
import { FormError } from "../components/FormError";
import { errorMessage } from "../components/Status";
import { assignErrors } from "../lib/fieldErrors";

function safeNext(state: unknown): string {
  const next = (state as { next?: unknown } | null)?.next;
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") && next !== "/login"
    ? next
    : "/jobs";
}

export function LoginPage() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const me = useMe();

  const login = useMutation({
    mutationFn: async () => {
      await api.csrf();
      return api.login(username, password);
    },
    onSuccess: (user) => {
      queryClient.setQueryData(queryKeys.me, user);
      void navigate(safeNext(location.state), { replace: true });
    },
  });

  if (me.data && !login.isPending && !login.isSuccess) return <Navigate to={safeNext(location.state)} replace />;

  const errors =
    login.error instanceof ApiError && login.error.status === 400
      ? assignErrors(login.error.body, ["username", "password"])
      : { fields: {}, general: login.error ? [errorMessage(login.error)] : [] };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate();
  };

  return (
    <div className="login-page">
      <form className="card login-card" onSubmit={onSubmit} noValidate>
        <h1>Sign in to Paddock</h1>
        <FormError messages={errors.general} />
        <Field label="Username" errors={errors.fields.username}>
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoFocus
            required
          />
        </Field>
        <Field label="Password" errors={errors.fields.password}>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </Field>
        <button type="submit" disabled={login.isPending}>
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
