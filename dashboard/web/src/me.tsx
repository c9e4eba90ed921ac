import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react'
import { ApiError, type Profile } from './api'
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

/** Loads the caller's profile once for every signed-in page; retries while the account is being set up. */
export function MeProvider({ children, pollMs = 2000, maxPolls = 30 }: { children: ReactNode; pollMs?: number; maxPolls?: number }) {
  const { api, reload: reloadSession } = useSession()
  const [state, setState] = useState<MeState>({ kind: 'loading' })
  const [generation, setGeneration] = useState(0)

  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    let polls = 0
    const load = () =>
      api
        .me()
        .then((profile) => {
          if (!live) return
          // Right after sign-up the account may still be pending, without a tenant: wait for the pipeline.
          const settling = (profile.status !== undefined && profile.status !== 'active') || !profile.tenantId
          if (settling && ++polls < maxPolls) {
            setState({ kind: 'provisioning' })
            timer = setTimeout(load, pollMs)
            return
          }
          setState({ kind: 'ready', profile })
        })
        .catch((error: ApiError) => {
          if (!live) return
          if (error.status === 401) return reloadSession()
          if (error.status === 404 && ++polls < maxPolls) {
            setState({ kind: 'provisioning' })
            timer = setTimeout(load, pollMs)
            return
          }
          setState({ kind: 'error', error })
        })
    load()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [api, generation, pollMs, maxPolls, reloadSession])

  const reload = useCallback(() => {
    setState({ kind: 'loading' })
    setGeneration((g) => g + 1)
  }, [])
  const setProfile = useCallback((profile: Profile) => setState({ kind: 'ready', profile }), [])
  return <MeContext.Provider value={{ state, reload, setProfile }}>{children}</MeContext.Provider>
}

export function useMe(): MeContextValue {
  const v = useContext(MeContext)
  if (!v) throw new Error('useMe outside MeProvider')
  return v
}
