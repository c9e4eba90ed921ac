import { Link, useSearchParams } from 'react-router'
import { Logo } from '../components/Layout'
import { useSession } from '../session'

const primary =
  'inline-flex items-center justify-center rounded-xl bg-ember-700 px-5 py-3 text-base font-semibold text-white shadow-sm hover:bg-ember-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-700'
const secondary =
  'inline-flex items-center justify-center rounded-xl bg-white px-5 py-3 text-base font-semibold text-stone-900 ring-1 ring-stone-300 hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-700'

const features = [
  { title: 'One account', text: 'Sign up once with your email; verify it and your workspace is ready.' },
  { title: 'Your team', text: 'Every account belongs to a tenant. Admins see who is in it.' },
  { title: 'Private by design', text: 'Your session never exposes tokens to the browser.' },
]

export function Landing() {
  const { session } = useSession()
  const [params] = useSearchParams()
  const loginError = params.get('login_error') || params.get('notice')
  return (
    <div className="flex min-h-screen flex-col bg-[linear-gradient(180deg,var(--color-ember-50),var(--color-stone-50)_60%)]">
      <header className="mx-auto flex w-full max-w-5xl items-center justify-between px-4 py-5 sm:px-6">
        <Logo />
        {!session.authenticated && (
          <a
            href="/login"
            className="rounded-lg px-3 py-2 text-sm font-medium text-stone-800 hover:bg-white/70 focus-visible:outline-2 focus-visible:outline-ember-700"
          >
            Log in
          </a>
        )}
      </header>
      <main id="main" className="mx-auto flex w-full max-w-5xl flex-1 flex-col justify-center px-4 pb-16 sm:px-6">
        {loginError && (
          <div role="alert" className="mb-8 rounded-xl border border-amber-300 bg-amber-50 p-4 text-amber-900">
            {loginError}
          </div>
        )}
        <h1 className="max-w-2xl text-4xl font-bold tracking-tight text-stone-900 sm:text-5xl">Your grill, connected.</h1>
        <p className="mt-4 max-w-xl text-lg text-stone-700">
          Manage your Connected BBQ account and your team in one place. Create an account in a minute, or log in to pick up where you left
          off.
        </p>
        <div className="mt-8 flex flex-col gap-3 sm:flex-row">
          {session.authenticated ? (
            <Link to="/profile" className={primary}>
              Open your profile
            </Link>
          ) : (
            <>
              <a href="/login?signup=1" className={primary}>
                Sign up
              </a>
              <a href="/login" className={secondary}>
                Log in
              </a>
            </>
          )}
        </div>
        <ul className="mt-14 grid gap-4 sm:grid-cols-3">
          {features.map((f) => (
            <li key={f.title} className="rounded-2xl border border-stone-200 bg-white/80 p-5">
              <h2 className="font-semibold text-stone-900">{f.title}</h2>
              <p className="mt-1 text-sm text-stone-700">{f.text}</p>
            </li>
          ))}
        </ul>
      </main>
    </div>
  )
}
