import { useQuery, useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useMemo, type ReactNode } from 'react'
import { Api, getSession, type SessionInfo } from './api'
import { keys } from './query'

interface SessionState {
  loading: boolean
  error: string
  session: SessionInfo
  api: Api
  reload: () => void
}

const SessionContext = createContext<SessionState | null>(null)
const signedOut: SessionInfo = { authenticated: false }

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient()
  const { data: session = signedOut, isPending, isFetching, error } = useQuery({ queryKey: keys.session, queryFn: getSession })
  const reload = useCallback(() => void queryClient.invalidateQueries({ queryKey: keys.session }), [queryClient])
  const api = useMemo(() => new Api(session.csrfToken ?? ''), [session.csrfToken])
  const loading = isPending || (isFetching && error !== null)
  const value = useMemo(() => ({ loading, error: error?.message ?? '', session, api, reload }), [loading, error, session, api, reload])
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionState {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside SessionProvider')
  return s
}
