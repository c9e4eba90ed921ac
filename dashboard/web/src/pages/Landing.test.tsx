import { screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { fakeServer, signedIn, signedOut, patProfile } from '../test/fakeServer'
import { renderAt } from '../test/render'

describe('Landing', () => {
  it('offers sign up (Keycloak registration) and log in when signed out', async () => {
    fakeServer({ 'GET /session': () => signedOut })
    renderAt('/')
    expect(await screen.findByRole('heading', { level: 1, name: /your grill, connected/i })).toBeInTheDocument()
    expect(screen.getByRole('link', { name: 'Sign up' })).toHaveAttribute('href', '/login?signup=1')
    expect(screen.getAllByRole('link', { name: 'Log in' })[0]).toHaveAttribute('href', '/login')
  })

  it('shows a login error passed back by the server', async () => {
    fakeServer({ 'GET /session': () => signedOut })
    renderAt('/?login_error=the+sign-in+was+cancelled')
    expect(await screen.findByRole('alert')).toHaveTextContent('the sign-in was cancelled')
  })

  it('links to the profile when already signed in', async () => {
    fakeServer({ 'GET /session': () => signedIn, 'GET /api/v1/me': () => ({ body: patProfile }) })
    renderAt('/')
    expect(await screen.findByRole('link', { name: 'Open your profile' })).toHaveAttribute('href', '/profile')
  })

  it('sends a visitor without a session from the profile back to the landing page', async () => {
    const srv = fakeServer({ 'GET /session': () => signedOut })
    renderAt('/profile')
    expect(await screen.findByRole('alert')).toHaveTextContent('Please log in to continue.')
    expect(srv.calls.some((c) => c.path.startsWith('/api/'))).toBe(false)
  })
})
