import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { expectAccessible } from '../test/axe'
import { fakeServer, myTenants, patProfile, patTenants, signedIn, type Handler } from '../test/fakeServer'
import { renderAt } from '../test/render'

const tenant = { body: { id: 't-42', displayName: "Pat's Smokehouse", kind: 'personal', suspended: false, members: 11 } }
const member = (i: number) => ({
  userId: `u-${i}`,
  name: `Member ${i}`,
  email: `m${i}@example.com`,
  role: i === 1 ? 'admin' : 'member',
  memberSince: '2026-03-01T10:00:00Z',
})
const invitation = {
  id: 'i-1',
  email: 'sam@example.com',
  role: 'member',
  status: 'pending',
  createdAt: '2026-11-30T10:00:00Z',
  expiresAt: '2026-12-07T10:00:00Z',
  invitedBy: 'u-1',
  invitedByName: 'Pat Griller',
}
const problem = (status: number, type: string, title: string, detail: string) => ({ status, body: { type, title, status, detail } })

/** Pat, admin of t-42, with two members and one pending invitation; extra routes override. */
function adminServer(extra: Record<string, Handler> = {}) {
  return fakeServer({
    'GET /session': () => signedIn,
    'GET /api/v1/me': () => ({ body: patProfile }),
    'GET /api/v1/me/tenants': myTenants(),
    'GET /api/v1/tenant': () => tenant,
    'GET /api/v1/tenant/members': () => ({ body: { members: [{ ...member(1), userId: 'u-1', name: 'Pat Griller' }, member(2)] } }),
    'GET /api/v1/tenant/invitations': () => ({ body: { invitations: [invitation] } }),
    ...extra,
  })
}

describe('Tenant', () => {
  it('lists members and pages forward and back with opaque tokens', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/me/tenants': myTenants(),
      'GET /api/v1/tenant': () => tenant,
      'GET /api/v1/tenant/invitations': () => ({ body: { invitations: [] } }),
      'GET /api/v1/tenant/members': ({ url }) =>
        url.searchParams.get('pageToken') === 'p2'
          ? { body: { members: [member(11)], nextPageToken: '' } }
          : { body: { members: Array.from({ length: 10 }, (_, i) => member(i + 1)), nextPageToken: 'p2' } },
    })
    renderAt('/tenant')
    expect(await screen.findByRole('heading', { name: "Pat's Smokehouse" })).toBeInTheDocument()
    expect(screen.getByText('11')).toBeInTheDocument() // member count
    expect(await screen.findByText('m1@example.com')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Previous' })).toBeDisabled()
    await userEvent.click(screen.getByRole('button', { name: 'Next' }))
    expect(await screen.findByText('m11@example.com')).toBeInTheDocument()
    expect(screen.getByText('Page 2')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled()
    await userEvent.click(screen.getByRole('button', { name: 'Previous' }))
    expect(await screen.findByText('m1@example.com')).toBeInTheDocument()
    const memberCalls = srv.calls.filter((c) => c.path === '/api/v1/tenant/members').map((c) => c.search)
    expect(memberCalls).toEqual(['?pageSize=10', '?pageSize=10&pageToken=p2', '?pageSize=10'])
    // Every tenant call names the active tenant.
    expect(srv.calls.filter((c) => c.path === '/api/v1/tenant/members').every((c) => c.headers.get('X-Tenant-ID') === 't-42')).toBe(true)
  })

  it('shows an error and retries', async () => {
    let fail = true
    adminServer({
      'GET /api/v1/tenant/members': () =>
        fail ? { status: 500, body: { title: 'Internal', detail: 'Boom.' } } : { body: { members: [member(1)] } },
    })
    renderAt('/tenant')
    expect(await screen.findByText('Boom.')).toBeInTheDocument()
    fail = false
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }))
    expect(await screen.findByText('m1@example.com')).toBeInTheDocument()
  })

  it('shows a member the members and Leave, but no admin action and no admin API call', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: { ...patProfile, role: 'member' } }),
      'GET /api/v1/me/tenants': myTenants([{ ...patTenants[0], role: 'member' }]),
      'GET /api/v1/tenant': () => tenant,
      'GET /api/v1/tenant/members': () => ({ body: { members: [member(1), member(2)] } }),
    })
    const { container } = renderAt('/tenant')
    expect(await screen.findByText('m2@example.com')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Leave tenant' })).toBeInTheDocument()
    for (const name of ['Rename', 'Delete tenant', 'Send invitation', /^Remove/]) {
      expect(screen.queryByRole('button', { name })).not.toBeInTheDocument()
    }
    expect(screen.queryByRole('combobox', { name: /Role of/ })).not.toBeInTheDocument()
    expect(srv.calls.some((c) => c.path.startsWith('/api/v1/tenant/invitations'))).toBe(false)
    await expectAccessible(container)
  })

  it('gives an admin every action, accessible', async () => {
    const { container } = (() => {
      adminServer()
      return renderAt('/tenant')
    })()
    expect(await screen.findByText('sam@example.com')).toBeInTheDocument()
    expect(await screen.findByRole('combobox', { name: 'Role of Member 2' })).toHaveValue('member')
    for (const name of ['Rename', 'Delete tenant', 'Leave tenant', 'Remove Member 2', 'Resend to sam@example.com']) {
      expect(screen.getByRole('button', { name })).toBeInTheDocument()
    }
    expect(screen.queryByRole('button', { name: 'Remove Pat Griller' })).not.toBeInTheDocument() // oneself: Leave
    await expectAccessible(container)
  })

  it('invites with the CSRF token and shows a refusal with its reason', async () => {
    let answer = { status: 201, body: { ...invitation, id: 'i-2', email: 'lee@example.com' } as unknown }
    const srv = adminServer({ 'POST /api/v1/tenant/invitations': () => answer })
    renderAt('/tenant')
    const email = await screen.findByRole('textbox', { name: 'Email address' })
    await userEvent.type(email, 'lee@example.com')
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role' }), 'admin')
    await userEvent.click(screen.getByRole('button', { name: 'Send invitation' }))
    expect(await screen.findByText('Invitation sent to lee@example.com.')).toBeInTheDocument()
    const post = srv.calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({ email: 'lee@example.com', role: 'admin' })
    expect(post.headers.get('X-CSRF-Token')).toBe('csrf-123')
    expect(post.headers.get('X-Tenant-ID')).toBe('t-42')

    answer = problem(409, 'urn:bbq:problem:already-invited', 'Already invited', 'a pending invitation exists: resend it')
    await userEvent.type(email, 'sam@example.com')
    await userEvent.click(screen.getByRole('button', { name: 'Send invitation' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('Already invited: a pending invitation exists: resend it')
  })

  it('resends and revokes an invitation (revoking asks first)', async () => {
    const srv = adminServer({
      'POST /api/v1/tenant/invitations/i-1/resend': () => ({ body: invitation }),
      'DELETE /api/v1/tenant/invitations/i-1': () => ({ status: 204 }),
    })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Resend to sam@example.com' }))
    expect(await screen.findByText('Sent again, with a new link.')).toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: 'Revoke invitation of sam@example.com' }))
    const confirm = screen.getByRole('button', { name: 'Revoke' })
    expect(confirm).toHaveFocus()
    await userEvent.click(confirm)
    await waitFor(() => expect(srv.calls.some((c) => c.method === 'DELETE' && c.path === '/api/v1/tenant/invitations/i-1')).toBe(true))
  })

  it('changes a role and shows why the last admin cannot be demoted', async () => {
    const srv = adminServer({
      'PATCH /api/v1/tenant/members/u-2': () => ({ body: { ...member(2), role: 'admin' } }),
      'PATCH /api/v1/tenant/members/u-1': () =>
        problem(409, 'urn:bbq:problem:last-admin', 'Last admin', 'the last admin of a tenant can neither leave nor be demoted'),
    })
    renderAt('/tenant')
    await userEvent.selectOptions(await screen.findByRole('combobox', { name: 'Role of Member 2' }), 'admin')
    await waitFor(() => expect(srv.calls.find((c) => c.method === 'PATCH' && c.path.endsWith('/u-2'))?.body).toEqual({ role: 'admin' }))
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Role of Pat Griller' }), 'member')
    expect(await screen.findByRole('alert')).toHaveTextContent('Last admin: the last admin of a tenant can neither leave nor be demoted')
  })

  it('removes a member after confirming', async () => {
    const srv = adminServer({ 'DELETE /api/v1/tenant/members/u-2': () => ({ status: 204 }) })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Remove Member 2' }))
    const group = screen.getByRole('group', { name: /Remove Member 2 from this tenant/ })
    expect(srv.calls.some((c) => c.method === 'DELETE')).toBe(false)
    await userEvent.click(within(group).getByRole('button', { name: 'Remove' }))
    await waitFor(() => expect(srv.calls.some((c) => c.method === 'DELETE' && c.path === '/api/v1/tenant/members/u-2')).toBe(true))
  })

  it('renames the tenant, and shows a refused name with its reason', async () => {
    let name = "Pat's Smokehouse"
    adminServer({
      'GET /api/v1/tenant': () => ({ body: { ...tenant.body, displayName: name } }),
      'PATCH /api/v1/tenant': ({ body }) => {
        const want = (body as { displayName: string }).displayName
        if (want.includes('\t')) return problem(422, 'urn:bbq:problem:invalid-tenant-name', 'Invalid tenant name', 'no control characters')
        name = want
        return { body: { ...tenant.body, displayName: name } }
      },
    })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Rename' }))
    const input = screen.getByRole('textbox', { name: 'Tenant name' })
    await userEvent.clear(input)
    await userEvent.type(input, 'Bad{Tab}')
    // Tab moved focus; put a tab character in through the value instead.
    await userEvent.clear(input)
    await userEvent.paste('Bad\tName')
    await userEvent.click(screen.getByRole('button', { name: 'Save name' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('Invalid tenant name: no control characters')
    await userEvent.clear(input)
    await userEvent.type(input, 'Smoke Crew')
    await userEvent.click(screen.getByRole('button', { name: 'Save name' }))
    expect(await screen.findByRole('heading', { name: 'Smoke Crew' })).toBeInTheDocument()
  })

  it('deletes the tenant after confirming, and moves to the default tenant saying so', async () => {
    let deleted = false
    const srv = adminServer({
      'GET /api/v1/me/tenants': (req) => (deleted ? myTenants([{ ...patTenants[1], default: true }])(req) : myTenants()(req)),
      'DELETE /api/v1/tenant': () => {
        deleted = true
        return { status: 204 }
      },
      'POST /session/refresh': () => signedIn,
    })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Delete tenant' }))
    await userEvent.click(screen.getByRole('button', { name: 'Delete tenant for good' }))

    expect(await screen.findByTestId('tenant-notice')).toHaveTextContent("You deleted “Pat's Smokehouse”. You are now in “Smoke Crew”.")
    await waitFor(() => expect(srv.calls.some((c) => c.path === '/session/refresh')).toBe(true))
    await waitFor(() =>
      expect(
        srv.calls
          .filter((c) => c.path === '/api/v1/tenant')
          .at(-1)
          ?.headers.get('X-Tenant-ID'),
      ).toBe('t-7'),
    )
  })

  it('shows why the last admin cannot leave', async () => {
    adminServer({
      'POST /api/v1/tenant/leave': () =>
        problem(409, 'urn:bbq:problem:last-admin', 'Last admin', 'the last admin of a tenant can neither leave nor be demoted'),
    })
    renderAt('/tenant')
    await userEvent.click(await screen.findByRole('button', { name: 'Leave tenant' }))
    await userEvent.click(screen.getByRole('button', { name: 'Leave for good' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('Last admin: the last admin of a tenant can neither leave nor be demoted')
  })
})
