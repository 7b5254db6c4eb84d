import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { PromotionStage } from "../api/models";
import { makeLineage, makeModel, makeVersion } from "../test/registry";
import { mockApi, page, renderPage } from "../test/utils";
import { ModelDetailPage, ModelVersionRedirect } from "./ModelDetailPage";
import { ModelsPage } from "./ModelsPage";

describe("ModelsPage", () => {
  it("lists models with their versions, production and latest version", async () => {
    mockApi({
      "GET /api/v1/models/": {
        body: page([makeModel(), makeModel({ id: 4, name: "empty", versions: 0, latest_version: null, production_version: null })]),
      },
    });
    renderPage(<ModelsPage />);
    const table = await screen.findByTestId("models");
    const [, first, second] = within(table).getAllByRole("row");
    expect(within(first!).getByRole("link", { name: "tiny-lora" })).toHaveAttribute("href", "/models/3");
    expect(first).toHaveTextContent("demo");
    expect(within(first!).getByRole("link", { name: "v1" })).toHaveAttribute("href", "/models/3#version-11");
    expect(first).toHaveTextContent("v2 staging");
    expect(second).toHaveTextContent("none");
  });

  it("shows the empty state", async () => {
    mockApi({ "GET /api/v1/models/": { body: page([]) } });
    renderPage(<ModelsPage />);
    expect(await screen.findByText(/No models yet/)).toBeInTheDocument();
  });

  it("shows a failure with a retry", async () => {
    mockApi({ "GET /api/v1/models/": { status: 500, body: {} } });
    renderPage(<ModelsPage />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the models");
  });
});

describe("ModelDetailPage", () => {
  function mockModel(extra: Record<string, Parameters<typeof mockApi>[0][string]> = {}) {
    let versions = [makeVersion(), makeVersion({ id: 12, version: 2, checkpoint: 5, stage: "none", promoted_by: null, promoted_at: null })];
    const api = mockApi({
      "GET /api/v1/models/3/": { body: makeModel() },
      "GET /api/v1/model-versions/": () => ({ body: page(versions) }),
      "POST /api/v1/model-versions/12/promote/": (_url, { body }) => {
        const stage = (body as { stage: PromotionStage }).stage;
        versions = versions.map((v) =>
          v.id === 12 ? { ...v, stage, promoted_by: "bob" } : stage === "production" ? { ...v, stage: "archived" } : v,
        );
        return { body: versions.find((v) => v.id === 12) };
      },
      ...extra,
    });
    renderPage(<ModelDetailPage />, { route: "/models/3", path: "/models/:id" });
    return api;
  }

  it("lists versions with stage, metrics and source checkpoint step", async () => {
    mockModel();
    const v1 = await screen.findByTestId("version-1");
    expect(within(v1).getByTestId("stage")).toHaveTextContent("production");
    expect(v1).toHaveTextContent("loss 1.23");
    expect(within(v1).getByTestId("version-source")).toHaveTextContent("step 100 of job #7");
    expect(within(v1).getByRole("link", { name: "job #7" })).toHaveAttribute("href", "/jobs/7");
    expect(v1).toHaveTextContent("alice");
    expect(within(v1).queryByRole("button", { name: "Promote to production" })).not.toBeInTheDocument();
    expect(screen.getByTestId("version-2")).toHaveTextContent("no stage");
  });

  it("promotes a version to production through the API and refreshes the list", async () => {
    const confirm = vi.fn(() => true);
    vi.stubGlobal("confirm", confirm);
    const { calls } = mockModel();
    const v2 = await screen.findByTestId("version-2");
    await userEvent.click(within(v2).getByRole("button", { name: "Promote to production" }));
    expect(confirm).toHaveBeenCalledWith("Promote v2 of tiny-lora to production? v1 moves to archived.");
    await waitFor(() => expect(within(screen.getByTestId("version-2")).getByTestId("stage")).toHaveTextContent("production"));
    expect(within(screen.getByTestId("version-1")).getByTestId("stage")).toHaveTextContent("archived");
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.url.pathname).toBe("/api/v1/model-versions/12/promote/");
    expect(post.body).toEqual({ stage: "production" });
  });

  it("shows why a promotion was refused", async () => {
    mockModel({ "POST /api/v1/model-versions/12/promote/": { status: 409, body: { detail: "The checkpoint was deleted." } } });
    const v2 = await screen.findByTestId("version-2");
    await userEvent.click(within(v2).getByRole("button", { name: "Promote to staging" }));
    expect(await within(v2).findByRole("alert")).toHaveTextContent("Could not promote v2: The checkpoint was deleted.");
  });

  it("archives a version", async () => {
    const { calls } = mockModel({ "POST /api/v1/model-versions/12/archive/": { body: makeVersion({ id: 12, version: 2, stage: "archived" }) } });
    await userEvent.click(within(await screen.findByTestId("version-2")).getByRole("button", { name: "Archive" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.url.pathname.endsWith("/12/archive/"))).toBe(true));
  });

  it("opens a version's lineage: base model, job, attempt, checkpoint, endpoints and derived jobs", async () => {
    mockModel({
      "GET /api/v1/model-versions/11/lineage/": {
        body: makeLineage({ derived_jobs: [{ id: 9, name: "tune-again", state: "running" }] }),
      },
    });
    await userEvent.click(within(await screen.findByTestId("version-1")).getByRole("button", { name: "Lineage" }));
    const panel = await screen.findByTestId("lineage-11");
    expect(within(panel).getByTestId("lineage-base")).toHaveTextContent("base model tiny-llama v1");
    expect(within(panel).getByRole("link", { name: "tune-tiny #7" })).toHaveAttribute("href", "/jobs/7");
    expect(within(panel).getByTestId("lineage-attempt")).toHaveTextContent("attempt 2 succeeded");
    expect(within(panel).getByTestId("lineage-checkpoint")).toHaveTextContent("checkpoint step 100");
    expect(within(panel).getByTestId("lineage-version")).toHaveTextContent("tiny-lora v1");
    expect(within(panel).getByTestId("lineage-endpoints")).toHaveTextContent("not served yet");
    expect(within(panel).getByRole("link", { name: "tune-again #9" })).toHaveAttribute("href", "/jobs/9");
  });

  it("links a base model that is a registered version", async () => {
    const base = makeVersion({ id: 2, model: 1, model_name: "tiny-llama", version: 1 });
    mockModel({ "GET /api/v1/model-versions/11/lineage/": { body: makeLineage({ base_model: { version: base, uri: "" } }) } });
    await userEvent.click(within(await screen.findByTestId("version-1")).getByRole("button", { name: "Lineage" }));
    const panel = await screen.findByTestId("lineage-11");
    expect(within(panel).getByRole("link", { name: "tiny-llama v1" })).toHaveAttribute("href", "/models/1#version-2");
    expect(within(panel).getByTestId("lineage-derived")).toHaveTextContent("none");
  });

  it("says when a model is not found", async () => {
    mockApi({});
    renderPage(<ModelDetailPage />, { route: "/models/3", path: "/models/:id" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Model not found");
  });
});

describe("ModelVersionRedirect", () => {
  it("opens the version's model", async () => {
    mockApi({ "GET /api/v1/model-versions/12/": { body: makeVersion({ id: 12 }) } });
    renderPage(<ModelVersionRedirect />, { route: "/model-versions/12", path: "/model-versions/:id" });
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent("/models/3"));
  });
});
