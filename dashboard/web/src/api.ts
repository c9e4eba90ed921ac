// The browser's view of the dashboard server. Tokens never reach this code: the server keeps them in an
// encrypted HttpOnly cookie and adds them when it proxies /api to user-service. State-changing calls carry
// the session's CSRF token.

export interface SessionInfo {
  authenticated: boolean
  csrfToken?: string
  user?: { id: string; email?: string; name?: string }
}

export interface Profile {
  id: string
  name: string
  email: string
  emailVerified: boolean
  tenantId: string
  tenantName?: string
  role: string
  memberSince?: string
  status?: string
}

export interface Tenant {
  id: string
  name: string
  memberCount?: number
  createdAt?: string
}

export interface Member {
  id: string
  name: string
  email: string
  role: string
  joinedAt?: string
}

export interface MembersPage {
  members: Member[]
  nextPageToken: string
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

type Json = Record<string, unknown>

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '')
const first = (o: Json, ...keys: string[]): string => {
  for (const k of keys) {
    const v = str(o[k])
    if (v) return v
  }
  return ''
}

// user-service's JSON (services/user-service/api/openapi.yaml): profiles are {userId, email, name,
// emailVerified, status, tenantId, role, memberSince}; a few alternative names are accepted as well.
export function toProfile(o: Json): Profile {
  const tenant = (typeof o.tenant === 'object' && o.tenant !== null ? o.tenant : {}) as Json
  return {
    id: first(o, 'id', 'userId', 'sub'),
    name: first(o, 'name', 'displayName'),
    email: first(o, 'email'),
    emailVerified: Boolean(o.emailVerified ?? o.verified ?? o.email_verified),
    tenantId: first(o, 'tenantId') || first(tenant, 'id') || str(o.tenant),
    tenantName: first(o, 'tenantName') || first(tenant, 'name', 'displayName') || undefined,
    role: first(o, 'role') || 'member',
    memberSince: first(o, 'memberSince', 'createdAt', 'activatedAt') || undefined,
    status: first(o, 'status') || undefined,
  }
}

export function toTenant(o: Json): Tenant {
  return {
    id: first(o, 'id', 'tenantId'),
    name: first(o, 'displayName', 'name'),
    memberCount: typeof o.members === 'number' ? o.members : undefined,
    createdAt: first(o, 'createdAt') || undefined,
  }
}

export function toMembersPage(o: Json): MembersPage {
  const list = (Array.isArray(o.members) ? o.members : Array.isArray(o.items) ? o.items : []) as Json[]
  return {
    members: list.map((m) => ({
      id: first(m, 'id', 'userId'),
      name: first(m, 'name', 'displayName'),
      email: first(m, 'email'),
      role: first(m, 'role') || 'member',
      joinedAt: first(m, 'joinedAt', 'createdAt', 'memberSince') || undefined,
    })),
    nextPageToken: first(o, 'nextPageToken', 'next_page_token'),
  }
}

async function request(path: string, init: RequestInit = {}): Promise<Json> {
  let resp: Response
  try {
    resp = await fetch(path, { credentials: 'same-origin', ...init, headers: { Accept: 'application/json', ...init.headers } })
  } catch {
    throw new ApiError(0, 'Network error', 'We could not reach the server. Check your connection and try again.')
  }
  const body = (await resp.json().catch(() => ({}))) as Json
  if (!resp.ok) {
    throw new ApiError(resp.status, str(body.title) || resp.statusText || 'Request failed', str(body.detail))
  }
  return body
}

export async function getSession(): Promise<SessionInfo> {
  return (await request('/session')) as unknown as SessionInfo
}

export class Api {
  constructor(private readonly csrfToken: string) {}

  async me(): Promise<Profile> {
    return toProfile(await request('/api/v1/me'))
  }

  async updateName(name: string): Promise<Profile> {
    const body = await request('/api/v1/me', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': this.csrfToken },
      body: JSON.stringify({ name }),
    })
    return toProfile(body)
  }

  async tenant(): Promise<Tenant> {
    return toTenant(await request('/api/v1/tenant'))
  }

  async members(pageSize: number, pageToken = ''): Promise<MembersPage> {
    const q = new URLSearchParams({ pageSize: String(pageSize) })
    if (pageToken) q.set('pageToken', pageToken)
    return toMembersPage(await request(`/api/v1/tenant/members?${q}`))
  }
}
