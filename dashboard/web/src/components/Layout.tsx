import { NavLink, Outlet } from 'react-router'
import { useSession } from '../session'

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

/** The signed-in frame: header with navigation and log out, then the page. */
export function AppLayout({ isAdmin, name }: { isAdmin: boolean; name?: string }) {
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
            {isAdmin && (
              <NavLink to="/tenant" className={navClass}>
                Tenant
              </NavLink>
            )}
          </nav>
          <div className="flex items-center gap-3">
            {who && <span className="hidden text-sm text-stone-600 md:inline">{who}</span>}
            <LogoutButton />
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto w-full max-w-5xl flex-1 px-4 py-8 sm:px-6">
        <Outlet />
      </main>
      <footer className="border-t border-stone-200 py-6 text-center text-xs text-stone-600">
        Connected BBQ · your account, your team, your grills
      </footer>
    </div>
  )
}
