import { useQuery, useQueryClient, type Query } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useEffect, type ReactNode } from 'react'
import type { ApiError, Profile } from './api'
import { keys } from './query'
import { useSession } from './session'

export type MeState =
  | { kind: 'loading' }
  | { kind: 'provisioning' } // signed in, but user-service has not stored the account yet
  | { kind: 'error'; error: ApiError }
  | { kind: 'ready'; profile: Profile }

interface MeContextValue {
  state: MeState
  reload: () => void
  setProfile: (p: Profile) => void
}

const MeContext = createContext<MeContextValue | null>(null)

// Right after sign-up the account may still be pending, without a tenant: the pipeline has not finished.
const settling = (p?: Profile) => p !== undefined && (p.status !== 'active' || !p.tenantId)

/**
 * The wait before the next look at an account being set up, after `polls` looks: quick at first, because the
 * pipeline usually has it ready within a second of the sign-in, then every `maxPollMs` (so 30 looks span about
 * a minute). A fixed 2 s made the first page after sign-up wait 2 s for what was there in 0.1 s.
 */
export const pollDelay = (polls: number, pollMs: number, maxPollMs: number) => Math.min(pollMs * 2 ** Math.max(polls - 1, 0), maxPollMs)

/** Loads the caller's profile once for every signed-in page; polls while the account is being set up. */
export function MeProvider({
  children,
  pollMs = 250,
  maxPollMs = 2000,
  maxPolls = 30,
}: {
  children: ReactNode
  pollMs?: number
  maxPollMs?: number
  maxPolls?: number
}) {
  const { api, reload: reloadSession } = useSession()
  const queryClient = useQueryClient()
  const query = useQuery<Profile, ApiError>({
    queryKey: keys.me,
    queryFn: () => api.me(),
    // 404: signed in, but user-service has not stored the account yet.
    retry: (failures, error) => error.status === 404 && failures < maxPolls - 1,
    retryDelay: (failures) => pollDelay(failures, pollMs, maxPollMs),
    refetchInterval: (q: Query<Profile, ApiError>) =>
      settling(q.state.data) && q.state.dataUpdateCount < maxPolls ? pollDelay(q.state.dataUpdateCount, pollMs, maxPollMs) : false,
  })
  const unauthorized = query.error?.status === 401
  useEffect(() => {
    if (unauthorized) reloadSession()
  }, [unauthorized, reloadSession])

  const updates = queryClient.getQueryState(keys.me)?.dataUpdateCount ?? 0
  const state = meState(query, settling(query.data) && updates < maxPolls, unauthorized)
  const reload = useCallback(() => void queryClient.resetQueries({ queryKey: keys.me }), [queryClient])
  const setProfile = useCallback((profile: Profile) => queryClient.setQueryData(keys.me, profile), [queryClient])
  return <MeContext.Provider value={{ state, reload, setProfile }}>{children}</MeContext.Provider>
}

function meState(
  query: { data?: Profile; error: ApiError | null; failureReason: ApiError | null },
  polling: boolean,
  unauthorized: boolean,
): MeState {
  if (query.data) return polling ? { kind: 'provisioning' } : { kind: 'ready', profile: query.data }
  if (unauthorized) return { kind: 'loading' } // the session is being checked again
  if (query.error) return { kind: 'error', error: query.error }
  if (query.failureReason?.status === 404) return { kind: 'provisioning' }
  return { kind: 'loading' }
}

export function useMe(): MeContextValue {
  const v = useContext(MeContext)
  if (!v) throw new Error('useMe outside MeProvider')
  return v
}
