import { afterEach, describe, expect, it, vi } from 'vitest'
import { getSession } from './api'

function inline(text: string) {
  const el = document.createElement('script')
  el.id = 'bbq-session'
  el.type = 'application/json'
  el.textContent = text
  document.head.append(el)
}

describe('getSession', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    document.getElementById('bbq-session')?.remove()
  })

  it('reads the session the page carries once, then asks /session', async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response(JSON.stringify({ authenticated: false }), { status: 200 })))
    vi.stubGlobal('fetch', fetch)
    inline('{"authenticated":true,"csrfToken":"c","user":{"id":"u"}}')
    expect(await getSession()).toEqual({ authenticated: true, csrfToken: 'c', user: { id: 'u' } })
    expect(fetch).not.toHaveBeenCalled()
    expect(await getSession()).toEqual({ authenticated: false })
    expect(fetch).toHaveBeenCalledWith('/session', expect.anything())
  })

  it('asks /session when the page carries none, or one it cannot read', async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response(JSON.stringify({ authenticated: false }), { status: 200 })))
    vi.stubGlobal('fetch', fetch)
    expect(await getSession()).toEqual({ authenticated: false })
    inline('{not json')
    expect(await getSession()).toEqual({ authenticated: false })
    expect(fetch).toHaveBeenCalledTimes(2)
  })
})
