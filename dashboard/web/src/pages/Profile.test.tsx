import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { fakeServer, patProfile, signedIn, signedOut } from '../test/fakeServer'
import { renderAt } from '../test/render'

describe('Profile', () => {
  it('shows a loading state while the profile loads', async () => {
    fakeServer({ 'GET /session': () => signedIn, 'GET /api/v1/me': () => 'pending' })
    renderAt('/profile')
    expect(await screen.findByText('Loading your profile…')).toBeInTheDocument()
    expect(screen.getByRole('status')).toHaveAttribute('aria-busy', 'true')
  })

  it('shows every attribute of the profile', async () => {
    fakeServer({ 'GET /session': () => signedIn, 'GET /api/v1/me': () => ({ body: patProfile }) })
    renderAt('/profile')
    expect(await screen.findByTestId('profile-name')).toHaveTextContent('Pat Griller')
    const card = screen.getByRole('region', { name: 'Account' })
    for (const text of ['pat@example.com', 'Verified', 't-42', 'u-1', '2026']) {
      expect(within(card).getAllByText(new RegExp(text)).length).toBeGreaterThan(0)
    }
    expect(screen.getByRole('link', { name: 'Tenant' })).toBeInTheDocument() // admins get the tenant page
  })

  it('shows an error with a retry that recovers', async () => {
    let fail = true
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () =>
        fail
          ? { status: 502, body: { title: 'User service unavailable', detail: 'The profile service is not reachable.' } }
          : { body: patProfile },
    })
    renderAt('/profile')
    expect(await screen.findByRole('alert')).toHaveTextContent('The profile service is not reachable.')
    fail = false
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }))
    expect(await screen.findByTestId('profile-name')).toHaveTextContent('Pat Griller')
  })

  it('waits while the account is still pending, without a tenant, and then shows it', async () => {
    let calls = 0
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: ++calls < 2 ? { ...patProfile, status: 'pending', tenantId: '' } : patProfile }),
    })
    renderAt('/profile')
    expect(await screen.findByText(/setting up your account/i)).toBeInTheDocument()
    expect(await screen.findByTestId('tenant-id', {}, { timeout: 4000 })).toHaveTextContent('t-42')
  })

  it('waits while the account is being set up (404) and then shows it', async () => {
    let calls = 0
    fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => (++calls < 2 ? { status: 404, body: { title: 'Not Found' } } : { body: patProfile }),
    })
    renderAt('/profile')
    expect(await screen.findByText(/setting up your account/i)).toBeInTheDocument()
    expect(await screen.findByTestId('profile-name', {}, { timeout: 4000 })).toHaveTextContent('Pat Griller')
  })

  it('checks the session again when the API refuses the token, and sends a signed-out visitor home', async () => {
    let session = signedIn as { status: number; body: unknown }
    fakeServer({
      'GET /session': () => session,
      'GET /api/v1/me': () => {
        session = signedOut
        return { status: 401, body: { title: 'Unauthorized' } }
      },
    })
    renderAt('/profile')
    expect(await screen.findByRole('alert')).toHaveTextContent('Please log in to continue.')
  })

  it('edits the name with the CSRF token and shows the result', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'PATCH /api/v1/me': ({ body }) => ({ body: { ...patProfile, name: (body as { name: string }).name } }),
    })
    renderAt('/profile')
    await userEvent.click(await screen.findByRole('button', { name: 'Edit name' }))
    const input = screen.getByRole('textbox', { name: 'Name' })
    expect(input).toHaveFocus()
    await userEvent.clear(input)
    await userEvent.type(input, '  Sam Smoker  {Enter}')
    expect(await screen.findByTestId('profile-name')).toHaveTextContent('Sam Smoker')
    expect(screen.getByText('Name updated.')).toBeInTheDocument()
    const patch = srv.calls.find((c) => c.method === 'PATCH')!
    expect(patch.body).toEqual({ name: 'Sam Smoker' })
    expect(patch.headers.get('X-CSRF-Token')).toBe('csrf-123')
  })

  it('refuses an empty name without calling the API, and reports a failed save', async () => {
    const srv = fakeServer({
      'GET /session': () => signedIn,
      'GET /api/v1/me': () => ({ body: patProfile }),
      'PATCH /api/v1/me': () => ({
        status: 403,
        body: { title: 'CSRF check failed', detail: 'The request did not come from this dashboard.' },
      }),
    })
    renderAt('/profile')
    await userEvent.click(await screen.findByRole('button', { name: 'Edit name' }))
    const input = screen.getByRole('textbox', { name: 'Name' })
    await userEvent.clear(input)
    await userEvent.click(screen.getByRole('button', { name: 'Save' }))
    expect(screen.getByRole('alert')).toHaveTextContent('Enter your name.')
    expect(input).toHaveAttribute('aria-invalid', 'true')
    expect(srv.calls.some((c) => c.method === 'PATCH')).toBe(false)
    await userEvent.type(input, 'Sam')
    await userEvent.click(screen.getByRole('button', { name: 'Save' }))
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('did not come from this dashboard'))
  })

  it('has a log out form that posts the CSRF token', async () => {
    fakeServer({ 'GET /session': () => signedIn, 'GET /api/v1/me': () => ({ body: patProfile }) })
    const { container } = renderAt('/profile')
    await screen.findByTestId('profile-name')
    const form = container.querySelector('form[action="/logout"]')!
    expect(form).toHaveAttribute('method', 'post')
    expect(form.querySelector('input[name="csrf_token"]')).toHaveValue('csrf-123')
    expect(within(form as HTMLElement).getByRole('button', { name: 'Log out' })).toBeInTheDocument()
  })
})
