// The browser's view of the dashboard server. Tokens never reach this code: the server keeps them in an
// encrypted HttpOnly cookie and adds them when it proxies /api to user-service. State-changing calls carry
// the session's CSRF token.
import type { components, operations } from './api.gen'

// user-service's JSON, generated from services/user-service/api/openapi.yaml (npm run gen:api).
export type Profile = components['schemas']['Profile']
export type Tenant = components['schemas']['Tenant']
export type Problem = components['schemas']['Problem']
export type MembersPage = operations['listMembers']['responses']['200']['content']['application/json']
type NameChange = operations['updateMe']['requestBody']['content']['application/json']

/** The dashboard server's own /session answer (dashboard/internal/server). */
export interface SessionInfo {
  authenticated: boolean
  csrfToken?: string
  user?: { id: string; email?: string; name?: string }
}

/** An error answer of the API (RFC 9457 problem details) or of the network. */
export class ApiError extends Error {
  readonly status: number
  readonly title: string
  constructor(status: number, title: string, detail?: string) {
    super(detail || title)
    this.status = status
    this.title = title
  }
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let resp: Response
  try {
    resp = await fetch(path, { credentials: 'same-origin', ...init, headers: { Accept: 'application/json', ...init.headers } })
  } catch {
    throw new ApiError(0, 'Network error', 'We could not reach the server. Check your connection and try again.')
  }
  const body: unknown = await resp.json().catch(() => ({}))
  if (!resp.ok) {
    const p = (typeof body === 'object' && body !== null ? body : {}) as Partial<Problem>
    throw new ApiError(resp.status, p.title || resp.statusText || 'Request failed', p.detail)
  }
  return body as T
}

export function getSession(): Promise<SessionInfo> {
  return request<SessionInfo>('/session')
}

export class Api {
  constructor(private readonly csrfToken: string) {}

  me(): Promise<Profile> {
    return request<Profile>('/api/v1/me')
  }

  updateName(name: string): Promise<Profile> {
    const change: NameChange = { name }
    return request<Profile>('/api/v1/me', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': this.csrfToken },
      body: JSON.stringify(change),
    })
  }

  tenant(): Promise<Tenant> {
    return request<Tenant>('/api/v1/tenant')
  }

  members(pageSize: number, pageToken = ''): Promise<MembersPage> {
    const q = new URLSearchParams({ pageSize: String(pageSize) })
    if (pageToken) q.set('pageToken', pageToken)
    return request<MembersPage>(`/api/v1/tenant/members?${q}`)
  }
}
