// The latency a person feels, in Chromium (make bench, stage "feel"; started by test/bench/browser.go against
// the local system it runs on free ports). Each person signs up on Keycloak's page from the dashboard's landing
// page; timed: from opening the verification link to the dashboard showing the tenant, less the time the
// person spends typing a password where Keycloak asks for one. Pairs of people then share a tenant: A invites B
// on the tenant page, B opens the link; timed: from clicking "Join" to the shared tenant on the page.
// Prints progress on stderr and one line `FEEL_RESULT {"Verify":[ms...],"Dashboard":[ms...],"Invite":[ms...]}`
// on stdout (Dashboard: of Verify, the part from the dashboard's /profile to the tenant on the page).
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { waitForLink } from '../../dashboard/web/e2e/mail.mjs'

const root = process.env.FEEL_ROOT
const { chromium } = createRequire(join(root, 'dashboard/web/package.json'))('playwright-core')
const env = { DASHBOARD_URL: process.env.DASHBOARD_URL, MAIL_DIR: process.env.MAIL_DIR }
const base = env.DASHBOARD_URL
const N = Number(process.env.FEEL_N || 50)
const INVITES = Number(process.env.FEEL_INVITES || 0)
const PASSWORD = 'Smoky-Ribs-2026!'
const log = (s) => process.stderr.write(`feel (chromium): ${s}\n`)

async function signUp(page, email) {
  await page.goto(base + '/')
  await page.getByRole('link', { name: 'Sign up' }).click()
  await page.locator('#email').waitFor()
  await page.fill('#email', email)
  await page.fill('#firstName', 'Bench Griller')
  if (await page.locator('#password').count()) {
    await page.fill('#password', PASSWORD)
    await page.fill('#password-confirm', PASSWORD)
  }
  await page.locator('form#kc-register-form [type=submit]').click()
  await page.waitForURL(/login-actions/)
}

/**
 * shown waits until the element with data-testid `id` has text, other than '—' and containing `part`, checked
 * on every animation frame: a locator's waitFor polls at intervals of up to 100 ms, time the person would not
 * wait but the measurement counted.
 */
async function shown(page, id, part = '') {
  await page.waitForFunction(
    ([id, part]) => {
      const text = document.querySelector(`[data-testid="${id}"]`)?.textContent.trim() ?? ''
      return text !== '' && text !== '—' && text.includes(part)
    },
    [id, part],
    { polling: 'raf', timeout: 60_000 },
  )
}

/** tracer logs, with FEEL_TRACE set, the page's navigations and requests in ms from its start (for profiling). */
function tracer(page, email) {
  const t0 = performance.now()
  const lines = []
  const at = (what) => lines.push(`${(performance.now() - t0).toFixed(0)} ${what}`)
  if (process.env.FEEL_TRACE) {
    page.on('request', (r) => at(`> ${r.method()} ${r.url().slice(0, 110)}`))
    page.on('requestfinished', (r) => at(`< ${r.url().slice(0, 110)}`))
    page.on('framenavigated', (f) => f === page.mainFrame() && at(`navigated ${f.url().slice(0, 110)}`))
  }
  return {
    mark: (what) => process.env.FEEL_TRACE && at(what),
    done: () => process.env.FEEL_TRACE && log(`trace of ${email}:\n  ${lines.join('\n  ')}`),
  }
}

/**
 * verify opens the mailed link and goes on to the profile's tenant; it returns the felt milliseconds and, of
 * them, those from the dashboard's /profile (Keycloak and the code exchange done) to the tenant on the page.
 */
async function verify(page, email) {
  const link = await waitForLink(env, email, /action-token|verify/i)
  const trace = tracer(page, email)
  let felt = 0
  let t0 = performance.now()
  // 'commit': the loop below looks for the password form from the moment the page starts, as a person sees it
  // drawn; waiting for its load event (fonts, background image) counted time nobody waits for.
  await page.goto(link, { waitUntil: 'commit' })
  const deadline = Date.now() + 60_000
  while (!page.url().startsWith(`${base}/profile`)) {
    if (Date.now() > deadline) throw new Error(`stuck on ${page.url()}`)
    if (await page.locator('#password-new').isVisible().catch(() => false)) {
      felt += performance.now() - t0 // the person types now: not the system's time
      trace.mark('typing the password (not counted)')
      await page.fill('#password-new', PASSWORD)
      await page.fill('#password-confirm', PASSWORD)
      t0 = performance.now()
      await page.locator('form [type=submit]').first().click()
      await page.waitForLoadState()
      continue
    }
    const proceed = page.getByRole('link', { name: /proceed|back to application/i })
    if (await proceed.isVisible().catch(() => false)) {
      await proceed.click()
      await page.waitForLoadState()
      continue
    }
    await page.waitForTimeout(10)
  }
  const onProfile = performance.now()
  await shown(page, 'tenant-id')
  const end = performance.now()
  trace.mark(`the tenant is on the page; felt ${(felt + end - t0).toFixed(0)} ms`)
  trace.done()
  return { felt: felt + end - t0, dashboard: end - onProfile }
}

/** share: A invites B on the tenant page; B opens the mailed link; timed from B's click on Join. */
async function share(a, b, emailB) {
  await a.goto(`${base}/tenant`)
  await a.getByRole('textbox', { name: 'Email address', exact: true }).fill(emailB)
  await a.getByRole('combobox', { name: 'Role', exact: true }).selectOption('member')
  await a.getByRole('button', { name: 'Send invitation' }).click()
  await a.getByText(`Invitation sent to ${emailB}.`).waitFor()
  const link = await waitForLink(env, emailB, /\/invitations\/accept\?token=/)
  await b.goto(link)
  const join = b.getByRole('button', { name: /^Join “/ })
  await join.waitFor({ timeout: 60_000 })
  const t0 = performance.now()
  await join.click()
  await shown(b, 'tenant-notice', 'You joined')
  return performance.now() - t0
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  })
  const result = { Verify: [], Dashboard: [], Invite: [] }
  const stamp = Date.now().toString(36)
  let waiting = null // the first of a pair, until the second signs up
  try {
    for (let i = 0; i < N; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      const page = await context.newPage()
      page.setDefaultTimeout(30_000)
      const email = `chromium${String(i).padStart(3, '0')}-${stamp}@example.com`
      await signUp(page, email)
      const v = await verify(page, email)
      result.Verify.push(v.felt)
      result.Dashboard.push(v.dashboard)
      if ((i + 1) % 10 === 0) log(`${i + 1}/${N} sign-ups, last ${result.Verify.at(-1).toFixed(0)} ms`)
      if (result.Invite.length < INVITES && !waiting) {
        waiting = { context, page }
        continue
      }
      if (waiting) {
        result.Invite.push(await share(waiting.page, page, email))
        await waiting.context.close()
        waiting = null
      }
      await context.close()
    }
  } finally {
    await browser.close()
  }
  process.stdout.write(`FEEL_RESULT ${JSON.stringify(result)}\n`)
}

main().catch((e) => {
  log(`FAILED: ${e.message}`)
  process.exit(1)
})
