import axe from 'axe-core'

/** axe on a rendered page: no serious or critical violation (jsdom has no layout: colour contrast is left to the e2e). */
export async function expectAccessible(container: Element) {
  const { violations } = await axe.run(container, { rules: { 'color-contrast': { enabled: false }, region: { enabled: false } } })
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  if (bad.length) throw new Error(`axe: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.html).join(' | ')}`).join('; ')}`)
}
