// The shared-tenant part of the journey (issue 14): A invites B; the mail reaches the SMTP sink; B follows the
// link, signs up, verifies and lands in A's tenant as member; A makes B admin; B renames the tenant; B invites C,
// C joins, B removes C and C's next page load shows the loss of access; A leaves; B switches between the shared
// tenant and B's personal one. Every new page is screenshotted and checked with axe.
import { waitForLink } from './mail.mjs'

const invitationLink = /\/invitations\/accept\?token=/

/** apiGet reads the dashboard's API as the page's own session (the server adds the token). */
async function apiGet(page, path) {
  return page.evaluate(async (p) => {
    const tenant = JSON.parse(sessionStorage.getItem('bbq.activeTenant') ?? 'null')
    const resp = await fetch(p, { headers: tenant ? { 'X-Tenant-ID': tenant.id } : {} })
    return { status: resp.status, body: await resp.json().catch(() => ({})) }
  }, path)
}

async function until(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

async function newPerson(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  page.setDefaultTimeout(30_000)
  return { context, page }
}

async function invite(page, email) {
  await page.getByRole('textbox', { name: 'Email address', exact: true }).fill(email)
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('member')
  await page.getByRole('button', { name: 'Send invitation' }).click()
  await page.getByText(`Invitation sent to ${email}.`).waitFor()
  await page.getByTestId(`invitation-${email}`).waitFor()
}

/** joinThroughLink: a new person follows the invitation link, signs up, verifies and joins. */
async function joinThroughLink(t, page, link, email, name, tenantName, { shots = false } = {}) {
  await page.goto(link)
  await page.getByRole('heading', { name: 'You are invited to a tenant' }).waitFor()
  if (shots) {
    await t.capture(page, 'invitation-sign-in')
    await t.axe(page, 'invitation-sign-in')
  }
  await t.signUp(page, email, name, { link: 'Create an account' })
  await t.followVerification(page, t.env, email, { landing: '/invitations/accept' })
  await page.getByRole('heading', { name: `Join “${tenantName}”` }).waitFor({ timeout: 60_000 })
  await page.getByTestId('invitation-role').filter({ hasText: 'member' }).waitFor()
  if (shots) {
    await t.capture(page, 'accept-invitation')
    await t.axe(page, 'accept-invitation')
  }
  await page.getByRole('button', { name: `Join “${tenantName}”` }).click()
  await page.waitForURL(`${t.base}/tenant`, { timeout: 60_000 })
  await page
    .getByTestId('tenant-notice')
    .filter({ hasText: `You joined “${tenantName}” as member.` })
    .waitFor()
  await page.getByRole('heading', { name: tenantName, level: 2 }).waitFor()
}

async function activeTenantIs(page, id) {
  await page.getByTestId('active-tenant-id').filter({ hasText: id }).waitFor({ timeout: 30_000 })
  const selected = await page.getByTestId('tenant-switcher').inputValue()
  if (selected !== id) throw new Error(`the switcher shows ${selected}, want ${id}`)
}

export async function tenancyJourney(t, pageA) {
  const { step, capture, axe, base } = t
  const stamp = Date.now()
  const emailB = `bo-${stamp}@example.com`
  const emailC = `cy-${stamp}@example.com`
  const nameB = 'Bo Brisket'
  const nameC = 'Cy Charcoal'
  const renamed = `Smoke Crew ${stamp % 1000}`
  let tenantA = { id: '', displayName: '' }
  let linkB = ''
  let linkC = ''
  const people = []
  try {
    await step('A invites B', async () => {
      await pageA.goto(`${base}/tenant`)
      const r = await apiGet(pageA, '/api/v1/tenant')
      if (r.status !== 200) throw new Error(`GET /api/v1/tenant: ${r.status} ${JSON.stringify(r.body)}`)
      tenantA = r.body
      await invite(pageA, emailB)
      await capture(pageA, 'tenant-admin-invited')
      await axe(pageA, 'tenant-admin')
    })

    await step('the invitation mail reaches the SMTP sink', async () => {
      linkB = await waitForLink(t.env, emailB, invitationLink)
      if (!linkB.startsWith(`${base}/invitations/accept?token=`)) throw new Error(`the link leads to ${linkB}`)
    })

    const B = await newPerson(t.browser)
    people.push(B)
    await step("B follows the link, signs up, verifies and lands in A's tenant as member", async () => {
      await joinThroughLink(t, B.page, linkB, emailB, nameB, tenantA.displayName, { shots: true })
      await activeTenantIs(B.page, tenantA.id)
      if (await B.page.getByRole('button', { name: 'Rename' }).count()) throw new Error('a member is offered the admin actions')
      await capture(B.page, 'tenant-member')
      await axe(B.page, 'tenant-member')
    })

    await step('A makes B admin', async () => {
      await pageA.reload()
      const role = pageA.getByRole('combobox', { name: `Role of ${nameB}` })
      await role.selectOption('admin')
      await until('the new role is saved', async () => (await role.isEnabled()) && (await role.inputValue()) === 'admin')
      await pageA.reload()
      if ((await pageA.getByRole('combobox', { name: `Role of ${nameB}` }).inputValue()) !== 'admin')
        throw new Error('the role did not stick')
    })

    await step('B renames the tenant', async () => {
      await B.page.reload()
      await B.page.getByRole('button', { name: 'Rename' }).click()
      await B.page.getByRole('textbox', { name: 'Tenant name' }).fill(renamed)
      await B.page.getByRole('button', { name: 'Save name' }).click()
      await B.page.getByRole('heading', { name: renamed, level: 2 }).waitFor()
      await B.page.getByTestId('tenant-switcher').locator('option', { hasText: renamed }).waitFor({ state: 'attached' })
      await capture(B.page, 'tenant-renamed')
    })

    await step('B invites C', async () => {
      await invite(B.page, emailC)
      linkC = await waitForLink(t.env, emailC, invitationLink)
    })

    const C = await newPerson(t.browser)
    people.push(C)
    await step('C signs up through the link and joins', async () => {
      await joinThroughLink(t, C.page, linkC, emailC, nameC, renamed)
      await activeTenantIs(C.page, tenantA.id)
    })

    await step('B removes C', async () => {
      await B.page.reload()
      await B.page.getByRole('button', { name: `Remove ${nameC}` }).click()
      await B.page.getByRole('button', { name: 'Remove', exact: true }).click()
      await B.page.getByTestId(`member-${emailC}`).waitFor({ state: 'detached' })
      await capture(B.page, 'tenant-member-removed')
    })

    await step("C's next page load shows the loss of access", async () => {
      await C.page.reload()
      await C.page
        .getByTestId('tenant-notice')
        .filter({ hasText: `You no longer have access to “${renamed}”` })
        .waitFor()
      const shown = await C.page.getByTestId('active-tenant-id').textContent({ timeout: 30_000 })
      if (shown === tenantA.id) throw new Error('C still sees the tenant it was removed from')
      const r = await apiGet(C.page, '/api/v1/me/tenants')
      if (r.body.tenants?.some((x) => x.id === tenantA.id)) throw new Error('C is still listed as a member')
      await capture(C.page, 'access-lost')
      await axe(C.page, 'access-lost')
    })

    // A failure here (a backend's) is recorded, and the switcher is still tried.
    await step('A leaves', async () => {
      await pageA.goto(`${base}/tenant`)
      await pageA.getByRole('button', { name: 'Leave tenant' }).click()
      await pageA.getByRole('button', { name: 'Leave for good' }).click()
      await pageA
        .getByTestId('tenant-notice')
        .filter({ hasText: `You left “${renamed}”.` })
        .waitFor({ timeout: 30_000 })
      const r = await apiGet(pageA, '/api/v1/me/tenants')
      if (r.body.tenants?.some((x) => x.id === tenantA.id)) throw new Error('A is still a member')
      await capture(pageA, 'tenant-left')
    }).catch(() => {})

    await step("B switches between the shared tenant and B's personal one", async () => {
      await B.page.goto(`${base}/tenant`)
      const r = await apiGet(B.page, '/api/v1/me/tenants')
      const personal = r.body.tenants?.find((x) => x.id !== tenantA.id)
      if (!personal) throw new Error(`B's tenants: ${JSON.stringify(r.body)}`)
      await B.page.getByTestId('tenant-switcher').selectOption(personal.id)
      await activeTenantIs(B.page, personal.id)
      await capture(B.page, 'switched-personal')
      await B.page.getByTestId('tenant-switcher').selectOption(tenantA.id)
      await activeTenantIs(B.page, tenantA.id)
      // The default followed (and with it the token): a new tab, which remembers nothing, opens the shared tenant.
      const tab = await B.context.newPage()
      await tab.goto(`${base}/tenant`)
      await activeTenantIs(tab, tenantA.id)
      await capture(tab, 'switched-shared-new-tab')
      await axe(tab, 'tenant-switched')
    })
  } finally {
    for (const p of people) await p.context.close().catch(() => {})
  }
}
