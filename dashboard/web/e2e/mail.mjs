// Reading the verification mail from the local stack's SMTP sink: either a folder where the sink writes each
// message as a raw RFC 5322 file (MAIL_DIR), or an HTTP endpoint answering a JSON list (MAIL_URL).
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

function decodeQP(s) {
  const bytes = []
  const flat = s.replace(/=\r?\n/g, '')
  for (let i = 0; i < flat.length; i++) {
    if (flat[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(flat.slice(i + 1, i + 3))) {
      bytes.push(parseInt(flat.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(...Buffer.from(flat[i], 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

function splitHeaders(part) {
  const idx = part.search(/\r?\n\r?\n/)
  const head = idx < 0 ? part : part.slice(0, idx)
  const body = idx < 0 ? '' : part.slice(idx).replace(/^\r?\n\r?\n/, '')
  const headers = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':')
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim()
  }
  return { headers, body }
}

/** parseMail decodes a raw message into { to, subject, text } (all text parts joined). */
export function parseMail(raw) {
  const { headers, body } = splitHeaders(raw)
  const texts = []
  const walk = (hdrs, content) => {
    const ct = hdrs['content-type'] || 'text/plain'
    const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1]
    if (/^multipart\//i.test(ct) && boundary) {
      for (const p of content.split('--' + boundary).slice(1)) {
        if (p.startsWith('--')) break
        const sub = splitHeaders(p.replace(/^\r?\n/, ''))
        walk(sub.headers, sub.body)
      }
      return
    }
    const enc = (hdrs['content-transfer-encoding'] || '').toLowerCase()
    if (enc === 'base64') texts.push(Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8'))
    else if (enc === 'quoted-printable') texts.push(decodeQP(content))
    else texts.push(content)
  }
  walk(headers, body)
  return { to: headers['to'] || '', subject: headers['subject'] || '', text: texts.join('\n') }
}

async function listMessages(env) {
  if (env.MAIL_URL) {
    const resp = await fetch(env.MAIL_URL)
    if (!resp.ok) throw new Error(`MAIL_URL ${env.MAIL_URL}: ${resp.status}`)
    const list = await resp.json()
    return list.map((m) => ({
      to: [].concat(m.to ?? m.To ?? []).join(','),
      subject: m.subject ?? m.Subject ?? '',
      text: `${m.text ?? m.Text ?? ''}\n${m.html ?? m.HTML ?? ''}`,
    }))
  }
  if (env.MAIL_DIR) {
    const names = (await readdir(env.MAIL_DIR).catch(() => [])).sort()
    return Promise.all(names.map(async (n) => parseMail(await readFile(join(env.MAIL_DIR, n), 'utf8'))))
  }
  if (env.STACK_LOG) {
    // `make run` logs every caught mail with its links ("mail caught by the SMTP sink").
    const lines = (await readFile(env.STACK_LOG, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('mail caught'))
    return lines.map((l) => {
      const text = l
        .replace(/\\u0026/g, '&')
        .replace(/\\u003c/g, '<')
        .replace(/\\u003e/g, '>')
      return { to: text, subject: '', text }
    })
  }
  throw new Error('the stack offers no mail (MAIL_DIR, MAIL_URL or STACK_LOG): the e2e cannot read the verification mail')
}

/** waitForLink polls the sink for a mail to `to` and returns its first link matching `pattern`. */
export async function waitForLink(env, to, pattern, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const m of await listMessages(env)) {
      if (!m.to.toLowerCase().includes(to.toLowerCase())) continue
      const links = (m.text.match(/https?:\/\/[^\s"'<>]+/g) || []).map((l) => l.replace(/&amp;/g, '&').replace(/[.,;)\]]+$/, ''))
      const link = links.find((l) => pattern.test(l))
      if (link) return link
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`no mail to ${to} with a link matching ${pattern} within ${timeoutMs} ms`)
}
