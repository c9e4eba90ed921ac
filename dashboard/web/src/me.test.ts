import { describe, expect, it } from 'vitest'
import { pollDelay } from './me'

describe('pollDelay', () => {
  it('looks again quickly at first, then every 2 s', () => {
    expect([0, 1, 2, 3, 4, 5, 29].map((n) => pollDelay(n, 250, 2000))).toEqual([250, 250, 500, 1000, 2000, 2000, 2000])
  })

  it('spans about a minute over 30 looks', () => {
    const total = Array.from({ length: 30 }, (_, n) => pollDelay(n, 250, 2000)).reduce((a, b) => a + b, 0)
    expect(total).toBeGreaterThan(50_000)
    expect(total).toBeLessThan(60_000)
  })
})
