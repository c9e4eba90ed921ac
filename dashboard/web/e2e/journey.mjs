// The browser journey against the real local stack, in Debian's Chromium driven by playwright-core:
// sign up on Keycloak's page, follow the verification mail, see the profile with its tenant, edit the name
// (checked after a reload and in Keycloak's admin API), visit the tenant page, log out, and be refused the
// profile. Every page is screenshotted into the output folder and checked with axe.
//
//   node e2e/journey.mjs       (E2E_OUT=folder for screenshots, E2E_RUN_ENV=run.env of a running stack)
import AxeBuilder from '@axe-core/playwright'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { waitForLink } from './mail.mjs'
import { startStack } from './stack.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '../../..')
const outDir = resolve(process.env.E2E_OUT || join(here, '..', 'e2e-out', new Date().toISOString().replace(/[:.]/g, '-')))
mkdirSync(outDir, { recursive: true })

const results = []
const axeReport = {}
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
    if (currentPage) await capture(currentPage, 'FAILED').catch(() => {})
    console.log(`e2e: FAIL ${name}: ${e.message}`)
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

async function main() {
  let stack
  await step('start the local stack', async () => {
    stack = await startStack(repoRoot, outDir)
  })
  const { env, stop } = stack
  const base = env.DASHBOARD_URL
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const email = `griller-${Date.now()}@example.com`
  const password = 'Smoky-Ribs-2026!'
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

    await step('sign up on the Keycloak page', async () => {
      await page.getByRole('link', { name: 'Sign up' }).click()
      await page.waitForURL(/\/auth\/realms\/.+\/(registrations|login-actions\/registration)/)
      await page.locator('#email').waitFor()
      await capture(page, 'keycloak-register')
      await axe(page, 'keycloak-register', { ours: false })
      await page.fill('#email', email)
      await page.fill('#firstName', 'Pat Griller')
      if (await page.locator('#lastName').count()) await page.fill('#lastName', 'Griller')
      // Keycloak 26.7 can ask for the password only after the email is verified (RegistrationPassword config).
      if (await page.locator('#password').count()) {
        await page.fill('#password', password)
        await page.fill('#password-confirm', password)
      }
      await page.locator('form#kc-register-form [type=submit]').click()
      await page.waitForURL(/login-actions/)
      await capture(page, 'keycloak-verify-email')
    })

    await step('follow the verification mail', async () => {
      const link = await waitForLink(env, email, /action-token|verify/i)
      await page.goto(link)
      // Then Keycloak goes on to the app, or first asks for the password, or shows a "proceed" link.
      const deadline = Date.now() + 60_000
      while (!page.url().startsWith(`${base}/profile`)) {
        if (Date.now() > deadline) throw new Error(`stuck on ${page.url()}`)
        if (await page.locator('#password-new').isVisible().catch(() => false)) {
          await capture(page, 'keycloak-set-password')
          await page.fill('#password-new', password)
          await page.fill('#password-confirm', password)
          await page.locator('form [type=submit]').first().click()
          await page.waitForLoadState()
        } else if (await page.getByRole('link', { name: /proceed|back to application/i }).isVisible().catch(() => false)) {
          await page.getByRole('link', { name: /proceed|back to application/i }).click()
          await page.waitForLoadState()
        } else {
          await page.waitForTimeout(300)
        }
      }
    })

    await step('profile shows the tenant', async () => {
      await page.getByTestId('tenant-id').filter({ hasNotText: '—' }).waitFor({ timeout: 60_000 })
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
    process.exitCode = failed || results.length < 10 ? 1 : 0
  })
