import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { isUnauthorized } from "./api/client";
import { queryKeys } from "./api/queries";

/**
 * One client for the app. Any 401 (an expired session) clears the cached user, which makes
 * <RequireAuth> redirect to /login.
 */
export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (error) => onAuthError(error) }),
    mutationCache: new MutationCache({ onError: (error) => onAuthError(error) }),
    defaultOptions: {
      queries: {
        retry: (count, error) => !isUnauthorized(error) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
  });
  function onAuthError(error: unknown) {
    if (isUnauthorized(error)) client.setQueryData(queryKeys.me, null);
  }
  return client;
}
