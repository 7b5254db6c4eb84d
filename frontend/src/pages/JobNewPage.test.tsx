import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeEstimate, makeMisfit, plannerOptions } from "../test/planner";
import { makeJob, mockApi, page, renderPage, type RecordedCall } from "../test/utils";
import { JobNewPage } from "./JobNewPage";

const teams = [
  { slug: "research", name: "Research", organisation: "acme", role: "viewer" },
  { slug: "demo", name: "Demo", organisation: "acme", role: "member" },
];
const clusters = [
  { id: 3, name: "local-ray", kind: "ray", address: "127.0.0.1:8265", state: "ready", usable_by: ["demo"], created_at: "" },
  // Reserved for other teams: never offered.
  { id: 4, name: "reserved", kind: "ray", address: "127.0.0.1:8266", state: "ready", usable_by: ["research"], created_at: "" },
];

function fieldOf(label: string): HTMLElement {
  return screen.getByLabelText(label).closest(".field") as HTMLElement;
}

function posts(calls: RecordedCall[], path: string) {
  return calls.filter((c) => c.method === "POST" && c.url.pathname === path).map((c) => c.body as Record<string, unknown>);
}

/** Fills what every job needs, asks for one H100 and turns the capacity plan on. */
async function fillPlannedJob(user: ReturnType<typeof userEvent.setup>) {
  await user.type(await screen.findByLabelText("Name"), "tune");
  await user.type(screen.getByLabelText("Entrypoint"), "python tune.py");
  await user.clear(screen.getByLabelText("GPUs"));
  await user.type(screen.getByLabelText("GPUs"), "1");
  await user.type(screen.getByLabelText("Accelerator model"), "H100");
  await user.click(screen.getByLabelText("Check the fit with the planner"));
  await user.selectOptions(await screen.findByLabelText("Model"), "llama-2-70b");
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
    // Only the clusters the chosen team may use are offered.
    await screen.findByRole("option", { name: /^local-ray/ });
    expect(within(screen.getByLabelText("Cluster")).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "default",
      "local-ray (ray, ready)",
    ]);
    await user.selectOptions(screen.getByLabelText("Cluster"), "local-ray");
    await user.type(screen.getByLabelText("Environment variables"), "A=1{Enter}B=x=y");
    await user.type(screen.getByLabelText("Pip packages"), "numpy{Enter}{Enter}torch==2.5.1");
    await user.clear(screen.getByLabelText("GPUs"));
    await user.type(screen.getByLabelText("GPUs"), "2");
    await user.type(screen.getByLabelText("Accelerator model"), "H100");
    await user.type(screen.getByLabelText("Max runtime (minutes)"), "90");
    await user.click(screen.getByLabelText("Retry after the job's own errors too"));
    await user.click(screen.getByLabelText("Run in a Ray cluster of its own"));
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
      retry_on_error: true,
      runtime: "ray",
      max_runtime_seconds: 5400,
      priority: 0,
      override_planner: false,
    });
    expect(post.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{32,36}$/);
  });

  it("sends several accelerator models in order as the pools the job accepts, and a minimum GPU memory", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 6 }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "flex");
    await user.type(screen.getByLabelText("Entrypoint"), "python train.py");
    await user.clear(screen.getByLabelText("GPUs"));
    await user.type(screen.getByLabelText("GPUs"), "4");
    await user.type(screen.getByLabelText("Accelerator model"), "H100 SXM, A100 80GB SXM");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/6"));
    expect(posts(calls, "/api/v1/jobs/")[0]!.resources).toEqual({
      cpus: 1,
      gpus: 4,
      memory_gb: 0,
      accelerator_model: "",
      accelerator_models: ["H100 SXM", "A100 80GB SXM"],
    });
  });

  it("shows the server's errors on the accepted models and the minimum GPU memory", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": {
        status: 400,
        body: {
          resources: {
            accelerator_models: ["Unknown accelerator model: Z9000."],
            min_gpu_memory_gb: ["Name accelerator models or a minimum GPU memory, not both."],
          },
        },
      },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "flex");
    await user.type(screen.getByLabelText("Entrypoint"), "true");
    await user.type(screen.getByLabelText("Accelerator model"), "H100, Z9000");
    await user.type(screen.getByLabelText("Min GPU memory (GB)"), "40");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    expect(await within(fieldOf("Accelerator model")).findByText("Unknown accelerator model: Z9000.")).toBeInTheDocument();
    expect(within(fieldOf("Min GPU memory (GB)")).getByText(/not both/)).toBeInTheDocument();
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
    expect(body).not.toHaveProperty("max_runtime_seconds"); // blank: no limit
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

  it("offers the priority classes of the team's organisation and sends the one chosen", async () => {
    const classes = [
      { id: 1, organisation: "acme", name: "production", value: 1000, preemptible: false, description: "", created_at: "" },
      { id: 2, organisation: "acme", name: "research", value: 10, preemptible: true, description: "", created_at: "" },
      { id: 3, organisation: "globex", name: "theirs", value: 500, preemptible: true, description: "", created_at: "" },
    ];
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/priority-classes/": { body: page(classes) },
      "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 8, state: "pending" }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();

    const select = await screen.findByLabelText("Priority class");
    expect(select).toHaveValue("");
    expect(within(select).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "none",
      "production (1000)",
      "research (10)",
    ]);
    await user.selectOptions(select, "production");
    expect(screen.getByLabelText("Priority")).toBeDisabled();
    expect(screen.getByLabelText("Priority")).toHaveValue(1000);
    expect(within(fieldOf("Priority class")).getByText(/not preemptible: must fit in the team's guarantee/)).toBeInTheDocument();

    await user.type(screen.getByLabelText("Name"), "serve");
    await user.type(screen.getByLabelText("Entrypoint"), "python serve.py");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/8"));
    expect(posts(calls, "/api/v1/jobs/")[0]).toMatchObject({ priority_class: "production" });
  });

  it("shows a refused priority class next to its field", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/priority-classes/": {
        body: page([{ id: 1, organisation: "acme", name: "production", value: 1000, preemptible: false, description: "", created_at: "" }]),
      },
      "POST /api/v1/jobs/": { status: 400, body: { priority_class: ["Team demo may not use production."] } },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    await userEvent.selectOptions(await screen.findByLabelText("Priority class"), "production");
    await userEvent.click(screen.getByRole("button", { name: "Submit" }));
    expect(await within(fieldOf("Priority class")).findByText("Team demo may not use production.")).toBeInTheDocument();
  });

  it("says so when the user has no team", async () => {
    mockApi({ "GET /api/v1/teams/": { body: page([]) }, "GET /api/v1/clusters/": { body: page([]) } });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    expect(await screen.findByText(/not a member of any team/)).toBeInTheDocument();
  });

  describe("capacity plan", () => {
    it("shows the live estimate for the requested GPUs and submits the model and workload", async () => {
      const { calls } = mockApi({
        "GET /api/v1/teams/": { body: page(teams) },
        "GET /api/v1/clusters/": { body: page(clusters) },
        "GET /api/v1/planner/options/": { body: plannerOptions },
        "POST /api/v1/planner/estimate/": { body: makeEstimate() },
        "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 12 }) },
      });
      renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
      const user = userEvent.setup();
      // Off by default: the planner is not asked, and nothing of it is sent.
      await screen.findByLabelText("Check the fit with the planner");
      expect(screen.queryByLabelText("Mode")).not.toBeInTheDocument();

      await user.click(screen.getByLabelText("Check the fit with the planner"));
      expect(await screen.findByLabelText("Mode")).toHaveValue("full_finetune");
      expect(screen.getByText(/Give the accelerator model and the GPUs under Resources/)).toBeInTheDocument();
      await user.selectOptions(screen.getByLabelText("Model"), "llama-2-7b");
      await user.clear(screen.getByLabelText("GPUs"));
      await user.type(screen.getByLabelText("GPUs"), "8");
      await user.type(screen.getByLabelText("Accelerator model"), "H100");
      await user.clear(screen.getByLabelText("Sequence length"));
      await user.type(screen.getByLabelText("Sequence length"), "4096");
      await user.type(screen.getByLabelText("Tokens to train on"), "1B");
      await user.selectOptions(screen.getByLabelText("Activation checkpointing"), "full");

      const estimate = await screen.findByTestId("plan-estimate");
      expect(within(estimate).getByTestId("fit")).toHaveTextContent("Fits");
      expect(within(estimate).getByTestId("memory-per-gpu")).toHaveTextContent("60 GiB of 80 GiB (15 GiB headroom)");
      expect(screen.getByTestId("plan-estimate-time")).toHaveTextContent(
        "Step time 209 ms · time to train 3.5 h · USD 22.32 per hour · USD 79.21 to train",
      );
      const workload = { mode: "full_finetune", batch: 1, seq: 4096, precision: "amp_bf16", activation_checkpointing: "full", tokens: 1e9 };
      await waitFor(() =>
        expect(posts(calls, "/api/v1/planner/estimate/").at(-1)).toEqual({
          model: { name: "llama-2-7b" },
          workload,
          hardware: { accelerator: "H100", gpus: 8 },
          recommendations: 0,
        }),
      );

      await user.type(screen.getByLabelText("Name"), "tune");
      await user.type(screen.getByLabelText("Entrypoint"), "python tune.py");
      await user.click(screen.getByRole("button", { name: "Submit" }));
      await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/12"));
      expect(posts(calls, "/api/v1/jobs/")[0]).toMatchObject({
        resources: { gpus: 8, accelerator_model: "H100" },
        model: { name: "llama-2-7b" },
        workload,
        override_planner: false,
      });
    });

    it("shows the planner's refusal and resubmits with the override when asked to", async () => {
      const { calls } = mockApi({
        "GET /api/v1/teams/": { body: page(teams) },
        "GET /api/v1/clusters/": { body: page(clusters) },
        "GET /api/v1/planner/options/": { body: plannerOptions },
        "POST /api/v1/planner/estimate/": { body: makeMisfit() },
        "POST /api/v1/jobs/": (_url, { body }) =>
          (body as { override_planner: boolean }).override_planner
            ? { status: 201, body: makeJob({ id: 13 }) }
            : {
                status: 400,
                body: {
                  plan: [
                    "Does not fit: needs 1,043.4 GiB per GPU but H100 SXM has 79.6 GiB.",
                    "Cheapest configuration that fits: 8 × B200 (tp=2, ZeRO-3), 152.9 GiB per GPU.",
                    "Change the resources or the workload, or override the planner to submit it anyway.",
                  ],
                },
              },
      });
      renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
      const user = userEvent.setup();
      await fillPlannedJob(user);
      expect(await within(await screen.findByTestId("plan-estimate")).findByText("Does not fit")).toBeInTheDocument();
      expect(screen.queryByLabelText("Submit anyway (override the planner)")).not.toBeInTheDocument();

      await user.click(screen.getByRole("button", { name: "Submit" }));
      const refusal = await screen.findByTestId("plan-refusal");
      expect(refusal).toHaveAttribute("role", "alert");
      expect(refusal).toHaveTextContent("The planner says this job does not fit the GPUs it asks for.");
      expect(within(refusal).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
        "Does not fit: needs 1,043.4 GiB per GPU but H100 SXM has 79.6 GiB.",
        "Cheapest configuration that fits: 8 × B200 (tp=2, ZeRO-3), 152.9 GiB per GPU.",
        "Change the resources or the workload, or override the planner to submit it anyway.",
      ]);
      expect(screen.queryByTestId("form-error")).not.toBeInTheDocument();
      expect(screen.getByTestId("location")).toHaveTextContent("/jobs/new");

      await user.click(within(refusal).getByLabelText("Submit anyway (override the planner)"));
      await user.click(screen.getByRole("button", { name: "Submit" }));
      await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/13"));
      const [refused, overridden] = posts(calls, "/api/v1/jobs/") as [Record<string, unknown>, Record<string, unknown>];
      expect(refused.override_planner).toBe(false);
      expect(overridden).toEqual({ ...refused, override_planner: true });
      expect(overridden.model).toEqual({ name: "llama-2-70b" });
    });

    it("shows the planner's field errors next to the plan's fields and resources", async () => {
      mockApi({
        "GET /api/v1/teams/": { body: page(teams) },
        "GET /api/v1/clusters/": { body: page(clusters) },
        "GET /api/v1/planner/options/": { body: plannerOptions },
        "POST /api/v1/planner/estimate/": {
          status: 400,
          body: { hardware: { accelerator: ["Unknown accelerator 'H100'."] } },
        },
        "POST /api/v1/jobs/": {
          status: 400,
          body: {
            workload: { seq: ["Must be between 1 and 10,000,000."], tp: ["tp (3) must divide the attention heads (64)."] },
            resources: { accelerator_model: ["Unknown accelerator 'H100'."] },
          },
        },
      });
      renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
      const user = userEvent.setup();
      await fillPlannedJob(user);
      // The live estimate's refusal of the hardware shows next to the resource it came from.
      expect(await within(fieldOf("Accelerator model")).findByText("Unknown accelerator 'H100'.")).toBeInTheDocument();

      await user.click(screen.getByRole("button", { name: "Submit" }));
      expect(await within(fieldOf("Sequence length")).findByText("Must be between 1 and 10,000,000.")).toBeInTheDocument();
      // A workload field the form does not show keeps its message, on the section.
      expect(within(screen.getByTestId("plan-section")).getByText("tp: tp (3) must divide the attention heads (64).")).toBeInTheDocument();
      // The same message from the estimate and the submission shows once.
      expect(within(fieldOf("Accelerator model")).getAllByText("Unknown accelerator 'H100'.")).toHaveLength(1);
    });

    it("asks for a model before submitting", async () => {
      const { calls } = mockApi({
        "GET /api/v1/teams/": { body: page(teams) },
        "GET /api/v1/clusters/": { body: page(clusters) },
        "GET /api/v1/planner/options/": { body: plannerOptions },
      });
      renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
      await userEvent.click(await screen.findByLabelText("Check the fit with the planner"));
      await screen.findByLabelText("Model");
      await userEvent.click(screen.getByRole("button", { name: "Submit" }));
      expect(within(fieldOf("Model")).getByText("Choose a model.")).toBeInTheDocument();
      expect(calls.some((c) => c.method === "POST")).toBe(false);
    });
  });
});
