import { QueryClient } from '@tanstack/react-query'

/** Query keys of the server state the pages share. */
export const keys = {
  session: ['session'] as const,
  me: ['me'] as const,
  tenant: ['tenant'] as const,
  members: (pageSize: number, pageToken: string) => ['members', pageSize, pageToken] as const,
}

/**
 * The app's fetch-state cache. Failed requests are not retried behind the user's back (every error state has its
 * own Try again) and a window focus does not refetch; what must poll says so itself (me.tsx).
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } })
}
