import { QueryClient } from '@tanstack/react-query'

/** Query keys of the server state the pages share; what depends on the active tenant names it. */
export const keys = {
  session: ['session'] as const,
  me: ['me'] as const,
  myTenants: (tenant: string) => ['myTenants', tenant] as const,
  tenant: (tenant: string) => ['tenant', tenant] as const,
  members: (tenant: string, pageSize: number, pageToken: string) => ['members', tenant, pageSize, pageToken] as const,
  invitations: (tenant: string, status: string) => ['invitations', tenant, status] as const,
  invitation: (token: string) => ['invitation', token] as const,
}

/**
 * The app's fetch-state cache. Failed requests are not retried behind the user's back (every error state has its
 * own Try again) and a window focus does not refetch; what must poll says so itself (me.tsx).
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } })
}
