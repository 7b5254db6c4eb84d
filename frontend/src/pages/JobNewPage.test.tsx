import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeJob, mockApi, page, renderPage } from "../test/utils";
import { JobNewPage } from "./JobNewPage";

const teams = [
  { slug: "research", name: "Research", organisation: "acme", role: "viewer" },
  { slug: "demo", name: "Demo", organisation: "acme", role: "member" },
];
const clusters = [{ id: 3, name: "local-ray", kind: "ray", address: "127.0.0.1:8265", state: "ready", created_at: "" }];

function fieldOf(label: string): HTMLElement {
  return screen.getByLabelText(label).closest(".field") as HTMLElement;
}

describe("JobNewPage", () => {
  it("submits the form as the API's nested body and opens the new job", async () => {
    document.cookie = "csrftoken=tok123; path=/";
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 99, state: "pending" }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();

    // The first team the user may submit to is preselected; viewer teams are disabled.
    expect(await screen.findByLabelText("Team")).toHaveValue("demo");
    expect(screen.getByRole("option", { name: /research/ })).toBeDisabled();

    await user.type(screen.getByLabelText("Name"), "hello");
    await user.type(screen.getByLabelText("Entrypoint"), "python -c 'print(1)'");
    await user.selectOptions(screen.getByLabelText("Kind"), "training");
    await user.selectOptions(screen.getByLabelText("Cluster"), "local-ray");
    await user.type(screen.getByLabelText("Environment variables"), "A=1{Enter}B=x=y");
    await user.type(screen.getByLabelText("Pip packages"), "numpy{Enter}{Enter}torch==2.5.1");
    await user.clear(screen.getByLabelText("GPUs"));
    await user.type(screen.getByLabelText("GPUs"), "2");
    await user.type(screen.getByLabelText("Accelerator model"), "H100");
    await user.click(screen.getByRole("button", { name: "Submit" }));

    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/99"));
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.headers.get("X-CSRFToken")).toBe("tok123");
    expect(post.body).toEqual({
      name: "hello",
      team: "demo",
      cluster: "local-ray",
      kind: "training",
      entrypoint: "python -c 'print(1)'",
      runtime_env: { env_vars: { A: "1", B: "x=y" }, pip: ["numpy", "torch==2.5.1"] },
      resources: { cpus: 1, gpus: 2, memory_gb: 0, accelerator_model: "H100" },
      max_retries: 0,
      priority: 0,
    });
    expect(post.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{32,36}$/);
  });

  it("leaves cluster out for the default and sends only what the user gave", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 5 }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.type(await screen.findByLabelText("Name"), "n");
    await userEvent.type(screen.getByLabelText("Entrypoint"), "true");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/5"));
    const body = calls.find((c) => c.method === "POST")!.body as Record<string, unknown>;
    expect(body).not.toHaveProperty("cluster");
    expect(body.runtime_env).toEqual({});
  });

  it("shows server field errors next to their fields, nested ones included", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": {
        status: 400,
        body: {
          name: ["This field is required."],
          resources: { gpus: ["Ensure this value is greater than or equal to 0."] },
          runtime_env: { working_dir: ["Must be an absolute path."], pip: { "0": ["Invalid requirement."] } },
          non_field_errors: ["Team demo has no GPU quota."],
        },
      },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.type(await screen.findByLabelText("Pip packages"), "???");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));

    expect(await within(fieldOf("Name")).findByText("This field is required.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(within(fieldOf("GPUs")).getByText("Ensure this value is greater than or equal to 0.")).toBeInTheDocument();
    expect(within(fieldOf("Working directory")).getByText("Must be an absolute path.")).toBeInTheDocument();
    expect(within(fieldOf("Pip packages")).getByText("0: Invalid requirement.")).toBeInTheDocument();
    expect(screen.getByTestId("form-error")).toHaveTextContent("Team demo has no GPU quota.");
    expect(screen.getByLabelText("Entrypoint")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs/new");
  });

  it("shows a general error for a non-400 failure", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": { status: 503, body: { detail: "Scheduler unavailable, try again shortly." } },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.click(await screen.findByRole("button", { name: "Submit" }));
    expect(await screen.findByTestId("form-error")).toHaveTextContent("Scheduler unavailable, try again shortly.");
  });

  it("refuses malformed env var lines without calling the server", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.type(await screen.findByLabelText("Environment variables"), "OK=1{Enter}oops");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    expect(within(fieldOf("Environment variables")).getByText(/Line 2: expected KEY=VALUE/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("asks for numbers in number fields before sending", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.clear(await screen.findByLabelText("CPUs"));
    await userEvent.clear(screen.getByLabelText("Max retries"));
    await userEvent.type(screen.getByLabelText("Max retries"), "1.5");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    expect(within(fieldOf("CPUs")).getByText("Enter a number.")).toBeInTheDocument();
    expect(within(fieldOf("Max retries")).getByText("Enter a whole number.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("says so when the user has no team", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page([]) }, "GET /api/v1/clusters/": { body: page([]) } });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    expect(await screen.findByText(/not a member of any team/)).toBeInTheDocument();
  });
});
