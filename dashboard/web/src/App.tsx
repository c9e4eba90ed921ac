import { QueryClientProvider } from '@tanstack/react-query'
import { useEffect, useState, type ReactNode } from 'react'
import { BrowserRouter, Link, Navigate, Route, Routes } from 'react-router'
import { AppLayout } from './components/Layout'
import { ErrorState, Spinner } from './components/States'
import { MeProvider, useMe } from './me'
import { AcceptInvitationPage, InvitationSignIn } from './pages/AcceptInvitation'
import { Landing } from './pages/Landing'
import { ProfilePage } from './pages/Profile'
import { TenantPage } from './pages/Tenant'
import { createQueryClient } from './query'
import { SessionProvider, useSession } from './session'
import { TenantProvider } from './tenancy'

/** Pages behind the session: without one, back to the landing page with a notice. */
function RequireSession({ children, signedOut }: { children: ReactNode; signedOut?: ReactNode }) {
  const { loading, error, session, reload } = useSession()
  if (loading) {
    return (
      <div className="flex min-h-screen items-center justify-center">
        <Spinner label="Checking your session…" />
      </div>
    )
  }
  if (error) {
    return (
      <main className="mx-auto max-w-lg p-8">
        <ErrorState title="We could not check your session" message={error} onRetry={reload} />
      </main>
    )
  }
  if (!session.authenticated) {
    if (signedOut) return <>{signedOut}</>
    return <Navigate to="/?notice=Please+log+in+to+continue." replace />
  }
  return <>{children}</>
}

function SignedIn() {
  const { state } = useMe()
  const profile = state.kind === 'ready' ? state.profile : undefined
  return (
    <TenantProvider>
      <AppLayout name={profile?.name} />
    </TenantProvider>
  )
}

function NotFound() {
  useEffect(() => {
    document.title = 'Not found · Connected BBQ'
  }, [])
  return (
    <main className="mx-auto max-w-lg p-8 text-center">
      <h1 className="text-2xl font-bold">Page not found</h1>
      <p className="mt-2 text-stone-600">That page does not exist.</p>
      <Link to="/" className="mt-6 inline-block font-medium text-ember-700 underline">
        Go home
      </Link>
    </main>
  )
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/" element={<LandingTitle />} />
      <Route
        element={
          <RequireSession>
            <MeProvider>
              <SignedIn />
            </MeProvider>
          </RequireSession>
        }
      >
        <Route path="/profile" element={<ProfilePage />} />
        <Route path="/tenant" element={<TenantPage />} />
      </Route>
      <Route
        path="/invitations/accept"
        element={
          <RequireSession signedOut={<InvitationSignIn />}>
            <MeProvider>
              <SignedIn />
            </MeProvider>
          </RequireSession>
        }
      >
        <Route index element={<AcceptInvitationPage />} />
      </Route>
      <Route path="*" element={<NotFound />} />
    </Routes>
  )
}

function LandingTitle() {
  useEffect(() => {
    document.title = 'Connected BBQ'
  }, [])
  return <Landing />
}

export default function App() {
  const [queryClient] = useState(createQueryClient)
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </SessionProvider>
    </QueryClientProvider>
  )
}
