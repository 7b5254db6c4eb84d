import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeJob, mockApi, page, renderPage } from "../../test/utils";
import { JobNewPage } from "../JobNewPage";
import { CloneLink } from "../job-detail/CloneLink";

const teams = [{ slug: "demo", name: "Demo", organisation: "acme", role: "member" }];
const clusters = [
  { id: 3, name: "local-ray", kind: "ray", address: "127.0.0.1:8265", state: "ready", usable_by: ["demo"], created_at: "" },
];

const source = makeJob({
  id: 12,
  name: "train-llama",
  team: "demo",
  cluster: "local-ray",
  kind: "fine_tuning",
  state: "failed",
  entrypoint: "python tune.py --lr 3e-4",
  runtime_env: { env_vars: { WANDB_MODE: "offline", A: "x=y" }, pip: ["numpy", "torch==2.5.1"], working_dir: "paddock://packages/abc" },
  resources: { cpus: 8, gpus: 2, accelerator_model: "H100", accelerator_models: [], min_gpu_memory_gb: null, memory_gb: 32 },
  max_retries: 2,
  retry_on_error: true,
  runtime: "ray",
  max_runtime_seconds: 5400,
  priority: 7,
  attempts: [],
  events: [],
  accepted_pools: [],
  plan: null,
  checkpoint_policy: {},
});

describe("Clone / re-run", () => {
  it("opens the submit form filled in from the job and submits a new one", async () => {
    const { calls } = mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "GET /api/v1/priority-classes/": { body: page([]) },
      "GET /api/v1/jobs/12/": { body: source },
      "POST /api/v1/jobs/": { status: 201, body: makeJob({ id: 13, state: "pending" }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new?from=12", path: "/jobs/new" });

    expect(await screen.findByTestId("cloned-from")).toHaveTextContent("Filled in from job #12 (train-llama)");
    expect(screen.getByLabelText("Name")).toHaveValue("train-llama");
    expect(screen.getByLabelText("Kind")).toHaveValue("fine_tuning");
    expect(screen.getByLabelText("Entrypoint")).toHaveValue("python tune.py --lr 3e-4");
    expect(screen.getByLabelText("Environment variables")).toHaveValue("WANDB_MODE=offline\nA=x=y");
    expect(screen.getByLabelText("Pip packages")).toHaveValue("numpy\ntorch==2.5.1");
    expect(screen.getByLabelText("GPUs")).toHaveValue(2);
    expect(screen.getByLabelText("Accelerator model")).toHaveValue("H100");
    expect(screen.getByLabelText("Max runtime (minutes)")).toHaveValue(90);

    const user = userEvent.setup();
    await user.clear(screen.getByLabelText("Name"));
    await user.type(screen.getByLabelText("Name"), "train-llama-2");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/13"));
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({
      name: "train-llama-2",
      team: "demo",
      cluster: "local-ray",
      kind: "fine_tuning",
      entrypoint: "python tune.py --lr 3e-4",
      runtime_env: { env_vars: { WANDB_MODE: "offline", A: "x=y" }, pip: ["numpy", "torch==2.5.1"], working_dir: "paddock://packages/abc" },
      resources: { cpus: 8, gpus: 2, memory_gb: 32, accelerator_model: "H100" },
      max_retries: 2,
      retry_on_error: true,
      runtime: "ray",
      max_runtime_seconds: 5400,
      priority: 7,
      override_planner: false,
    });
  });

  it("says so when the job to clone cannot be read", async () => {
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/jobs/99/": { status: 404, body: { detail: "Not found." } },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new?from=99", path: "/jobs/new" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load job #99 to clone");
  });

  it("is offered on a job's page for the kinds the form submits, not for a deployment", () => {
    const { unmount } = renderPage(<CloneLink jobId={12} kind="training" />);
    expect(screen.getByRole("link", { name: "Clone / re-run" })).toHaveAttribute("href", "/jobs/new?from=12");
    unmount();
    renderPage(<CloneLink jobId={13} kind="deployment" />);
    expect(screen.queryByRole("link", { name: "Clone / re-run" })).not.toBeInTheDocument();
  });
});
