// GPU telemetry (issue 15): a job's GPU series, the idle GPUs operators chase, and each node's
// network traffic — their types (named from the generated schema), calls and query hooks, in
// one file so the job page, the idle view and the inventory share them.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { client, unwrap } from "./client";
import type { components } from "./generated/schema";

type Schemas = components["schemas"];

export type GpuSeries = Schemas["GpuSeries"];
export type GpuPoint = Schemas["GpuPoint"];
export type IdleGpu = Schemas["IdleGpu"];
export type NodeNetwork = Schemas["NodeNetwork"];

/** How often a running job's GPU chart and the idle view refresh (readings arrive every 30 s). */
export const TELEMETRY_REFRESH_MS = 30_000;
export const IDLE_GPUS_PAGE_SIZE = 50;
const ALL = 500;

export const telemetryApi = {
  gpuSeries: (job: number) => unwrap(client.GET("/api/v1/jobs/{id}/gpu-series/", { params: { path: { id: job } } })),
  idleGpus: (page: number) =>
    unwrap(client.GET("/api/v1/idle-gpus/", { params: { query: { page, page_size: IDLE_GPUS_PAGE_SIZE } } })),
  nodeNetwork: async (node: number) =>
    (await unwrap(client.GET("/api/v1/node-network/", { params: { query: { node, page_size: ALL } } }))).results,
};

export const telemetryKeys = {
  gpuSeries: (job: number) => ["gpu-series", job] as const,
  idleGpus: (page: number) => ["idle-gpus", page] as const,
  nodeNetwork: (node: number) => ["node-network", node] as const,
};

export function useGpuSeries(job: number, { active }: { active: boolean }) {
  return useQuery({
    queryKey: telemetryKeys.gpuSeries(job),
    queryFn: () => telemetryApi.gpuSeries(job),
    refetchInterval: active ? TELEMETRY_REFRESH_MS : false,
  });
}

export function useIdleGpus(page: number) {
  return useQuery({
    queryKey: telemetryKeys.idleGpus(page),
    queryFn: () => telemetryApi.idleGpus(page),
    placeholderData: keepPreviousData,
    refetchInterval: TELEMETRY_REFRESH_MS,
  });
}

export function useNodeNetwork(node: number) {
  return useQuery({
    queryKey: telemetryKeys.nodeNetwork(node),
    queryFn: () => telemetryApi.nodeNetwork(node),
    refetchInterval: TELEMETRY_REFRESH_MS,
  });
}
