import { useQuery, useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react'
import { Api, getSession, type SessionInfo } from './api'
import { keys } from './query'

/** The tenant this tab works in, as sent in X-Tenant-ID; kept in sessionStorage so that a reload keeps it. */
export interface ActiveTenant {
  id: string
  name: string
}

interface SessionState {
  loading: boolean
  error: string
  session: SessionInfo
  /** The API as the active tenant (none chosen yet: the token's tenant claim). */
  api: Api
  active: ActiveTenant | null
  setActive: (t: ActiveTenant | null) => void
  reload: () => void
}

const SessionContext = createContext<SessionState | null>(null)
const signedOut: SessionInfo = { authenticated: false }
const storageKey = 'bbq.activeTenant'

function stored(userId?: string): ActiveTenant | null {
  try {
    const v = JSON.parse(sessionStorage.getItem(storageKey) ?? 'null') as (ActiveTenant & { userId: string }) | null
    return v && userId && v.userId === userId && v.id ? { id: v.id, name: v.name ?? '' } : null
  } catch {
    return null
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient()
  const { data: session = signedOut, isPending, isFetching, error } = useQuery({ queryKey: keys.session, queryFn: getSession })
  const userId = session.user?.id
  // The choice made in this tab, or (until one is made) what the tab remembers for this person.
  const [chosen, setChosen] = useState<{ userId?: string; t: ActiveTenant | null } | null>(null)
  const active = chosen && chosen.userId === userId ? chosen.t : stored(userId)
  const setActive = useCallback(
    (t: ActiveTenant | null) => {
      setChosen({ userId, t })
      if (t && userId) sessionStorage.setItem(storageKey, JSON.stringify({ userId, ...t }))
      else sessionStorage.removeItem(storageKey)
    },
    [userId],
  )
  const reload = useCallback(() => void queryClient.invalidateQueries({ queryKey: keys.session }), [queryClient])
  const activeId = active?.id ?? ''
  const api = useMemo(() => new Api(session.csrfToken ?? '', activeId), [session.csrfToken, activeId])
  const loading = isPending || (isFetching && error !== null)
  const value = useMemo(
    () => ({ loading, error: error?.message ?? '', session, api, active, setActive, reload }),
    [loading, error, session, api, active, setActive, reload],
  )
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionState {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside SessionProvider')
  return s
}
