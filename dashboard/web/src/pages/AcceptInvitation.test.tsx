import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { expectAccessible } from '../test/axe'
import { fakeServer, myTenants, patProfile, patTenants, signedIn, signedOut } from '../test/fakeServer'
import { renderAt } from '../test/render'

const preview = {
  tenantId: 't-7',
  tenantName: 'Smoke Crew',
  role: 'member',
  email: 'pat@example.com',
  status: 'pending',
  expiresAt: '2026-12-07T10:00:00Z',
  invitedByName: 'Sam Smoker',
}
const joined = { ...patTenants[1], active: false }

describe('Accept invitation', () => {
  it('sends a visitor who is not signed in to log in or sign up, and back to the link', async () => {
    fakeServer({ 'GET /session': () => signedOut })
    const { container } = renderAt('/invitations/accept?token=abc_-1')
    expect(await screen.findByRole('heading', { name: 'You are invited to a tenant' })).toBeInTheDocument()
    const back = encodeURIComponent('/invitations/accept?token=abc_-1')
    expect(screen.getByRole('link', { name: 'Create an account' })).toHaveAttribute('href', `/login?signup=1&returnTo=${back}`)
    expect(screen.getByRole('link', { name: 'Log in to accept' })).toHaveAttribute('href', `/login?returnTo=${back}`)
    await expectAccessible(container)
  })

  it('shows the invitation and joins with an explicit click, retrying while the account is set up, then switches', async () => {
    let accepts = 0
    let joinedYet = false
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'POST /session/refresh': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': (req) => myTenants(joinedYet ? patTenants : [patTenants[0]])(req),
      'GET /api/v1/invitations/abc': () => ({ body: preview }),
      'POST /api/v1/invitations/abc/accept': () => {
        if (++accepts < 3) {
          return { status: 409, body: { type: 'urn:bbq:problem:not-active-yet', title: 'Not active yet', status: 409, detail: 'retry' } }
        }
        joinedYet = true
        return { body: joined }
      },
      'PUT /api/v1/me/default-tenant': () => ({ body: { ...patProfile, tenantId: 't-7', role: 'member' } }),
      'GET /api/v1/tenant': () => ({ body: { id: 't-7', displayName: 'Smoke Crew', kind: 'personal', suspended: false, members: 2 } }),
      'GET /api/v1/tenant/members': () => ({ body: { members: [] } }),
    })
    const { container } = renderAt('/invitations/accept?token=abc')
    expect(await screen.findByRole('heading', { name: 'Join “Smoke Crew”' })).toBeInTheDocument()
    expect(screen.getByTestId('invitation-role')).toHaveTextContent('member')
    expect(screen.getByText('Sam Smoker invited you to this tenant.')).toBeInTheDocument()
    await expectAccessible(container)
    expect(srv.calls.some((c) => c.method === 'POST')).toBe(false) // nothing joins without the click
    await userEvent.click(screen.getByRole('button', { name: 'Join “Smoke Crew”' }))
    expect(await screen.findByTestId('tenant-notice', {}, { timeout: 8000 })).toHaveTextContent('You joined “Smoke Crew” as member.')
    expect(accepts).toBe(3)
    const put = srv.calls.find((c) => c.method === 'PUT')!
    expect(put.body).toEqual({ tenantId: 't-7' })
    expect(put.headers.get('X-Tenant-ID')).toBe('t-7')
    expect(srv.calls.findIndex((c) => c.path === '/session/refresh')).toBeGreaterThan(srv.calls.indexOf(put))
    expect(await screen.findByRole('heading', { name: 'Smoke Crew', level: 2 })).toBeInTheDocument()
  })

  it('shows why joining is refused', async () => {
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
      'GET /api/v1/invitations/abc': () => ({ body: { ...preview, email: 'other@example.com' } }),
      'POST /api/v1/invitations/abc/accept': () => ({
        status: 403,
        body: {
          type: 'urn:bbq:problem:email-mismatch',
          title: 'Email mismatch',
          status: 403,
          detail: 'the invitation is for another address',
        },
      }),
    })
    renderAt('/invitations/accept?token=abc')
    expect(await screen.findByText(/but this invitation is for other@example.com/)).toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: 'Join “Smoke Crew”' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('Email mismatch: the invitation is for another address')
  })

  it('explains a used, revoked or unknown link', async () => {
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
      'GET /api/v1/invitations/used': () => ({ body: { ...preview, status: 'revoked' } }),
    })
    renderAt('/invitations/accept?token=used')
    expect(await screen.findByText('This invitation was withdrawn by an admin of the tenant.')).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: /Join/ })).not.toBeInTheDocument()
  })

  it('says so when the link is not valid', async () => {
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
    })
    renderAt('/invitations/accept?token=nope')
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('This invitation link is not valid'))
  })
})
