// The browser's view of the dashboard server. Tokens never reach this code: the server keeps them in an
// encrypted HttpOnly cookie and adds them when it proxies /api to user-service. State-changing calls carry
// the session's CSRF token; every API call names the active tenant (X-Tenant-ID) once one is chosen.
import type { components, operations } from './api.gen'

// user-service's JSON, generated from services/user-service/api/openapi.yaml (npm run gen:api).
export type Profile = components['schemas']['Profile']
export type Tenant = components['schemas']['Tenant']
export type MyTenant = components['schemas']['MyTenant']
export type Invitation = components['schemas']['Invitation']
export type InvitationStatus = components['schemas']['InvitationStatus']
export type InvitationPreview = components['schemas']['InvitationPreview']
export type Problem = components['schemas']['Problem']
export type MembersPage = operations['listMembers']['responses']['200']['content']['application/json']
type NameChange = operations['updateMe']['requestBody']['content']['application/json']
type TenantRename = operations['renameTenant']['requestBody']['content']['application/json']
type NewInvitation = operations['createInvitation']['requestBody']['content']['application/json']

/** user-service's problem types the dashboard acts on (the rest are shown as they come). */
export const problems = {
  notAMember: 'urn:bbq:problem:not-a-member',
  notActiveYet: 'urn:bbq:problem:not-active-yet',
} as const

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
  readonly type: string
  constructor(status: number, title: string, detail?: string, type = '') {
    super(detail || title)
    this.status = status
    this.title = title
    this.type = type
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
    throw new ApiError(resp.status, p.title || resp.statusText || 'Request failed', p.detail, p.type)
  }
  return body as T
}

/**
 * The session: the first time, as the server put it into the page (saving the first render a round trip),
 * afterwards /session's answer. The dev server's page has none: then /session from the start.
 */
export function getSession(): Promise<SessionInfo> {
  const inline = document.getElementById('bbq-session')
  if (inline) {
    inline.remove()
    try {
      return Promise.resolve(JSON.parse(inline.textContent ?? '') as SessionInfo)
    } catch {
      // not readable: ask the server
    }
  }
  return request<SessionInfo>('/session')
}

export class Api {
  constructor(
    private readonly csrfToken: string,
    /** The active tenant sent as X-Tenant-ID; empty: the token's tenant claim. */
    readonly tenantId = '',
  ) {}

  private get<T>(path: string): Promise<T> {
    return request<T>(path, { headers: this.tenantId ? { 'X-Tenant-ID': this.tenantId } : {} })
  }

  private send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'X-CSRF-Token': this.csrfToken }
    if (this.tenantId) headers['X-Tenant-ID'] = this.tenantId
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    return request<T>(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  }

  /** The same calls for another active tenant. */
  forTenant(tenantId: string): Api {
    return new Api(this.csrfToken, tenantId)
  }

  /** Renews the session's tokens on the server, so that they carry the claims Keycloak holds now. */
  refreshSession(): Promise<SessionInfo> {
    return this.send<SessionInfo>('POST', '/session/refresh')
  }

  me(): Promise<Profile> {
    return this.get<Profile>('/api/v1/me')
  }

  updateName(name: string): Promise<Profile> {
    const change: NameChange = { name }
    return this.send<Profile>('PATCH', '/api/v1/me', change)
  }

  myTenants(): Promise<MyTenant[]> {
    return this.get<{ tenants: MyTenant[] }>('/api/v1/me/tenants').then((r) => r.tenants)
  }

  switchDefaultTenant(tenantId: string): Promise<Profile> {
    return this.send<Profile>('PUT', '/api/v1/me/default-tenant', { tenantId })
  }

  tenant(): Promise<Tenant> {
    return this.get<Tenant>('/api/v1/tenant')
  }

  renameTenant(displayName: string): Promise<Tenant> {
    const change: TenantRename = { displayName }
    return this.send<Tenant>('PATCH', '/api/v1/tenant', change)
  }

  deleteTenant(): Promise<void> {
    return this.send<void>('DELETE', '/api/v1/tenant')
  }

  leaveTenant(): Promise<void> {
    return this.send<void>('POST', '/api/v1/tenant/leave')
  }

  members(pageSize: number, pageToken = ''): Promise<MembersPage> {
    const q = new URLSearchParams({ pageSize: String(pageSize) })
    if (pageToken) q.set('pageToken', pageToken)
    return this.get<MembersPage>(`/api/v1/tenant/members?${q}`)
  }

  changeRole(userId: string, role: string): Promise<Profile> {
    return this.send<Profile>('PATCH', `/api/v1/tenant/members/${encodeURIComponent(userId)}`, { role })
  }

  removeMember(userId: string): Promise<void> {
    return this.send<void>('DELETE', `/api/v1/tenant/members/${encodeURIComponent(userId)}`)
  }

  invitations(status?: InvitationStatus): Promise<Invitation[]> {
    const q = status ? `?status=${status}` : ''
    return this.get<{ invitations: Invitation[] }>(`/api/v1/tenant/invitations${q}`).then((r) => r.invitations)
  }

  invite(email: string, role: string): Promise<Invitation> {
    const inv: NewInvitation = { email, role }
    return this.send<Invitation>('POST', '/api/v1/tenant/invitations', inv)
  }

  resendInvitation(id: string): Promise<Invitation> {
    return this.send<Invitation>('POST', `/api/v1/tenant/invitations/${encodeURIComponent(id)}/resend`)
  }

  revokeInvitation(id: string): Promise<void> {
    return this.send<void>('DELETE', `/api/v1/tenant/invitations/${encodeURIComponent(id)}`)
  }

  previewInvitation(token: string): Promise<InvitationPreview> {
    return this.get<InvitationPreview>(`/api/v1/invitations/${encodeURIComponent(token)}`)
  }

  acceptInvitation(token: string): Promise<MyTenant> {
    return this.send<MyTenant>('POST', `/api/v1/invitations/${encodeURIComponent(token)}/accept`)
  }
}
