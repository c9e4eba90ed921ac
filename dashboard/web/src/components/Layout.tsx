import { NavLink, Outlet } from 'react-router'
import { useSession } from '../session'
import { useTenancy } from '../tenancy'

export function Logo() {
  return (
    <span className="flex items-center gap-2 font-semibold tracking-tight text-stone-900">
      <svg viewBox="0 0 32 32" className="h-8 w-8" aria-hidden="true">
        <rect width="32" height="32" rx="8" fill="#c2410c" />
        <path d="M16 6c3 4 6 6.5 6 11a6 6 0 0 1-12 0c0-2.5 1.2-4.3 2.6-5.6.2 1.9 1 3.1 2.2 3.6C14 12 14.6 9 16 6z" fill="#fff7ed" />
      </svg>
      Connected BBQ
    </span>
  )
}

export function LogoutButton() {
  const { session } = useSession()
  return (
    <form method="post" action="/logout">
      <input type="hidden" name="csrf_token" value={session.csrfToken ?? ''} />
      <button
        type="submit"
        className="rounded-lg px-3 py-2 text-sm font-medium text-stone-700 ring-1 ring-stone-300 hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600"
      >
        Log out
      </button>
    </form>
  )
}

const navClass = ({ isActive }: { isActive: boolean }) =>
  'rounded-lg px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-600 ' +
  (isActive ? 'bg-ember-50 text-ember-800' : 'text-stone-700 hover:bg-stone-100')

/** The header's tenant switcher: the active tenant, and every other one the person belongs to. */
export function TenantSwitcher() {
  const { tenants, current, switching, switchTo } = useTenancy()
  if (!tenants || tenants.length === 0) return null
  return (
    <label className="flex items-center gap-2 text-sm text-stone-700">
      <span className="sr-only sm:not-sr-only">Tenant</span>
      <select
        aria-label="Active tenant"
        data-testid="tenant-switcher"
        value={current?.id ?? ''}
        disabled={switching}
        onChange={(e) => {
          const t = tenants.find((x) => x.id === e.target.value)
          if (t) void switchTo(t)
        }}
        className="max-w-[14rem] truncate rounded-lg border border-stone-300 bg-white px-2 py-1.5 text-sm disabled:opacity-60"
      >
        {!current && <option value="">Choose a tenant…</option>}
        {tenants.map((t) => (
          <option key={t.id} value={t.id}>
            {t.displayName || t.id} ({t.role}){t.suspended ? ' · suspended' : ''}
          </option>
        ))}
      </select>
    </label>
  )
}

/** What the tenancy has to say: a switch, a join, a loss of access. */
export function TenantNotice() {
  const { notice, setNotice } = useTenancy()
  if (!notice) return null
  const error = notice.tone === 'error'
  return (
    <div
      role={error ? 'alert' : 'status'}
      data-testid="tenant-notice"
      className={
        'mb-6 flex items-start justify-between gap-4 rounded-xl border p-4 text-sm ' +
        (error ? 'border-red-200 bg-red-50 text-red-900' : 'border-amber-200 bg-amber-50 text-amber-950')
      }
    >
      <p>{notice.text}</p>
      <button
        type="button"
        onClick={() => setNotice(null)}
        className="shrink-0 rounded px-2 py-0.5 font-medium underline focus-visible:outline-2 focus-visible:outline-ember-600"
      >
        Dismiss
      </button>
    </div>
  )
}

/** The signed-in frame: header with navigation, tenant switcher and log out, then the page. */
export function AppLayout({ name }: { name?: string }) {
  const { session } = useSession()
  const who = name || session.user?.name || session.user?.email || ''
  return (
    <div className="flex min-h-screen flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:rounded focus:bg-white focus:px-3 focus:py-2"
      >
        Skip to content
      </a>
      <header className="border-b border-stone-200 bg-white">
        <div className="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-3 px-4 py-3 sm:px-6">
          <Logo />
          <nav aria-label="Main" className="order-3 flex w-full gap-1 sm:order-none sm:w-auto">
            <NavLink to="/profile" className={navClass}>
              Profile
            </NavLink>
            <NavLink to="/tenant" className={navClass}>
              Tenant
            </NavLink>
          </nav>
          <div className="flex flex-wrap items-center gap-3">
            <TenantSwitcher />
            {who && <span className="hidden text-sm text-stone-600 lg:inline">{who}</span>}
            <LogoutButton />
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto w-full max-w-5xl flex-1 px-4 py-8 sm:px-6">
        <TenantNotice />
        <Outlet />
      </main>
      <footer className="border-t border-stone-200 py-6 text-center text-xs text-stone-600">
        Connected BBQ · your account, your team, your grills
      </footer>
    </div>
  )
}
