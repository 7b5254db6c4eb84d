import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockApi, page, renderPage } from "../../test/utils";
import { JobNewPage } from "../JobNewPage";

// What the API says about work its cluster can never run lands under the field to change.
const teams = [{ slug: "demo", name: "Demo", organisation: "acme", role: "member" }];
const clusters = [
  { id: 3, name: "local", kind: "ray", address: "127.0.0.1:8265", state: "ready", usable_by: ["demo"], created_at: "" },
];

function fieldOf(label: string): HTMLElement {
  return screen.getByLabelText(label).closest(".field") as HTMLElement;
}

describe("JobNewPage refusals", () => {
  it("shows what the cluster can never give under GPUs, CPUs, memory and the accelerator model", async () => {
    const gpus = "Cluster local has no GPUs: a job that asks for 8 GPUs can never run there.";
    const cpus = "No node of cluster local has 512 CPUs (the job's CPUs run on one node): the most is 2, on local.";
    const memory = "No node of cluster local has 64 GB of memory (the job's memory is on one node): the most is 8 GB.";
    const model = "Cluster local has no L4 GPUs (it has 8 × H100 SXM).";
    const refused = { gpus: [gpus], cpus: [cpus], memory_gb: [memory], accelerator_model: [model] };
    mockApi({
      "GET /api/v1/teams/": { body: page(teams) },
      "GET /api/v1/clusters/": { body: page(clusters) },
      "POST /api/v1/jobs/": { status: 400, body: { resources: refused } },
    });
    renderPage(<JobNewPage />, { route: "/jobs/new", path: "/jobs/new" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Name"), "big");
    await user.type(screen.getByLabelText("Entrypoint"), "python train.py");
    await user.click(screen.getByRole("button", { name: "Submit" }));

    expect(await within(fieldOf("GPUs")).findByText(gpus)).toBeInTheDocument();
    expect(within(fieldOf("CPUs")).getByText(cpus)).toBeInTheDocument();
    expect(within(fieldOf("Memory (GB)")).getByText(memory)).toBeInTheDocument();
    expect(within(fieldOf("Accelerator model")).getByText(model)).toBeInTheDocument();
    expect(screen.queryByTestId("form-error")).not.toBeInTheDocument();
  });
});
