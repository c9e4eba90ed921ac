import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { ApiError, problems, type MyTenant } from './api'
import { keys } from './query'
import { useMe } from './me'
import { useSession } from './session'

export interface Notice {
  tone: 'info' | 'error'
  text: string
}

interface TenancyValue {
  /** The caller's tenants; undefined while they load. */
  tenants?: MyTenant[]
  /** The active tenant, once known. */
  current?: MyTenant
  loadError: ApiError | null
  switching: boolean
  /** Makes t the active tenant at once (X-Tenant-ID), then the default, then refreshes the session's token. */
  switchTo: (t: Pick<MyTenant, 'id' | 'displayName'>, notice?: string) => Promise<boolean>
  /** After leaving or deleting the active tenant: back to the default one, saying so. */
  exited: (text: string) => Promise<void>
  notice: Notice | null
  setNotice: (n: Notice | null) => void
}

const TenancyContext = createContext<TenancyValue | null>(null)

const isNotAMember = (e: unknown) => e instanceof ApiError && e.status === 403 && e.type === problems.notAMember
const fallbackOf = (ts: MyTenant[]) => ts.find((t) => t.default && !t.suspended) ?? ts.find((t) => !t.suspended) ?? ts[0]
const quote = (name: string) => `“${name}”`

/** The active tenant of this tab, the tenant switcher's actions, and the recovery when access is lost. */
export function TenantProvider({ children }: { children: ReactNode }) {
  const { api, active, setActive } = useSession()
  const { state: me } = useMe()
  const queryClient = useQueryClient()
  const [notice, setNotice] = useState<Notice | null>(null)
  const [switching, setSwitching] = useState(false)
  const lost = useRef(false) // a call was refused with not-a-member: say so when falling back
  // Asked again for each active tenant (its `active` flag follows X-Tenant-ID); the last answer shows meanwhile.
  const tenantsQuery = useQuery<MyTenant[], ApiError>({
    queryKey: keys.myTenants(api.tenantId),
    queryFn: () => api.myTenants(),
    placeholderData: keepPreviousData,
  })
  const tenants = tenantsQuery.data
  const current = tenants?.find((t) => t.active)

  // Right after sign-up the list is empty until the account is set up: ask again once it is.
  const meReady = me.kind === 'ready'
  const empty = tenants?.length === 0
  useEffect(() => {
    if (meReady && empty) void queryClient.invalidateQueries({ queryKey: ['myTenants'] })
  }, [meReady, empty, queryClient])

  const refresh = useCallback(async () => {
    // Best effort: the X-Tenant-ID header already names the tenant; the token catches up.
    const info = await api.refreshSession().catch(() => null)
    if (info) queryClient.setQueryData(keys.session, info)
  }, [api, queryClient])

  // Whatever the page, a refusal because the active tenant is gone brings the list again, and with it the fallback.
  useEffect(() => {
    const onError = (error: unknown) => {
      if (!isNotAMember(error)) return
      lost.current = true
      void queryClient.invalidateQueries({ queryKey: ['myTenants'] })
    }
    const q = queryClient.getQueryCache().subscribe((e) => {
      if (e.type === 'updated' && e.action.type === 'error') onError(e.action.error)
    })
    const m = queryClient.getMutationCache().subscribe((e) => {
      if (e.type === 'updated' && e.action.type === 'error') onError(e.action.error)
    })
    return () => {
      q()
      m()
    }
  }, [queryClient])

  useEffect(() => {
    if (!tenants || tenantsQuery.isFetching) return
    if (active?.id && current) {
      lost.current = false
      if (active.name !== current.displayName) setActive({ id: current.id, name: current.displayName })
      return
    }
    // Nothing chosen in this tab yet: the default tenant (a token can lag behind a switch made elsewhere).
    // Or the chosen one is gone: the default, saying so.
    const pick = active?.id ? fallbackOf(tenants) : (tenants.find((t) => t.default) ?? current ?? fallbackOf(tenants))
    if (!pick) return // no tenant (yet): the pages say so
    const gone = Boolean(active?.id) || lost.current
    lost.current = false
    setActive({ id: pick.id, name: pick.displayName })
    if (gone) {
      const which = active?.name ? quote(active.name) : 'the tenant you were using'
      setNotice({ tone: 'info', text: `You no longer have access to ${which}. You are now in ${quote(pick.displayName)}.` })
    }
    if (gone || (current && current.id !== pick.id)) void refresh()
  }, [tenants, tenantsQuery.isFetching, current, active, setActive, refresh])

  const switchTo = useCallback(
    async (t: Pick<MyTenant, 'id' | 'displayName'>, text?: string) => {
      const before = active
      setSwitching(true)
      setActive({ id: t.id, name: t.displayName })
      try {
        await api.forTenant(t.id).switchDefaultTenant(t.id)
        await refresh()
        setNotice(text ? { tone: 'info', text } : null)
        await queryClient.invalidateQueries({ queryKey: keys.me })
        return true
      } catch (e) {
        setActive(before)
        const err = e instanceof ApiError ? e : new ApiError(0, 'Switch failed', String(e))
        setNotice({ tone: 'error', text: `We could not switch to ${quote(t.displayName)}: ${err.title}. ${err.message}` })
        return false
      } finally {
        setSwitching(false)
        void queryClient.invalidateQueries({ queryKey: ['myTenants'] })
      }
    },
    [active, api, refresh, setActive, queryClient],
  )

  const exited = useCallback(
    async (text: string) => {
      // The tenant is gone from the list: the default moved (user-service did it) or a new personal one is made.
      for (let i = 0; i < 10; i++) {
        const list = await api
          .forTenant('')
          .myTenants()
          .catch(() => [] as MyTenant[])
        const fallback = fallbackOf(list.filter((t) => t.id !== active?.id))
        if (fallback) {
          setActive({ id: fallback.id, name: fallback.displayName })
          setNotice({ tone: 'info', text: `${text} You are now in ${quote(fallback.displayName)}.` })
          await refresh()
          await queryClient.invalidateQueries()
          return
        }
        await new Promise((r) => setTimeout(r, 1000))
      }
      setActive(null)
      setNotice({ tone: 'info', text })
      await queryClient.invalidateQueries()
    },
    [active, api, refresh, setActive, queryClient],
  )

  const value = useMemo(
    () => ({ tenants, current, loadError: tenantsQuery.error, switching, switchTo, exited, notice, setNotice }),
    [tenants, current, tenantsQuery.error, switching, switchTo, exited, notice],
  )
  return <TenancyContext.Provider value={value}>{children}</TenancyContext.Provider>
}

export function useTenancy(): TenancyValue {
  const v = useContext(TenancyContext)
  if (!v) throw new Error('useTenancy outside TenantProvider')
  return v
}
