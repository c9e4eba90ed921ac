// The browser journey against the real local stack, in Debian's Chromium driven by playwright-core:
// sign up on Keycloak's page, follow the verification mail, see the profile with its tenant, edit the name
// (checked after a reload and in Keycloak's admin API), visit the tenant page, follow login links whose
// returnTo points off the site (and stay on it), share the tenant (e2e/tenancy.mjs: invitations, roles,
// rename, removal, leaving, the switcher), log out, and be refused the profile. Every page is
// screenshotted into the output folder and checked with axe.
//
//   node e2e/journey.mjs       (E2E_OUT=folder for screenshots, E2E_RUN_ENV=run.env of a running stack)
import AxeBuilder from '@axe-core/playwright'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { waitForLink } from './mail.mjs'
import { startStack } from './stack.mjs'
import { tenancyJourney } from './tenancy.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '../../..')
const outDir = resolve(process.env.E2E_OUT || join(here, '..', 'e2e-out', new Date().toISOString().replace(/[:.]/g, '-')))
mkdirSync(outDir, { recursive: true })

const results = []
const axeReport = {}
const PASSWORD = 'Smoky-Ribs-2026!'
let shot = 0
let currentPage

async function step(name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    results.push({ name, ok: true })
    console.log(`e2e: ok   ${name} (${Date.now() - t0} ms)`)
  } catch (e) {
    results.push({ name, ok: false, error: e.message })
    console.log(`e2e: FAIL ${name}: ${e.message}`)
    if (currentPage) {
      await capture(currentPage, 'FAILED').catch(() => {})
      // CI keeps only the log: say where the page was and what it showed.
      const text = await currentPage.innerText('body', { timeout: 2_000 }).catch((err) => `(no text: ${err.message})`)
      console.log(`e2e: the page was ${currentPage.url()}, showing: ${text.replace(/\s+/g, ' ').slice(0, 600)}`)
    }
    throw e
  }
}

async function capture(page, name) {
  shot++
  await page.screenshot({ path: join(outDir, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true })
}

/** axe on one page; ours must have no serious or critical violation, Keycloak's own pages are reported only. */
async function axe(page, name, { ours = true } = {}) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze()
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  axeReport[name] = violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }))
  if (bad.length && ours) throw new Error(`axe on ${name}: ${bad.map((v) => `${v.id} (${v.impact})`).join(', ')}`)
  if (bad.length) console.log(`e2e: note: axe on Keycloak's ${name}: ${bad.map((v) => v.id).join(', ')}`)
}

async function keycloakAdminUser(env, email) {
  const base = env.KEYCLOAK_URL
  const form = new URLSearchParams({
    grant_type: 'password',
    client_id: 'admin-cli',
    username: env.KEYCLOAK_ADMIN_USER || env.KC_BOOTSTRAP_ADMIN_USERNAME || 'admin',
    password: env.KEYCLOAK_ADMIN_PASSWORD || env.KC_BOOTSTRAP_ADMIN_PASSWORD || 'admin',
  })
  const tok = await (await fetch(`${base}/realms/master/protocol/openid-connect/token`, { method: 'POST', body: form })).json()
  if (!tok.access_token) throw new Error(`Keycloak admin token: ${JSON.stringify(tok)}`)
  const resp = await fetch(`${base}/admin/realms/${env.KEYCLOAK_REALM}/users?exact=true&email=${encodeURIComponent(email)}`, {
    headers: { Authorization: `Bearer ${tok.access_token}` },
  })
  const users = await resp.json()
  if (!Array.isArray(users) || users.length !== 1) throw new Error(`Keycloak admin API: ${resp.status} ${JSON.stringify(users)}`)
  return users[0]
}

async function eventually(what, fn, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    try {
      return await fn()
    } catch (e) {
      last = e
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  throw new Error(`${what}: ${last?.message}`)
}

/** signUp fills Keycloak's registration form, reached from the landing page's Sign up button. */
async function signUp(page, email, name, { shots = false, link = 'Sign up' } = {}) {
  await page.getByRole('link', { name: link }).click()
  await page.waitForURL(/\/auth\/realms\/.+\/(registrations|login-actions\/registration)/)
  await page.locator('#email').waitFor()
  if (shots) {
    await capture(page, 'keycloak-register')
    await axe(page, 'keycloak-register', { ours: false })
  }
  await page.fill('#email', email)
  await page.fill('#firstName', name)
  // Keycloak 26.7 can ask for the password only after the email is verified (RegistrationPassword config).
  if (await page.locator('#password').count()) {
    await page.fill('#password', PASSWORD)
    await page.fill('#password-confirm', PASSWORD)
  }
  await page.locator('form#kc-register-form [type=submit]').click()
  await page.waitForURL(/login-actions/)
  if (shots) await capture(page, 'keycloak-verify-email')
}

/**
 * followVerification opens the mailed link in the same browser and goes on until the dashboard's page `landing`
 * (where the login's returnTo leads). Where Keycloak asks for the password only now, it must not tell a new
 * person to "change" a password they never had.
 */
async function followVerification(page, env, email, { shots = false, landing = '/profile' } = {}) {
  const base = env.DASHBOARD_URL
  const link = await waitForLink(env, email, /action-token|verify/i)
  await page.goto(link)
  // Then Keycloak goes on to the app, or first asks for the password, or shows a "proceed" link.
  const deadline = Date.now() + 60_000
  while (!page.url().startsWith(`${base}${landing}`)) {
    if (Date.now() > deadline) throw new Error(`stuck on ${page.url()}`)
    const proceed = page.getByRole('link', { name: /proceed|back to application/i })
    if (
      await page
        .locator('#password-new')
        .isVisible()
        .catch(() => false)
    ) {
      if (shots) await capture(page, 'keycloak-set-password')
      const text = await page.locator('body').innerText()
      if (/change your password/i.test(text)) throw new Error(`a new person is told to change a password: ${text.slice(0, 300)}`)
      await page.fill('#password-new', PASSWORD)
      await page.fill('#password-confirm', PASSWORD)
      await page.locator('form [type=submit]').first().click()
      await page.waitForLoadState()
    } else if (await proceed.isVisible().catch(() => false)) {
      await proceed.click()
      await page.waitForLoadState()
    } else {
      await page.waitForTimeout(300)
    }
  }
}

async function main() {
  let stack
  await step('start the local stack', async () => {
    stack = await startStack(repoRoot, outDir)
  })
  const { env, stop } = stack
  const base = env.DASHBOARD_URL
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  const email = `griller-${Date.now()}@example.com`
  let tenant1 = ''
  const newName = `Pat Pitmaster ${Math.floor(Math.random() * 1000)}`
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const page = await context.newPage()
    currentPage = page
    page.setDefaultTimeout(30_000)

    await step('landing page', async () => {
      await page.goto(base + '/')
      await page.getByRole('heading', { level: 1 }).waitFor()
      await capture(page, 'landing')
      await axe(page, 'landing')
    })

    await step('sign up on the Keycloak page', () => signUp(page, email, 'Pat Griller', { shots: true }))
    await step('follow the verification mail', () => followVerification(page, env, email, { shots: true }))

    await step('profile shows the tenant', async () => {
      await page.getByTestId('tenant-id').filter({ hasNotText: '—' }).waitFor({ timeout: 60_000 })
      tenant1 = await page.getByTestId('tenant-id').textContent()
      await page.getByText(email).first().waitFor()
      await page.getByText('Verified', { exact: true }).waitFor()
      await capture(page, 'profile')
      await axe(page, 'profile')
    })

    await step('edit the name, reload, and see it', async () => {
      await page.getByRole('button', { name: 'Edit name' }).click()
      await page.getByRole('textbox', { name: 'Name' }).fill(newName)
      await page.getByRole('button', { name: 'Save' }).click()
      await page.getByText('Name updated.').waitFor()
      await page.reload()
      await page.getByTestId('profile-name').filter({ hasText: newName }).waitFor()
      await capture(page, 'profile-renamed')
    })

    await step("the new name is in Keycloak's admin API", async () => {
      await eventually('Keycloak user name', async () => {
        const u = await keycloakAdminUser(env, email)
        const kcName = [u.firstName, u.lastName].filter(Boolean).join(' ')
        if (u.firstName !== newName && kcName !== newName) throw new Error(`Keycloak has ${JSON.stringify(kcName)}`)
      })
    })

    await step('profile on a phone', async () => {
      await page.setViewportSize({ width: 390, height: 844 })
      await capture(page, 'profile-phone')
      await axe(page, 'profile-phone')
      await page.setViewportSize({ width: 1280, height: 800 })
    })

    await step('tenant page lists the member', async () => {
      await page.getByRole('link', { name: 'Tenant' }).click()
      await page.waitForURL(`${base}/tenant`)
      await page.getByRole('table').getByText(email).waitFor()
      await capture(page, 'tenant')
      await axe(page, 'tenant')
    })

    await step('a login link with a hostile returnTo stays on the site', async () => {
      // Chromium strips tabs and newlines and reads \ as /, so each of these once led to //evil.example/.
      const offSite = []
      const evil = (url) => url.hostname === 'evil.example' || url.hostname.endsWith('.evil.example')
      await context.route(evil, (route) => {
        offSite.push(route.request().url())
        return route.abort()
      })
      try {
        for (const returnTo of ['/%09/evil.example/', '/%5Cevil.example/', '/%0A/evil.example/', '%2F%2Fevil.example%2F']) {
          // Signed in at Keycloak already: the login comes straight back through /login/callback.
          await page.goto(`${base}/login?returnTo=${returnTo}`).catch((e) => {
            throw new Error(`returnTo=${returnTo}: ${e.message} (off-site requests: ${offSite.join(', ') || 'none'})`)
          })
          await page.waitForURL(`${base}/profile`)
          if (new URL(page.url()).origin !== new URL(base).origin) throw new Error(`returnTo=${returnTo} left for ${page.url()}`)
        }
        if (offSite.length) throw new Error(`the browser went off the site: ${offSite.join(', ')}`)
      } finally {
        await context.unroute(evil)
      }
    })

    await step("another tenant's admin sees only their own tenant", async () => {
      const other = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      const page2 = await other.newPage()
      page2.setDefaultTimeout(30_000)
      const email2 = `other-${Date.now()}@example.com`
      try {
        await page2.goto(base + '/')
        await signUp(page2, email2, 'Sam Smoker')
        await followVerification(page2, env, email2)
        const tenant2 = page2.getByTestId('tenant-id').filter({ hasNotText: '—' })
        await tenant2.waitFor({ timeout: 60_000 })
        const t2 = await tenant2.textContent()
        if (t2 === tenant1) throw new Error(`both users are in tenant ${t2}`)
        await page2.getByRole('link', { name: 'Tenant' }).click()
        await page2.getByRole('table').getByText(email2).waitFor()
        if (await page2.getByText(email).count()) throw new Error(`${email2} sees ${email} in its tenant`)
        // Whatever the second browser asks for, the server uses its own session's token: one tenant only.
        const members = await page2.evaluate(async () => (await (await fetch('/api/v1/tenant/members?pageSize=100')).json()).members)
        if (members.some((m) => m.email === email)) throw new Error('the members API leaked another tenant')
      } finally {
        await other.close()
      }
    })

    await tenancyJourney({ step, capture, axe, signUp, followVerification, env, base, browser }, page)

    await step('log out ends the session', async () => {
      await page.getByRole('button', { name: 'Log out' }).click()
      await page.waitForURL(`${base}/`)
      await page.getByRole('link', { name: 'Sign up' }).waitFor()
      await capture(page, 'logged-out')
      await page.goto(base + '/profile')
      await page.waitForURL(new RegExp(`^${base}/\\?`))
      await page.getByRole('alert').filter({ hasText: 'log in' }).waitFor()
      const api = await page.evaluate(async () => (await fetch('/api/v1/me')).status)
      if (api !== 401) throw new Error(`GET /api/v1/me after logout: ${api}`)
      await capture(page, 'profile-refused')
    })
  } finally {
    writeFileSync(join(outDir, 'axe.json'), JSON.stringify(axeReport, null, 2))
    await browser.close()
    await stop()
  }
}

main()
  .catch((e) => console.error(`e2e: ${e.stack || e}`))
  .finally(() => {
    const passed = results.filter((r) => r.ok).length
    const failed = results.length - passed
    console.log(`e2e: screenshots and axe.json in ${outDir}`)
    console.log(`dashboard e2e: ${passed} passed, ${failed} failed`)
    process.exitCode = failed || results.length < 23 ? 1 : 0
  })
