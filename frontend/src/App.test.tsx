import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import { AppRoutes } from "./App";
import { createQueryClient } from "./queryClient";
import { LocationProbe, mockApi, page } from "./test/utils";

const me = { id: 1, username: "alice", is_staff: true, teams: [{ slug: "demo", name: "Demo", role: "member" }], administers: [] };

function renderApp(route: string) {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <MemoryRouter initialEntries={[route]}>
        <AppRoutes />
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("auth flow", () => {
  it("sends an anonymous visitor to /login, signs in with CSRF, and returns to the page", async () => {
    let signedIn = false;
    const { calls } = mockApi({
      "GET /api/v1/auth/me/": () => (signedIn ? { body: me } : { status: 401, body: { detail: "Not authenticated." } }),
      "GET /api/v1/auth/csrf/": () => {
        document.cookie = "csrftoken=fresh-token; path=/";
        return { status: 204 };
      },
      "POST /api/v1/auth/login/": () => {
        signedIn = true;
        return { body: me };
      },
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": { body: page([]) },
    });
    renderApp("/tokens");

    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/login"));
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "s3cret");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/tokens"));
    const login = calls.find((c) => c.url.pathname === "/api/v1/auth/login/")!;
    expect(login.headers.get("X-CSRFToken")).toBe("fresh-token");
    expect(login.body).toEqual({ username: "alice", password: "s3cret" });
    expect(calls.findIndex((c) => c.url.pathname === "/api/v1/auth/csrf/")).toBeLessThan(calls.indexOf(login));
    expect(await screen.findByTestId("current-user")).toHaveTextContent("alice");
    expect(screen.getByRole("link", { name: "Admin" })).toHaveAttribute("href", "/admin/");
    expect(screen.getByRole("link", { name: "API docs" })).toHaveAttribute("href", "/api/docs/");
    expect(screen.getByRole("link", { name: "Planner" })).toHaveAttribute("href", "/planner");
    expect(screen.getByRole("link", { name: "Queue" })).toHaveAttribute("href", "/queue");
    expect(screen.getByRole("link", { name: "Quotas" })).toHaveAttribute("href", "/quotas");
    expect(screen.getByRole("link", { name: "Costs" })).toHaveAttribute("href", "/costs");
    expect(screen.getByRole("link", { name: "Models" })).toHaveAttribute("href", "/models");
    expect(screen.getByRole("link", { name: "Endpoints" })).toHaveAttribute("href", "/endpoints");
  });

  it("goes to /jobs after a plain sign-in", async () => {
    let signedIn = false;
    mockApi({
      "GET /api/v1/auth/me/": () => (signedIn ? { body: me } : { status: 401 }),
      "GET /api/v1/auth/csrf/": { status: 204 },
      "POST /api/v1/auth/login/": () => {
        signedIn = true;
        return { body: me };
      },
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/jobs/": { body: page([]) },
    });
    renderApp("/login");
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "pw");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/jobs$/));
    expect(await screen.findByText(/No jobs yet/)).toBeInTheDocument();
  });

  it("shows the server's non-field error for bad credentials", async () => {
    mockApi({
      "GET /api/v1/auth/me/": { status: 401 },
      "GET /api/v1/auth/csrf/": { status: 204 },
      "POST /api/v1/auth/login/": { status: 400, body: { non_field_errors: ["Unable to log in with provided credentials."] } },
    });
    renderApp("/login");
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Unable to log in with provided credentials.");
    expect(screen.getByTestId("location")).toHaveTextContent("/login");
  });

  it("returns to /login when the session expires mid-use", async () => {
    mockApi({
      "GET /api/v1/auth/me/": { body: me },
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/jobs/": { status: 401, body: { detail: "Authentication credentials were not provided." } },
    });
    renderApp("/jobs");
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/login"));
    expect(screen.getByRole("button", { name: "Sign in" })).toBeInTheDocument();
  });

  it("logs out", async () => {
    let signedIn = true;
    const { calls } = mockApi({
      "GET /api/v1/auth/me/": () => (signedIn ? { body: me } : { status: 401 }),
      "POST /api/v1/auth/logout/": () => {
        signedIn = false;
        return { status: 204 };
      },
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/jobs/": { body: page([]) },
    });
    renderApp("/jobs");
    await userEvent.click(await screen.findByRole("button", { name: "Log out" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/login"));
    expect(calls.some((c) => c.method === "POST" && c.url.pathname === "/api/v1/auth/logout/")).toBe(true);
  });
});
