import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { isActive } from "../lib/jobState";
import { api } from "./endpoints";
import type { JobFilters } from "./endpoints";

export const JOBS_REFRESH_MS = 2000;

export const queryKeys = {
  me: ["me"] as const,
  teams: ["teams"] as const,
  clusters: ["clusters"] as const,
  jobs: (filters: JobFilters) => ["jobs", filters] as const,
  job: (id: number) => ["job", id] as const,
  tokens: (page: number) => ["tokens", page] as const,
};

export function useMe() {
  return useQuery({ queryKey: queryKeys.me, queryFn: api.me, staleTime: 60_000 });
}

export function useTeams() {
  return useQuery({ queryKey: queryKeys.teams, queryFn: api.teams, staleTime: 60_000 });
}

export function useClusters() {
  return useQuery({ queryKey: queryKeys.clusters, queryFn: api.clusters, staleTime: 60_000 });
}

export function useJobs(filters: JobFilters) {
  return useQuery({
    queryKey: queryKeys.jobs(filters),
    queryFn: () => api.jobs(filters),
    refetchInterval: JOBS_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
}

export function useJob(id: number) {
  return useQuery({
    queryKey: queryKeys.job(id),
    queryFn: () => api.job(id),
    // Poll while the job can still change; stop once it is finished.
    refetchInterval: (query) =>
      query.state.data === undefined || isActive(query.state.data.state) ? JOBS_REFRESH_MS : false,
  });
}

export function useTokens(page: number) {
  return useQuery({
    queryKey: queryKeys.tokens(page),
    queryFn: () => api.tokens(page),
    placeholderData: keepPreviousData,
  });
}
