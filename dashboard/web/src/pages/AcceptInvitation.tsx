import { useQuery } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import { useLocation, useNavigate, useSearchParams } from 'react-router'
import { ApiError, problems, type InvitationPreview } from '../api'
import { ActionError, primaryClass } from '../components/Actions'
import { Logo } from '../components/Layout'
import { Card, ErrorState, Fact, SkeletonRows, formatDate } from '../components/States'
import { keys } from '../query'
import { useSession } from '../session'
import { useTenancy } from '../tenancy'

const linkPrimary =
  'inline-flex items-center justify-center rounded-xl bg-ember-700 px-5 py-3 text-base font-semibold text-white shadow-sm hover:bg-ember-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-700'
const linkSecondary =
  'inline-flex items-center justify-center rounded-xl bg-white px-5 py-3 text-base font-semibold text-stone-900 ring-1 ring-stone-300 hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-ember-700'

/** For a visitor who is not signed in: log in or sign up, and come back to this very link. */
export function InvitationSignIn() {
  const { pathname, search } = useLocation()
  useEffect(() => {
    document.title = 'Join a tenant · Connected BBQ'
  }, [])
  const returnTo = encodeURIComponent(pathname + search)
  return (
    <div className="flex min-h-screen flex-col bg-stone-50">
      <header className="mx-auto w-full max-w-3xl px-4 py-5 sm:px-6">
        <Logo />
      </header>
      <main id="main" className="mx-auto w-full max-w-3xl flex-1 px-4 pb-16 sm:px-6">
        <h1 className="text-3xl font-bold tracking-tight text-stone-900">You are invited to a tenant</h1>
        <p className="mt-3 max-w-xl text-stone-700">
          Log in to see the invitation and join. New here? Create an account with the email address the invitation was sent to; once you
          have verified it you come straight back here.
        </p>
        <div className="mt-8 flex flex-col gap-3 sm:flex-row">
          <a href={`/login?signup=1&returnTo=${returnTo}`} className={linkPrimary}>
            Create an account
          </a>
          <a href={`/login?returnTo=${returnTo}`} className={linkSecondary}>
            Log in to accept
          </a>
        </div>
      </main>
    </div>
  )
}

const gone: Record<string, string> = {
  accepted: 'This invitation has been used already.',
  revoked: 'This invitation was withdrawn by an admin of the tenant.',
  expired: 'This invitation has expired. Ask an admin of the tenant to send it again.',
}

const NOT_ACTIVE_RETRIES = 15
const RETRY_MS = 1000

/** The invitation behind a link: what it invites to, and an explicit Join. */
export function AcceptInvitationPage({ retryMs = RETRY_MS }: { retryMs?: number }) {
  const [params] = useSearchParams()
  const token = params.get('token') ?? ''
  const { api, session } = useSession()
  useEffect(() => {
    document.title = 'Join a tenant · Connected BBQ'
  }, [])
  const preview = useQuery<InvitationPreview, ApiError>({
    queryKey: keys.invitation(token),
    queryFn: () => api.previewInvitation(token),
    enabled: token !== '',
  })
  if (!token)
    return <ErrorState title="This link is incomplete" message="The invitation link has no token. Open the link from the mail again." />
  if (preview.isPending) return <SkeletonRows rows={3} label="Loading the invitation…" />
  if (preview.isError) {
    const notFound = preview.error.status === 404
    return (
      <ErrorState
        title={notFound ? 'This invitation link is not valid' : 'We could not load the invitation'}
        message={notFound ? 'It may have been sent again with a new link. Use the newest mail, or ask the admin.' : preview.error.message}
        onRetry={notFound ? undefined : () => void preview.refetch()}
      />
    )
  }
  return <InvitationCard inv={preview.data} token={token} signedInAs={session.user?.email ?? ''} retryMs={retryMs} />
}

function InvitationCard({
  inv,
  token,
  signedInAs,
  retryMs,
}: {
  inv: InvitationPreview
  token: string
  signedInAs: string
  retryMs: number
}) {
  const { api } = useSession()
  const { switchTo } = useTenancy()
  const navigate = useNavigate()
  const [busy, setBusy] = useState(false)
  const [waiting, setWaiting] = useState(0)
  const [error, setError] = useState<unknown>(null)
  const alive = useRef(true)
  useEffect(() => {
    alive.current = true
    return () => {
      alive.current = false
    }
  }, [])
  const mismatch = signedInAs !== '' && signedInAs.toLowerCase() !== inv.email.toLowerCase()

  const join = async () => {
    setBusy(true)
    setError(null)
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const joined = await api.acceptInvitation(token)
          if (!alive.current) return
          await switchTo(joined, `You joined “${joined.displayName}” as ${joined.role}.`)
          void navigate('/tenant')
          return
        } catch (e) {
          // Just signed up: user-service is still setting the account up. Ask again, patiently.
          const settling = e instanceof ApiError && e.status === 409 && e.type === problems.notActiveYet
          if (!settling || attempt >= NOT_ACTIVE_RETRIES || !alive.current) throw e
          setWaiting(attempt)
          await new Promise((r) => setTimeout(r, retryMs))
        }
      }
    } catch (e) {
      if (alive.current) setError(e)
    } finally {
      if (alive.current) {
        setBusy(false)
        setWaiting(0)
      }
    }
  }

  return (
    <div className="mx-auto max-w-2xl space-y-6">
      <h1 className="text-2xl font-bold tracking-tight">Join “{inv.tenantName}”</h1>
      <Card title="Invitation" description={`${inv.invitedByName || 'An admin'} invited you to this tenant.`}>
        <dl className="grid gap-4 sm:grid-cols-2">
          <Fact label="Tenant" testId="invitation-tenant">
            {inv.tenantName}
          </Fact>
          <Fact label="Your role" testId="invitation-role" className="capitalize">
            {inv.role}
          </Fact>
          <Fact label="Invited email" className="break-all">
            {inv.email}
          </Fact>
          <Fact label="Valid until">{formatDate(inv.expiresAt)}</Fact>
        </dl>
        {mismatch && (
          <p className="mt-4 rounded-lg bg-amber-50 p-3 text-sm text-amber-950 ring-1 ring-amber-200">
            You are signed in as {signedInAs}, but this invitation is for {inv.email}. Log out and sign in with the invited address to join.
          </p>
        )}
        {inv.status !== 'pending' ? (
          <p role="status" className="mt-6 text-stone-800">
            {gone[inv.status] ?? `This invitation is ${inv.status}.`}
          </p>
        ) : (
          <div className="mt-6">
            <button type="button" className={primaryClass} disabled={busy} onClick={() => void join()}>
              {busy ? 'Joining…' : `Join “${inv.tenantName}”`}
            </button>
            <div aria-live="polite" className="mt-2 text-sm text-stone-700">
              {waiting > 0 && 'Your account is still being set up. Trying again in a moment…'}
            </div>
            <ActionError error={error} />
          </div>
        )}
      </Card>
    </div>
  )
}
