import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { isAnswer, isUnauthorized } from "./api/client";
import { queryKeys } from "./api/queries";

/**
 * One client for the app; a query is retried (twice) only when trying again can help. Any 401
 * (an expired session) clears the cached user, which makes <RequireAuth> redirect to /login.
 */
export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (error) => onAuthError(error) }),
    mutationCache: new MutationCache({ onError: (error) => onAuthError(error) }),
    defaultOptions: {
      queries: {
        // 401/403/404 are answers ("sign in", "not yours", "no such thing"): say so at once.
        retry: (count, error) => !isAnswer(error) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
  });
  function onAuthError(error: unknown) {
    if (isUnauthorized(error)) client.setQueryData(queryKeys.me, null);
  }
  return client;
}
