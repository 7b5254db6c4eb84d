import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { canStillChange } from "../lib/jobState";
import { isAnswer } from "./client";
import { api } from "./endpoints";
import type { JobFilters } from "./endpoints";
import type { NodeJobsQuery, NodeListQuery, PlanSpec, QueueListQuery, TemplatePlanRequest } from "./models";

export const JOBS_REFRESH_MS = 2000;
/** Discovery and agents report every minute or so; the inventory page asks a little more often. */
export const INVENTORY_REFRESH_MS = 10_000;
/** Quotas' use changes as jobs are admitted and finish; the scheduler passes every few seconds. */
export const QUOTAS_REFRESH_MS = 5000;
/** A running job reports metrics and checkpoints every few steps: its charts and tables follow. */
export const TRAINING_REFRESH_MS = 5000;

export const queryKeys = {
  me: ["me"] as const,
  teams: ["teams"] as const,
  clusters: ["clusters"] as const,
  jobs: (filters: JobFilters) => ["jobs", filters] as const,
  job: (id: number) => ["job", id] as const,
  tokens: (page: number) => ["tokens", page] as const,
  nodes: (query: NodeListQuery) => ["nodes", query] as const,
  nodeAccelerators: (node: number) => ["accelerators", { node }] as const,
  node: (id: number) => ["nodes", id] as const,
  nodeJobs: (node: number, query: NodeJobsQuery) => ["nodes", node, "jobs", query] as const,
  acceleratorSummary: (cluster: string | undefined) => ["accelerators", "summary", cluster ?? null] as const,
  storageBackends: (page: number) => ["storage-backends", page] as const,
  networkFabrics: (page: number) => ["network-fabrics", page] as const,
  plannerOptions: ["planner", "options"] as const,
  planEstimate: (spec: PlanSpec | null) => ["planner", "estimate", spec] as const,
  queue: (query: QueueListQuery) => ["queue", query] as const,
  pools: ["pools"] as const,
  quotas: ["quotas"] as const,
  priorityClasses: ["priority-classes"] as const,
  cohorts: ["cohorts"] as const,
  teamPolicies: ["team-policies"] as const,
  jobMetrics: (job: number) => ["job-metrics", job] as const,
  jobCheckpoints: (job: number) => ["checkpoints", { job }] as const,
  models: (page: number) => ["models", page] as const,
  model: (id: number) => ["model", id] as const,
  modelVersions: (model: number) => ["model-versions", { model }] as const,
  modelVersion: (id: number) => ["model-versions", id] as const,
  versionLineage: (version: number) => ["model-versions", "lineage", version] as const,
  jobTemplates: ["job-templates"] as const,
  templatePlan: (spec: TemplatePlanSpec | null) => ["job-templates", "plan", spec] as const,
};

/** What a template's live estimate asks: the template's slug and the plan request. */
export interface TemplatePlanSpec {
  slug: string;
  body: TemplatePlanRequest;
}

export function useMe() {
  return useQuery({ queryKey: queryKeys.me, queryFn: api.me, staleTime: 60_000 });
}

export function useTeams() {
  return useQuery({ queryKey: queryKeys.teams, queryFn: api.teams, staleTime: 60_000 });
}

export function useClusters() {
  return useQuery({ queryKey: queryKeys.clusters, queryFn: api.clusters, staleTime: 60_000 });
}

/** The clusters, kept fresh (their state and last answer change while the page is open). */
export function useLiveClusters() {
  return useQuery({ queryKey: queryKeys.clusters, queryFn: api.clusters, refetchInterval: INVENTORY_REFRESH_MS });
}

export function useJobs(filters: JobFilters) {
  return useQuery({
    queryKey: queryKeys.jobs(filters),
    queryFn: () => api.jobs(filters),
    refetchInterval: JOBS_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useJob(id: number, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: queryKeys.job(id),
    queryFn: () => api.job(id),
    enabled,
    // Poll until nothing can change: the job and every attempt final (after a cancel the
    // attempt still runs until its cluster stops it). A 404 is an answer: no retry, no poll.
    refetchInterval: (query) =>
      !isAnswer(query.state.error) && canStillChange(query.state.data) ? JOBS_REFRESH_MS : false,
  });
}

export function useTokens(page: number) {
  return useQuery({
    queryKey: queryKeys.tokens(page),
    queryFn: () => api.tokens(page),
    placeholderData: keepPreviousData,
  });
}

export function useNodes(query: NodeListQuery) {
  return useQuery({
    queryKey: queryKeys.nodes(query),
    queryFn: () => api.nodes(query),
    refetchInterval: INVENTORY_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useNodeAccelerators(node: number) {
  return useQuery({
    queryKey: queryKeys.nodeAccelerators(node),
    queryFn: () => api.nodeAccelerators(node),
    refetchInterval: INVENTORY_REFRESH_MS,
  });
}

export function useNode(id: number) {
  return useQuery({ queryKey: queryKeys.node(id), queryFn: () => api.node(id), refetchInterval: INVENTORY_REFRESH_MS });
}

/** Jobs on a node now (`active: "true"`) or recently (`"false"`), kept fresh as they start and end. */
export function useNodeJobs(node: number, query: NodeJobsQuery) {
  return useQuery({
    queryKey: queryKeys.nodeJobs(node, query),
    queryFn: () => api.nodeJobs(node, query),
    refetchInterval: INVENTORY_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useAcceleratorSummary(cluster?: string) {
  return useQuery({
    queryKey: queryKeys.acceleratorSummary(cluster),
    queryFn: () => api.acceleratorSummary(cluster),
    refetchInterval: INVENTORY_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useStorageBackends(page: number) {
  return useQuery({
    queryKey: queryKeys.storageBackends(page),
    queryFn: () => api.storageBackends(page),
    refetchInterval: INVENTORY_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useNetworkFabrics(page: number) {
  return useQuery({
    queryKey: queryKeys.networkFabrics(page),
    queryFn: () => api.networkFabrics(page),
    refetchInterval: INVENTORY_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

/** The catalog changes rarely; the pools as often as the inventory. */
export function usePlannerOptions({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: queryKeys.plannerOptions,
    queryFn: api.plannerOptions,
    staleTime: 60_000,
    enabled,
  });
}

/**
 * The planner's answer for one spec (null: nothing to ask yet). The previous answer stays
 * while the next one loads, so results do not flicker as fields change. Nothing is retried:
 * a refused spec gets the same answer again, and the page offers "Try again" for the rest
 * (the next change of a field asks anew anyway).
 */
export function usePlanEstimate(spec: PlanSpec | null) {
  return useQuery({
    queryKey: queryKeys.planEstimate(spec),
    queryFn: () => api.planEstimate(spec!),
    enabled: spec !== null,
    staleTime: 60_000,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

/** The pending work, kept live as the jobs list is. */
export function useQueue(query: QueueListQuery) {
  return useQuery({
    queryKey: queryKeys.queue(query),
    queryFn: () => api.queue(query),
    refetchInterval: JOBS_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

/** The pools; `live` keeps their use fresh (the quotas page), else they serve as a filter's list. */
export function usePools({ live = false }: { live?: boolean } = {}) {
  return useQuery({
    queryKey: queryKeys.pools,
    queryFn: api.pools,
    staleTime: live ? 0 : 60_000,
    refetchInterval: live ? QUOTAS_REFRESH_MS : false,
  });
}

export function useQuotas() {
  return useQuery({ queryKey: queryKeys.quotas, queryFn: api.quotas, refetchInterval: QUOTAS_REFRESH_MS });
}

/** Cohorts and teams' own policies change rarely: no polling. */
export function useCohorts() {
  return useQuery({ queryKey: queryKeys.cohorts, queryFn: api.cohorts, staleTime: 60_000 });
}

export function useTeamPolicies() {
  return useQuery({ queryKey: queryKeys.teamPolicies, queryFn: api.teamPolicies, staleTime: 60_000 });
}

/** Only fetched where a form offers them (enabled). */
export function usePriorityClasses({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: queryKeys.priorityClasses, queryFn: api.priorityClasses, staleTime: 60_000, enabled });
}

/** Polls every TRAINING_REFRESH_MS while `active` (the job can still report), then stops. */
const whileActive = (active: boolean) => (active ? TRAINING_REFRESH_MS : false);

export function useJobMetrics(job: number, { active }: { active: boolean }) {
  return useQuery({
    queryKey: queryKeys.jobMetrics(job),
    queryFn: () => api.jobMetrics(job),
    refetchInterval: whileActive(active),
  });
}

export function useJobCheckpoints(job: number, { active }: { active: boolean }) {
  return useQuery({
    queryKey: queryKeys.jobCheckpoints(job),
    queryFn: () => api.jobCheckpoints(job),
    refetchInterval: whileActive(active),
  });
}

export function useModels(page: number) {
  return useQuery({ queryKey: queryKeys.models(page), queryFn: () => api.models(page), placeholderData: keepPreviousData });
}

export function useModel(id: number) {
  return useQuery({ queryKey: queryKeys.model(id), queryFn: () => api.model(id) });
}

export function useModelVersions(model: number) {
  return useQuery({ queryKey: queryKeys.modelVersions(model), queryFn: () => api.modelVersions(model) });
}

export function useModelVersion(id: number, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: queryKeys.modelVersion(id), queryFn: () => api.modelVersion(id), enabled });
}

/** Fetched when its panel opens (enabled). */
export function useVersionLineage(version: number, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: queryKeys.versionLineage(version), queryFn: () => api.versionLineage(version), enabled });
}

/** Templates ship with the server: they change on a deploy, not while the page is open. */
export function useJobTemplates({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({ queryKey: queryKeys.jobTemplates, queryFn: api.jobTemplates, staleTime: 5 * 60_000, enabled });
}

/** The planner's answer for a template's job, as usePlanEstimate for a plain spec. */
export function useTemplatePlan(spec: TemplatePlanSpec | null) {
  return useQuery({
    queryKey: queryKeys.templatePlan(spec),
    queryFn: () => api.planTemplate(spec!.slug, spec!.body),
    enabled: spec !== null,
    staleTime: 60_000,
    placeholderData: keepPreviousData,
    retry: false,
  });
}
