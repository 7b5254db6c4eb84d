import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockApi, page, renderPage } from "../test/utils";
import { TokensPage } from "./TokensPage";

const token = {
  id: 3,
  name: "ci",
  prefix: "pdk_ab12",
  team: "demo",
  scope: "write",
  expires_at: null,
  created_at: new Date().toISOString(),
  last_used_at: null,
  revoked_at: null,
};

describe("TokensPage", () => {
  it("creates a token and shows the secret once", async () => {
    let tokens = [] as (typeof token)[];
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page([{ slug: "demo", name: "Demo", organisation: "acme", role: "admin" }]) },
      "GET /api/v1/tokens/": () => ({ body: page(tokens) }),
      "POST /api/v1/tokens/": () => {
        tokens = [token];
        return { status: 201, body: { ...token, token: "pdk_ab12_SECRET" } };
      },
    });
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    expect(await screen.findByText(/No API tokens yet/)).toBeInTheDocument();

    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Token name"), "ci");
    await user.selectOptions(screen.getByLabelText("Token team"), "demo");
    await user.selectOptions(screen.getByLabelText("Scope"), "write");
    await user.click(screen.getByRole("button", { name: "Create token" }));

    expect(await screen.findByTestId("new-token-value")).toHaveValue("pdk_ab12_SECRET");
    expect(screen.getByTestId("new-token")).toHaveTextContent("It will not be shown again.");
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ name: "ci", team: "demo", scope: "write" });
    expect(await screen.findByTestId("token-row-3")).toHaveTextContent("pdk_ab12…");

    await user.click(screen.getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByTestId("new-token")).not.toBeInTheDocument();
    expect(screen.queryByText("pdk_ab12_SECRET")).not.toBeInTheDocument();
  });

  it("sends null for a token that never expires", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": { body: page([]) },
      "POST /api/v1/tokens/": { status: 201, body: { ...token, token: "pdk_x" } },
    });
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    await userEvent.type(await screen.findByLabelText("Token name"), "forever");
    await userEvent.selectOptions(screen.getByLabelText("Expires"), "Never");
    await userEvent.click(screen.getByRole("button", { name: "Create token" }));
    await screen.findByTestId("new-token");
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ name: "forever", scope: "read", expires_in_days: null });
  });

  it("shows field errors from the server", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": { body: page([]) },
      "POST /api/v1/tokens/": { status: 400, body: { name: ["This field may not be blank."] } },
    });
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    await userEvent.click(await screen.findByRole("button", { name: "Create token" }));
    const field = screen.getByLabelText("Token name").closest(".field") as HTMLElement;
    expect(await within(field).findByText("This field may not be blank.")).toBeInTheDocument();
  });

  it("revokes a token after confirmation", async () => {
    vi.stubGlobal("confirm", vi.fn(() => true));
    let revoked: string | null = null;
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page([]) },
      "GET /api/v1/tokens/": () => ({ body: page([{ ...token, revoked_at: revoked }]) }),
      "POST /api/v1/tokens/3/revoke/": () => {
        revoked = new Date().toISOString();
        return { body: { ...token, revoked_at: revoked } };
      },
    });
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    await userEvent.click(await screen.findByRole("button", { name: "Revoke ci" }));
    await waitFor(() => expect(screen.getByTestId("token-row-3")).toHaveTextContent("revoked"));
    expect(screen.queryByRole("button", { name: "Revoke ci" })).not.toBeInTheDocument();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("shows an error when the list fails", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page([]) }, "GET /api/v1/tokens/": { status: 500, body: { detail: "Boom." } } });
    renderPage(<TokensPage />, { route: "/tokens", path: "/tokens" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load tokens. Boom.");
  });
});
