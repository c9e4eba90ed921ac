import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { fakeServer, myTenants, patProfile, patTenants, signedIn } from '../test/fakeServer'
import { renderAt } from '../test/render'

const tenantOf = (id: string) => {
  const t = patTenants.find((x) => x.id === id)!
  return { body: { id: t.id, displayName: t.displayName, kind: 'personal', suspended: false, members: 2 } }
}

describe('Tenant switcher', () => {
  it('switches at once with X-Tenant-ID, makes it the default, then refreshes the session', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'POST /session/refresh': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
      'PUT /api/v1/me/default-tenant': () => ({ body: { ...patProfile, tenantId: 't-7', role: 'member' } }),
      'GET /api/v1/tenant': ({ headers }) => tenantOf(headers.get('X-Tenant-ID') ?? 't-42'),
      'GET /api/v1/tenant/members': () => ({ body: { members: [] } }),
      'GET /api/v1/tenant/invitations': () => ({ body: { invitations: [] } }),
    })
    renderAt('/tenant')
    const switcher = await screen.findByRole('combobox', { name: 'Active tenant' })
    await waitFor(() => expect(switcher).toHaveValue('t-42'))
    await userEvent.selectOptions(switcher, 't-7')
    expect(await screen.findByRole('heading', { name: 'Smoke Crew', level: 2 })).toBeInTheDocument()
    await waitFor(() => expect(srv.calls.some((c) => c.path === '/session/refresh')).toBe(true))
    const put = srv.calls.findIndex((c) => c.method === 'PUT' && c.path === '/api/v1/me/default-tenant')
    expect(srv.calls[put].body).toEqual({ tenantId: 't-7' })
    expect(srv.calls[put].headers.get('X-CSRF-Token')).toBe('csrf-123')
    expect(srv.calls.findIndex((c) => c.path === '/session/refresh')).toBeGreaterThan(put)
    expect(JSON.parse(sessionStorage.getItem('bbq.activeTenant')!)).toMatchObject({ id: 't-7', userId: 'u-1' })
    // A member now: no admin actions.
    expect(screen.queryByRole('button', { name: 'Rename' })).not.toBeInTheDocument()
  })

  it('goes back and says why when a switch is refused', async () => {
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
      'PUT /api/v1/me/default-tenant': () => ({
        status: 403,
        body: { type: 'urn:bbq:problem:tenant-suspended', title: 'Tenant suspended', status: 403, detail: 'this tenant is suspended' },
      }),
    })
    renderAt('/profile')
    const switcher = await screen.findByRole('combobox', { name: 'Active tenant' })
    await waitFor(() => expect(switcher).toHaveValue('t-42'))
    await userEvent.selectOptions(switcher, 't-7')
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'We could not switch to “Smoke Crew”: Tenant suspended. this tenant is suspended',
    )
    await waitFor(() => expect(switcher).toHaveValue('t-42'))
  })

  it('drops back to the default tenant by itself when the active one is gone, and says so', async () => {
    sessionStorage.setItem('bbq.activeTenant', JSON.stringify({ userId: 'u-1', id: 't-7', name: 'Smoke Crew' }))
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'POST /session/refresh': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants([patTenants[0]]), // removed from t-7
      'GET /api/v1/tenant': ({ headers }) =>
        headers.get('X-Tenant-ID') === 't-7'
          ? { status: 403, body: { type: 'urn:bbq:problem:not-a-member', title: 'Not a member', status: 403 } }
          : tenantOf('t-42'),
      'GET /api/v1/tenant/members': () => ({ body: { members: [] } }),
      'GET /api/v1/tenant/invitations': () => ({ body: { invitations: [] } }),
    })
    renderAt('/tenant')
    expect(await screen.findByTestId('tenant-notice')).toHaveTextContent(
      "You no longer have access to “Smoke Crew”. You are now in “Pat's Smokehouse”.",
    )
    expect(await screen.findByRole('heading', { name: "Pat's Smokehouse", level: 2 })).toBeInTheDocument()
    await waitFor(() => expect(srv.calls.some((c) => c.path === '/session/refresh')).toBe(true))
  })

  it('recovers when a call is refused because the tenant is gone while the page is open', async () => {
    let removed = false
    fakeServer({
      'GET /session': () => signedIn,
      'POST /session/refresh': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': (req) => myTenants(removed ? [{ ...patTenants[1], default: true }] : patTenants)(req),
      'GET /api/v1/tenant': ({ headers }) => tenantOf(headers.get('X-Tenant-ID') ?? 't-42'),
      'GET /api/v1/tenant/members': () => ({ body: { members: [] } }),
      'GET /api/v1/tenant/invitations': () => ({ body: { invitations: [] } }),
      'PATCH /api/v1/tenant': () => {
        removed = true
        return {
          status: 403,
          body: { type: 'urn:bbq:problem:not-a-member', title: 'Not a member', status: 403, detail: 'you do not belong' },
        }
      },
    })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Rename' }))
    await userEvent.click(screen.getByRole('button', { name: 'Save name' }))
    expect(await screen.findByTestId('tenant-notice')).toHaveTextContent(
      "You no longer have access to “Pat's Smokehouse”. You are now in “Smoke Crew”.",
    )
  })
})
