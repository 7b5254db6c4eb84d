import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { makeEstimate } from "../../test/planner";
import { makeJob, mockApi, page, renderPage, type RecordedCall } from "../../test/utils";
import type { JobTemplate } from "../../api/models";
import { JobNewPage } from "../JobNewPage";

const teams = [{ slug: "demo", name: "Demo", organisation: "acme", role: "member" }];
const clusters = [{ id: 3, name: "local-ray", kind: "ray", address: "", state: "ready", usable_by: ["demo"], created_at: "" }];

/** The server's LoRA template (apps/checkpoints/recipes.py), help shortened. */
const lora: JobTemplate = {
  id: "fine_tuning/lora",
  slug: "lora",
  kind: "fine_tuning",
  title: "LoRA fine-tuning of a causal LM",
  description: "",
  parameters: [
    { name: "base_model", type: "string", default: null, help: "The model to adapt.", required: true, minimum: null, maximum: null },
    { name: "dataset", type: "string", default: null, help: "A JSONL file.", required: true, minimum: null, maximum: null },
    { name: "rank", type: "integer", default: 8, help: "LoRA rank", required: false, minimum: 1, maximum: 1024 },
    { name: "alpha", type: "integer", default: 16, help: "LoRA alpha", required: false, minimum: 1, maximum: 4096 },
    { name: "learning_rate", type: "number", default: 0.0002, help: "", required: false, minimum: 1e-8, maximum: 1 },
    { name: "steps", type: "integer", default: 100, help: "", required: false, minimum: 1, maximum: 10_000_000 },
    { name: "batch_size", type: "integer", default: 4, help: "", required: false, minimum: 1, maximum: 4096 },
    { name: "seq_len", type: "integer", default: 256, help: "", required: false, minimum: 8, maximum: 131072 },
    { name: "checkpoint_every", type: "integer", default: 20, help: "", required: false, minimum: 1, maximum: null },
    { name: "model_name", type: "string", default: "", help: "Registered name.", required: false, minimum: null, maximum: null },
    { name: "seed", type: "integer", default: 0, help: "Data order and initialisation", required: false, minimum: 0, maximum: 2147483647 },
    { name: "planner_model", type: "string", default: "", help: "A known model for the estimate", required: false, minimum: null, maximum: null },
  ],
};

function posts(calls: RecordedCall[], path: string) {
  return calls.filter((c) => c.method === "POST" && c.url.pathname === path).map((c) => c.body as Record<string, unknown>);
}

function routes(extra: Parameters<typeof mockApi>[0] = {}) {
  return mockApi({
    "GET /api/v1/teams/": { body: page(teams) },
    "GET /api/v1/clusters/": { body: page(clusters) },
    "GET /api/v1/job-templates/": { body: [lora] },
    "POST /api/v1/job-templates/lora/plan/": { body: makeEstimate() },
    ...extra,
  });
}

async function fillRequired(user: ReturnType<typeof userEvent.setup>) {
  await user.type(await screen.findByLabelText("Base model"), "version:4");
  await user.type(screen.getByLabelText("Dataset"), "/data/demo/train.jsonl");
}

describe("JobNewPage — LoRA template", () => {
  it("switches from the command form to the template, with its parameters and defaults as fields", async () => {
    routes();
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();
    expect(await screen.findByLabelText("Entrypoint")).toBeInTheDocument();

    await user.click(screen.getByLabelText("Template: LoRA fine-tuning"));
    const form = await screen.findByTestId("template-form");
    expect(screen.getByTestId("location")).toHaveTextContent("/jobs/new?template=lora");
    expect(screen.queryByLabelText("Entrypoint")).not.toBeInTheDocument();
    expect(within(form).getByText("LoRA fine-tuning of a causal LM")).toBeInTheDocument();
    for (const [label, value] of [
      ["Base model", ""],
      ["Dataset", ""],
      ["Rank", "8"],
      ["Alpha", "16"],
      ["Learning rate", "0.0002"],
      ["Steps", "100"],
      ["Batch size", "4"],
      ["Sequence length", "256"],
      ["Checkpoint every (steps)", "20"],
      ["Model name", ""],
      ["Seed", "0"],
      ["Planner model", ""],
    ] as const) {
      expect(screen.getByLabelText(label)).toHaveValue(value);
    }
    expect(screen.getByLabelText("Team")).toHaveValue("demo");
    expect(screen.getByLabelText("GPUs")).toHaveValue(1);
  });

  it("asks the planner about the job as it is written and shows the estimate", async () => {
    const { calls } = routes();
    renderPage(<JobNewPage />, { route: "/jobs/new?template=lora", path: "/jobs/new" });
    const user = userEvent.setup();
    await fillRequired(user);
    await user.type(screen.getByLabelText("Accelerator model"), "H100");

    expect(await screen.findByTestId("plan-estimate")).toBeInTheDocument();
    expect(screen.getByTestId("fit")).toHaveTextContent("Fits");
    const plans = posts(calls, "/api/v1/job-templates/lora/plan/");
    // The plan reads team, resources and parameters; the submit's other fields stay at their defaults.
    expect(plans.at(-1)).toEqual({
      team: "demo",
      resources: { cpus: 1, gpus: 1, accelerator_model: "H100", memory_gb: 0 },
      parameters: {
        base_model: "version:4",
        dataset: "/data/demo/train.jsonl",
        rank: 8,
        alpha: 16,
        learning_rate: 0.0002,
        steps: 100,
        batch_size: 4,
        seq_len: 256,
        checkpoint_every: 20,
        seed: 0,
      },
      max_retries: 0,
      retry_on_error: false,
      override_planner: false,
    });
  });

  it("shows the server's field errors under their fields, then submits and opens the job", async () => {
    let refuse = true;
    const { calls } = routes({
      "POST /api/v1/job-templates/lora/submit/": () =>
        refuse
          ? {
              status: 400,
              body: {
                parameters: { dataset: ["No such file: /data/demo/train.jsonl"], rank: ["Ensure this value is at most 256."] },
                resources: { gpus: ["Team demo may use at most 8 GPUs."] },
                non_field_errors: ["Check the fields below."],
              },
            }
          : { status: 201, body: makeJob({ id: 42, state: "pending", kind: "fine_tuning" }) },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new?template=lora", path: "/jobs/new" });
    const user = userEvent.setup();
    await fillRequired(user);
    await user.clear(screen.getByLabelText("Rank"));
    await user.type(screen.getByLabelText("Rank"), "512");
    await user.type(screen.getByLabelText("Keep latest checkpoints"), "3");
    await user.click(screen.getByLabelText("Retry after the job's own errors too"));
    await user.click(screen.getByRole("button", { name: "Submit" }));

    const dataset = (await screen.findByText("No such file: /data/demo/train.jsonl")).closest(".field") as HTMLElement;
    expect(within(dataset).getByLabelText("Dataset")).toHaveAttribute("aria-invalid", "true");
    expect((screen.getByText("Ensure this value is at most 256.").closest(".field") as HTMLElement)).toContainElement(
      screen.getByLabelText("Rank"),
    );
    expect((screen.getByText("Team demo may use at most 8 GPUs.").closest(".field") as HTMLElement)).toContainElement(
      screen.getByLabelText("GPUs"),
    );
    expect(screen.getByTestId("form-error")).toHaveTextContent("Check the fields below.");
    const [first] = posts(calls, "/api/v1/job-templates/lora/submit/");
    expect(first).toMatchObject({
      team: "demo",
      max_retries: 2,
      retry_on_error: true,
      checkpoint_policy: { keep_latest: 3 },
      resources: { gpus: 1 },
      parameters: { base_model: "version:4", dataset: "/data/demo/train.jsonl", rank: 512 },
    });

    refuse = false;
    await user.click(screen.getByRole("button", { name: "Submit" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/jobs/42"));
  });

  it("checks required parameters and numbers before sending", async () => {
    const { calls } = routes();
    renderPage(<JobNewPage />, { route: "/jobs/new?template=lora", path: "/jobs/new" });
    const user = userEvent.setup();
    await user.clear(await screen.findByLabelText("Steps"));
    await user.type(screen.getByLabelText("Steps"), "1.5");
    await user.clear(screen.getByLabelText("Rank"));
    await user.type(screen.getByLabelText("Rank"), "0");
    await user.click(screen.getByRole("button", { name: "Submit" }));
    expect(screen.getByText("At least 1.")).toBeInTheDocument();
    expect(within(screen.getByLabelText("Base model").closest(".field") as HTMLElement).getByText("This field is required.")).toBeInTheDocument();
    expect(screen.getByText("Enter a whole number.")).toBeInTheDocument();
    expect(posts(calls, "/api/v1/job-templates/lora/submit/")).toHaveLength(0);
  });

  it("shows a failure to load the templates", async () => {
    routes({ "GET /api/v1/job-templates/": { status: 503, body: { detail: "Down." } } });
    renderPage(<JobNewPage />, { route: "/jobs/new?template=lora", path: "/jobs/new" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the job templates. Down.");
  });
});

describe("JobNewPage — LoRA template, the planner's refusals", () => {
  it("shows the planner's refusal of the hardware under Resources", async () => {
    routes({
      "POST /api/v1/job-templates/lora/plan/": {
        status: 400,
        body: { "hardware": { accelerator: ["Unknown accelerator 'H999'."] } },
      },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new?template=lora", path: "/jobs/new" });
    const user = userEvent.setup();
    await fillRequired(user);
    await user.type(screen.getByLabelText("Accelerator model"), "H999");
    const message = await screen.findByText("Unknown accelerator 'H999'.");
    expect(message.closest(".field")).toContainElement(screen.getByLabelText("Accelerator model"));
  });
});
