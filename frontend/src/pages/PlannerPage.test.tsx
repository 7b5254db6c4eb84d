import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { makeEstimate, makeMisfit, plannerOptions } from "../test/planner";
import { mockApi, renderPage, type Handler, type RecordedCall } from "../test/utils";
import { PlannerPage } from "./PlannerPage";

// jsdom has no canvas: stand in for Chart.js and keep what the page gave it.
const { charts } = vi.hoisted(() => ({
  charts: [] as { data: { labels: string[]; datasets: { label: string; data: (number | null)[] }[] }; updates: number }[],
}));
vi.mock("chart.js", () => {
  class Chart {
    static register = () => undefined;
    data: unknown;
    updates = 0;
    constructor(_canvas: unknown, config: { data: unknown }) {
      this.data = config.data;
      charts.push(this as never);
    }
    update() {
      this.updates += 1;
    }
    destroy() {}
  }
  return { Chart, BarController: {}, BarElement: {}, CategoryScale: {}, LinearScale: {}, Legend: {}, Tooltip: {} };
});

type Body = { model: Record<string, unknown>; workload: Record<string, unknown>; hardware: Record<string, unknown> };

function estimates(calls: RecordedCall[]): Body[] {
  return calls.filter((c) => c.method === "POST" && c.url.pathname === "/api/v1/planner/estimate/").map((c) => c.body as Body);
}

function fieldOf(label: string): HTMLElement {
  return screen.getByLabelText(label).closest(".field") as HTMLElement;
}

function renderPlanner(estimate: Handler = () => ({ body: makeEstimate() })) {
  const api = mockApi({
    "GET /api/v1/planner/options/": { body: plannerOptions },
    "POST /api/v1/planner/estimate/": estimate,
  });
  renderPage(<PlannerPage />, { route: "/planner", path: "/planner" });
  return api;
}

describe("PlannerPage", () => {
  it("asks about the default plan and shows the fit, the breakdown, time, cost and the cheapest configurations", async () => {
    charts.length = 0;
    const { calls } = renderPlanner();
    expect(screen.getByText("Loading models and accelerators…")).toBeInTheDocument();

    expect(await screen.findByTestId("fit")).toHaveTextContent("Fits");
    expect(screen.getByLabelText("Model")).toHaveValue("llama-2-7b");
    expect(screen.getByRole("option", { name: "llama-2-70b (69B)" })).toBeInTheDocument();
    expect(screen.getByLabelText("Pool or accelerator")).toHaveValue("pool:gpu-a/H100 SXM");
    expect(screen.getByRole("option", { name: "H100 SXM — 2.79 per GPU-hour" })).toBeInTheDocument();
    expect(estimates(calls)).toEqual([
      {
        model: { name: "llama-2-7b" },
        workload: {
          mode: "qlora",
          batch: 1,
          seq: 2048,
          precision: "amp_bf16",
          optimizer: "adamw",
          activation_checkpointing: "none",
          attention: "flash",
          zero_stage: 0,
          tp: 1,
          lora_rank: 16,
          base_precision: "int4",
        },
        hardware: { accelerator: "H100 SXM", gpus: 1, gpus_per_node: 8 },
        recommendations: 5,
      },
    ]);

    expect(screen.getByTestId("memory-per-gpu")).toHaveTextContent("60 GiB of 80 GiB (15 GiB headroom)");
    expect(screen.getByTestId("explanation")).toHaveTextContent("Fits: 60.0 GiB per GPU of H100 SXM's 80.0 GiB");

    const breakdown = screen.getByTestId("breakdown");
    const rows = within(breakdown).getAllByRole("row").map((row) => row.textContent);
    expect(rows).toEqual([
      "ComponentMemoryShare",
      " Weights25 GiB42 %",
      " Optimizer states20 GiB33 %",
      " Activations13 GiB22 %",
      " Framework overhead2 GiB3 %",
      "Total at the peak (start of backward)60 GiB",
      "Kept free (CUDA context, fragmentation)5 GiB",
    ]);
    await waitFor(() => expect(charts).toHaveLength(1));
    expect(charts[0]!.data.labels).toEqual(["Needed per GPU", "GPU memory"]);
    expect(charts[0]!.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ["Weights: 25 GiB", [25 * 2 ** 30, null]],
      ["Optimizer states: 20 GiB", [20 * 2 ** 30, null]],
      ["Activations: 13 GiB", [13 * 2 ** 30, null]],
      ["Framework overhead: 2 GiB", [2 * 2 ** 30, null]],
      ["Kept free (CUDA context, fragmentation): 5 GiB", [5 * 2 ** 30, null]],
      ["H100 SXM memory: 80 GiB", [null, 80 * 2 ** 30]],
    ]);
    expect(screen.getByRole("img", { name: /^Memory per GPU: Weights 25 GiB, Optimizer states 20 GiB/ })).toBeInTheDocument();

    expect(screen.getByTestId("flops")).toHaveTextContent("662 TFLOP per step · 40.4 EFLOP in all");
    expect(screen.getByTestId("step-time")).toHaveTextContent("209 ms");
    expect(screen.getByTestId("time-to-train")).toHaveTextContent("3.5 h for 1B tokens");
    expect(screen.getByTestId("cost")).toHaveTextContent("USD 22.32 per hour · USD 0.0792 per million tokens · USD 79.21 to train");
    expect(within(screen.getByTestId("assumptions")).getAllByRole("listitem")).toHaveLength(2);

    const table = screen.getByTestId("recommendations");
    const [first, second] = within(table).getAllByTestId("recommendation") as [HTMLElement, HTMLElement];
    expect(within(table).getByRole("columnheader", { name: "Time to train" })).toBeInTheDocument();
    for (const text of ["H200 SXM", "catalog", "54.3 GiB", "full", "14.2 h", "USD 10.82", "USD 79.21"]) {
      expect(first).toHaveTextContent(text);
    }
    expect(second).toHaveTextContent("gpu-a · 16 in the pool");
    expect(second).toHaveTextContent("USD 95.00");
  });

  it("asks again as fields change, shows the fields of the mode, and keeps the last answer meanwhile", async () => {
    const { calls } = renderPlanner((_url, { body }) => {
      const spec = body as Body;
      return { body: spec.model.name === "llama-2-70b" ? makeMisfit() : makeEstimate() };
    });
    await screen.findByTestId("fit");
    const user = userEvent.setup();

    await user.type(screen.getByLabelText("Tokens to train on"), "2B");
    // The answer on screen stays while the next is asked for, marked as busy.
    expect(screen.getByTestId("plan-results")).toHaveAttribute("aria-busy", "true");
    expect(screen.getByTestId("fit")).toHaveTextContent("Fits");
    await waitFor(() => expect(estimates(calls).at(-1)?.workload.tokens).toBe(2e9));
    // Typing settles before the planner is asked: no request for the half-typed "2".
    expect(estimates(calls).map((b) => b.workload.tokens)).toEqual([undefined, 2e9]);

    await user.selectOptions(screen.getByLabelText("Mode"), "generate");
    expect(screen.queryByLabelText("Optimizer")).not.toBeInTheDocument();
    expect(screen.queryByLabelText("Tokens to train on")).not.toBeInTheDocument();
    expect(screen.getByLabelText("Prompt tokens")).toHaveValue("512");
    expect(screen.getByLabelText("Precision")).toHaveValue("bf16");
    await waitFor(() => expect(estimates(calls).at(-1)?.workload.mode).toBe("generate"));
    expect(estimates(calls).at(-1)?.workload).toEqual({
      mode: "generate",
      batch: 1,
      prompt_tokens: 512,
      new_tokens: 256,
      precision: "bf16",
      kv_precision: "bf16",
      attention: "flash",
      tp: 1,
    });

    // Back to training: bf16 means no fp32 master weights there, so the mode's default returns.
    await user.selectOptions(screen.getByLabelText("Mode"), "pretrain");
    expect(screen.getByLabelText("Precision")).toHaveValue("amp_bf16");
    await user.selectOptions(screen.getByLabelText("Mode"), "qlora");
    expect(screen.getByLabelText("Base precision")).toHaveValue("int4");
    expect(screen.getByLabelText("LoRA rank")).toHaveValue("16");

    await user.selectOptions(screen.getByLabelText("Model"), "llama-2-70b");
    expect(await screen.findByText("Does not fit")).toBeInTheDocument();
    expect(screen.getByTestId("memory-per-gpu")).toHaveTextContent("1 TiB of 80 GiB (1,000 GiB short)");
    expect(screen.getByText(/No pool fits this workload/)).toBeInTheDocument();
  });

  it("shows the planner's 400 next to the fields and keeps the last answer", async () => {
    renderPlanner((_url, { body }) =>
      (body as Body).model.architecture
        ? {
            status: 400,
            body: {
              model: { architecture: { heads: ["heads (3) must divide hidden (100)."] } },
              workload: { tp: ["tp (2) must divide the attention heads (3)."] },
              hardware: { accelerator: ["Unknown accelerator 'H100 SXM'."] },
              non_field_errors: ["Something else is off."],
            },
          }
        : { body: makeEstimate() },
    );
    await screen.findByTestId("fit");
    const user = userEvent.setup();

    await user.selectOptions(screen.getByLabelText("Model from"), "architecture");
    // A custom architecture starts from the chosen model's shape.
    expect(screen.getByLabelText("Hidden size")).toHaveValue("4096");
    expect(screen.getByLabelText("KV heads")).toHaveValue("32");
    await user.clear(screen.getByLabelText("Attention heads"));
    await user.type(screen.getByLabelText("Attention heads"), "3");

    expect(await within(fieldOf("Attention heads")).findByText("heads (3) must divide hidden (100).")).toBeInTheDocument();
    expect(screen.getByLabelText("Attention heads")).toHaveAttribute("aria-invalid", "true");
    expect(within(fieldOf("Tensor parallel")).getByText("tp (2) must divide the attention heads (3).")).toBeInTheDocument();
    expect(within(fieldOf("Pool or accelerator")).getByText("Unknown accelerator 'H100 SXM'.")).toBeInTheDocument();
    expect(screen.getByTestId("plan-errors")).toHaveTextContent("Something else is off.");
    expect(screen.getByTestId("fit")).toHaveTextContent("Fits");
    expect(screen.getByText("This answer is for the last values the planner accepted.")).toBeInTheDocument();
  });

  it("checks a parameter count before asking", async () => {
    const { calls } = renderPlanner();
    await screen.findByTestId("fit");
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Model from"), "params");
    expect(within(fieldOf("Parameters")).getByText("Enter the parameter count.")).toBeInTheDocument();
    await user.type(screen.getByLabelText("Parameters"), "seven");
    expect(within(fieldOf("Parameters")).getByText("Enter a count such as 7B, 500M or 6.7e9.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Parameters"));
    await user.type(screen.getByLabelText("Parameters"), "7B");
    await waitFor(() => expect(estimates(calls).at(-1)?.model).toEqual({ params: 7e9 }));
    expect(estimates(calls).filter((b) => "params" in b.model)).toHaveLength(1);
  });

  it("applies a recommended configuration to the form", async () => {
    const { calls } = renderPlanner();
    await screen.findByTestId("recommendations");
    const user = userEvent.setup();

    await user.click(screen.getByRole("button", { name: "Use 2 × H200 SXM" }));
    expect(screen.getByLabelText("Pool or accelerator")).toHaveValue("accelerator:H200 SXM");
    expect(screen.getByLabelText("GPUs")).toHaveValue(2);
    expect(screen.getByLabelText("Tensor parallel")).toHaveValue("2");
    expect(screen.getByLabelText("ZeRO stage")).toHaveValue("3");
    expect(screen.getByLabelText("Activation checkpointing")).toHaveValue("full");
    await waitFor(() => expect(estimates(calls).at(-1)?.hardware).toEqual({ accelerator: "H200 SXM", gpus: 2 }));
    expect(estimates(calls).at(-1)?.workload).toMatchObject({ tp: 2, zero_stage: 3, activation_checkpointing: "full" });

    await user.click(screen.getByRole("button", { name: "Use 4 × H100 SXM on gpu-a" }));
    expect(screen.getByLabelText("Pool or accelerator")).toHaveValue("pool:gpu-a/H100 SXM");
    await waitFor(() =>
      expect(estimates(calls).at(-1)?.hardware).toEqual({ accelerator: "H100 SXM", gpus: 4, gpus_per_node: 8 }),
    );
  });

  it("says when there is no price, and serving's numbers for generation", async () => {
    const unpriced = { currency: null, per_gpu_hour: null, per_hour: null, per_step: null, to_train: null, total: null, per_million_tokens: null, source: "" };
    renderPlanner(() => ({
      body: makeEstimate({
        workload: { mode: "generate", batch: 1, prompt_tokens: 512, new_tokens: 256 },
        total_time_s: 1.5,
        time_to_train_s: null,
        cost: unpriced,
        serving: {
          gpu_memory_utilization: 0.9,
          weights_bytes: 1,
          activation_bytes: 1,
          kv_cache_bytes: 1,
          kv_cache_tokens: 119_663,
          max_model_len: 768,
          max_concurrent_sequences: 155,
        },
        recommendations: [
          {
            ...makeEstimate().recommendations[0],
            time_to_train_s: null,
            cost_per_hour: null,
            cost_per_million_tokens: null,
            cost_to_train: null,
            currency: null,
          },
        ],
      }),
    }));
    expect(await screen.findByTestId("cost")).toHaveTextContent("no price for H100 SXM");
    expect(screen.getByText("Time per request")).toBeInTheDocument();
    expect(screen.getByTestId("time-to-train")).toHaveTextContent("1.5 s");
    expect(screen.getByTestId("serving")).toHaveTextContent("119.7K tokens of KV cache · 155 sequences of 768 tokens at once");
    const row = within(screen.getByTestId("recommendations")).getByTestId("recommendation");
    expect(within(screen.getByTestId("recommendations")).getByRole("columnheader", { name: "Step time" })).toBeInTheDocument();
    expect(row).toHaveTextContent("no price");
  });

  it("shows an error when the options cannot be loaded", async () => {
    mockApi({ "GET /api/v1/planner/options/": { status: 500, body: { detail: "Database unavailable." } } });
    renderPage(<PlannerPage />, { route: "/planner", path: "/planner" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the planner. Database unavailable.");
  });

  it("shows a failed estimate with a retry", async () => {
    let up = false;
    renderPlanner(() => (up ? { body: makeEstimate() } : { status: 503, body: { detail: "Try again shortly." } }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not estimate. Try again shortly.");
    up = true;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("fit")).toHaveTextContent("Fits");
  });
});
