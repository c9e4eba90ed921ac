import { vi } from 'vitest'

// A stand-in for the dashboard server's HTTP answers in component tests (jsdom has no server to talk to;
// the real server is tested in Go and end to end in Chromium). Each route maps to a handler; calls are kept.
export type Handler = (req: {
  method: string
  url: URL
  body: unknown
  headers: Headers
}) => { status?: number; body?: unknown } | Promise<{ status?: number; body?: unknown }> | 'pending'

export function fakeServer(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; search: string; headers: Headers; body: unknown }[] = []
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : input, 'http://localhost')
    const method = (init.method ?? 'GET').toUpperCase()
    const headers = new Headers(init.headers)
    const body: unknown = typeof init.body === 'string' ? JSON.parse(init.body) : undefined
    calls.push({ method, path: url.pathname, search: url.search, headers, body })
    const handler = routes[`${method} ${url.pathname}`]
    if (!handler) return json(404, { title: 'Not Found', status: 404 })
    const res = await handler({ method, url, body, headers })
    if (res === 'pending') return new Promise<Response>(() => {})
    return json(res.status ?? 200, res.body ?? {})
  })
  vi.stubGlobal('fetch', fetchMock)
  return { calls }
}

function json(status: number, body: unknown): Response {
  if (status === 204) return new Response(null, { status })
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

export const signedIn = {
  status: 200,
  body: { authenticated: true, csrfToken: 'csrf-123', user: { id: 'u-1', email: 'pat@example.com', name: 'Pat Griller' } },
}
export const signedOut = { status: 200, body: { authenticated: false } }
// Shaped like user-service's profile (services/user-service/api/openapi.yaml).
export const patProfile = {
  userId: 'u-1',
  name: 'Pat Griller',
  email: 'pat@example.com',
  emailVerified: true,
  status: 'active',
  tenantId: 't-42',
  role: 'admin',
  memberSince: '2026-03-01T10:00:00Z',
}

// Shaped like user-service's MyTenant: Pat's own tenant (admin, the default) and a shared one (member).
export const patTenants = [
  {
    id: 't-42',
    displayName: "Pat's Smokehouse",
    kind: 'personal',
    suspended: false,
    role: 'admin',
    joinedAt: '2026-03-01T10:00:00Z',
    default: true,
    active: true,
  },
  {
    id: 't-7',
    displayName: 'Smoke Crew',
    kind: 'personal',
    suspended: false,
    role: 'member',
    joinedAt: '2026-04-01T10:00:00Z',
    default: false,
    active: false,
  },
]

/** GET /api/v1/me/tenants as user-service answers it: `active` follows X-Tenant-ID, else the default. */
export function myTenants(list: typeof patTenants = patTenants): Handler {
  return ({ headers }) => {
    const want = headers.get('X-Tenant-ID')
    return { body: { tenants: list.map((t) => ({ ...t, active: want ? t.id === want : t.default })) } }
  }
}
