import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react'
import { Api, getSession, type SessionInfo } from './api'

interface SessionState {
  loading: boolean
  error: string
  session: SessionInfo
  api: Api
  reload: () => void
}

const SessionContext = createContext<SessionState | null>(null)

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionInfo>({ authenticated: false })
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState('')
  const [generation, setGeneration] = useState(0)

  useEffect(() => {
    let live = true
    setLoading(true)
    getSession()
      .then((s) => live && (setSession(s), setError('')))
      .catch((e: Error) => live && setError(e.message))
      .finally(() => live && setLoading(false))
    return () => {
      live = false
    }
  }, [generation])

  const reload = useCallback(() => setGeneration((g) => g + 1), [])
  const api = useMemo(() => new Api(session.csrfToken ?? ''), [session.csrfToken])
  const value = useMemo(() => ({ loading, error, session, api, reload }), [loading, error, session, api, reload])
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionState {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside SessionProvider')
  return s
}
