import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeVersion } from "../test/registry";
import { makeEndpoint } from "../test/serving";
import { mockApi, page, renderPage, type Handler, type MockResponse } from "../test/utils";
import { EndpointNewPage } from "./EndpointNewPage";

const teams = [
  { slug: "demo", name: "Demo", organisation: "acme", role: "member" },
  { slug: "research", name: "Research", organisation: "acme", role: "member" },
];
const clusters = [{ id: 1, name: "local", kind: "ray", state: "ready", usable_by: ["demo", "research"] }];
const versions = [
  makeVersion({ id: 3, model_name: "tiny-llama", version: 1, stage: "production", checkpoint_step: 100 }),
  makeVersion({ id: 4, model_name: "tiny-llama", version: 2, stage: "archived" }),
];

function mockForm(routes: Record<string, MockResponse | Handler> = {}) {
  return mockApi({
    "GET /api/v1/teams/": { body: page(teams) },
    "GET /api/v1/clusters/": { body: page(clusters) },
    "GET /api/v1/priority-classes/": { body: page([]) },
    "GET /api/v1/model-versions/": { body: page(versions) },
    ...routes,
  });
}

const created = {
  ...makeEndpoint({ id: 12, state: "pending", url: "", openai_base_url: "" }),
  token: { id: 1, name: "default", prefix: "pde_ab12", token: "pde_ab12_SECRET" },
};

describe("EndpointNewPage", () => {
  it("creates an endpoint from a registered version and shows its token once, with the way to it", async () => {
    const { calls } = mockForm({ "POST /api/v1/endpoints/": { status: 201, body: created } });
    renderPage(<EndpointNewPage />, { route: "/endpoints/new", path: "/endpoints/new" });
    const user = userEvent.setup();

    await user.type(await screen.findByLabelText("Name"), "tiny-chat");
    expect(screen.getByRole("form", { name: "New endpoint" })).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Cluster"), "local");
    const version = screen.getByLabelText("Model version");
    await waitFor(() => expect(within(version).getByRole("option", { name: "tiny-llama v1, production · step 100" })).toBeInTheDocument());
    // Archived versions are not offered.
    expect(within(version).queryByRole("option", { name: /v2/ })).not.toBeInTheDocument();
    await user.selectOptions(version, "3");
    await user.clear(screen.getByLabelText("Max replicas"));
    await user.type(screen.getByLabelText("Max replicas"), "2");
    await user.click(screen.getByLabelText(/Scale to zero when idle/));
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));

    const box = await screen.findByTestId("endpoint-token");
    expect(box).toHaveTextContent("Copy this token now. It will not be shown again.");
    expect(screen.getByTestId("endpoint-token-value")).toHaveValue("pde_ab12_SECRET");
    expect(screen.getByTestId("endpoint-link")).toHaveAttribute("href", "/endpoints/12");
    expect(screen.queryByRole("form", { name: "New endpoint" })).not.toBeInTheDocument();

    const post = calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({
      team: "demo",
      name: "tiny-chat",
      cluster: "local",
      runtime: "ray-serve",
      model_version: 3,
      cpus: 1,
      gpus: 0,
      accelerator_model: "",
      memory_gb: 0,
      min_replicas: 1,
      max_replicas: 2,
      target_ongoing_requests: 2,
      scale_to_zero: true,
    });
    expect(post.headers.get("Idempotency-Key")).toBeTruthy();
    const versionQuery = calls.find((c) => c.url.pathname === "/api/v1/model-versions/")!;
    expect(versionQuery.url.searchParams.get("team")).toBe("demo");
  });

  it("sends a directory and an entry point instead of a version", async () => {
    const { calls } = mockForm({ "POST /api/v1/endpoints/": { status: 201, body: created } });
    renderPage(<EndpointNewPage />, { route: "/endpoints/new", path: "/endpoints/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "tiny-chat");
    await user.click(screen.getByLabelText("A model directory and entry point"));
    await user.type(screen.getByLabelText("Model URI"), "/models/tiny");
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    await screen.findByTestId("endpoint-token");
    const body = calls.find((c) => c.method === "POST")!.body as Record<string, unknown>;
    expect(body).toMatchObject({ model_uri: "/models/tiny", entry_point: "paddock.serving.model:CausalLM" });
    expect(body).not.toHaveProperty("model_version");
  });

  it("shows the server's field errors under their fields, focuses the first, and clears one when its field changes", async () => {
    const { calls } = mockForm({
      "POST /api/v1/endpoints/": {
        status: 400,
        body: {
          name: ["An endpoint named tiny-chat already exists in team demo."],
          max_replicas: ["Must be at least min_replicas (1)."],
        },
      },
    });
    renderPage(<EndpointNewPage />, { route: "/endpoints/new", path: "/endpoints/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "tiny-chat");
    await waitFor(() => expect(screen.getAllByRole("option", { name: /tiny-llama v1/ })).toHaveLength(1));
    await user.selectOptions(screen.getByLabelText("Model version"), "3");
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));

    const name = screen.getByLabelText("Name");
    await waitFor(() => expect(name).toHaveAccessibleDescription(/already exists in team demo/));
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveFocus();
    const max = screen.getByLabelText("Max replicas");
    expect(max).toHaveAccessibleDescription("Must be at least min_replicas (1).");

    await user.type(name, "-2");
    expect(name).not.toHaveAttribute("aria-invalid");
    expect(screen.queryByText(/already exists in team demo/)).not.toBeInTheDocument();
    expect(max).toHaveAccessibleDescription("Must be at least min_replicas (1).");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("asks for a version before sending anything", async () => {
    const { calls } = mockForm();
    renderPage(<EndpointNewPage />, { route: "/endpoints/new", path: "/endpoints/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "tiny-chat");
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    const version = screen.getByLabelText("Model version");
    expect(version).toHaveAccessibleDescription("Choose a model version.");
    expect(version).toHaveFocus();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("says what went wrong when the server refuses for no one field", async () => {
    mockForm({ "POST /api/v1/endpoints/": { status: 409, body: { detail: "Team demo's serving quota is used up." } } });
    renderPage(<EndpointNewPage />, { route: "/endpoints/new", path: "/endpoints/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "tiny-chat");
    await user.click(screen.getByLabelText("A model directory and entry point"));
    await user.type(screen.getByLabelText("Model URI"), "/models/tiny");
    await user.click(screen.getByRole("button", { name: "Create endpoint" }));
    const alert = await screen.findByTestId("form-error");
    expect(alert).toHaveTextContent("Team demo's serving quota is used up.");
    await waitFor(() => expect(alert).toHaveFocus());
  });
});
