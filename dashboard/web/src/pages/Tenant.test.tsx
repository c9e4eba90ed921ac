import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { fakeServer, patProfile, signedIn } from '../test/fakeServer'
import { renderAt } from '../test/render'

const tenant = { body: { id: 't-42', displayName: "Pat's Smokehouse", kind: 'personal', suspended: false, members: 11 } }
const member = (i: number) => ({
  userId: `u-${i}`,
  name: `Member ${i}`,
  email: `m${i}@example.com`,
  role: i === 1 ? 'admin' : 'member',
  memberSince: '2026-03-01T10:00:00Z',
})

describe('Tenant', () => {
  it('lists members and pages forward and back with opaque tokens', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/tenant': () => tenant,
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
  })

  it('shows an empty state', async () => {
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/tenant': () => tenant,
      'GET /api/v1/tenant/members': () => ({ body: { members: [], nextPageToken: '' } }),
    })
    renderAt('/tenant')
    expect(await screen.findByText('No members yet')).toBeInTheDocument()
  })

  it('shows an error and retries', async () => {
    let fail = true
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'GET /api/v1/tenant': () => tenant,
      'GET /api/v1/tenant/members': () =>
        fail ? { status: 500, body: { title: 'Internal', detail: 'Boom.' } } : { body: { members: [member(1)] } },
    })
    renderAt('/tenant')
    expect(await screen.findByRole('alert')).toHaveTextContent('Boom.')
    fail = false
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }))
    expect(await screen.findByText('m1@example.com')).toBeInTheDocument()
  })

  it('is closed to members who are not admins, without calling the admin API', async () => {
    const srv = fakeServer({ 'GET /session': () => signedIn, 'GET /api/v1/me': () => ({ body: { ...patProfile, role: 'member' } }) })
    renderAt('/tenant')
    expect(await screen.findByText('Only tenant admins can see this page')).toBeInTheDocument()
    expect(screen.queryByRole('link', { name: 'Tenant' })).not.toBeInTheDocument()
    await waitFor(() => expect(srv.calls.some((c) => c.path.startsWith('/api/v1/tenant'))).toBe(false))
  })
})
