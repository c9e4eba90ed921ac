// The local stack for the e2e: reuse a running one (E2E_RUN_ENV=path/to/run.env), or start `scripts/run.sh`
// with a fresh BBQ_DATA, wait for it to write run.env and for the dashboard to be ready, and stop it after.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export function readEnvFile(path) {
  const env = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (m) env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2')
  }
  return env
}

async function waitFor(what, fn, timeoutMs, fatalErrors = false) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    try {
      if (await fn()) return
    } catch (e) {
      if (fatalErrors) throw e
      last = e
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
  throw new Error(`${what} not ready within ${timeoutMs / 1000} s${last ? `: ${last.message}` : ''}`)
}

/** startStack starts the stack, once more if the first start fails (a slow Keycloak start on a busy machine). */
export async function startStack(repoRoot, outDir, attempts = 2) {
  for (let i = 1; ; i++) {
    try {
      return await startStackOnce(repoRoot, outDir, i)
    } catch (e) {
      if (i >= attempts || process.env.E2E_RUN_ENV) throw e
      console.log(`e2e: the stack did not start (${e.message}); trying again`)
    }
  }
}

async function startStackOnce(repoRoot, outDir, attempt) {
  let env
  let child
  const signal = (sig) => {
    try {
      process.kill(-child.pid, sig)
    } catch {
      // the process group is already gone
    }
  }
  const stop = async () => {
    if (!child || child.exitCode !== null) return
    signal('SIGTERM')
    await waitFor('stack exit', () => child.exitCode !== null, 60_000).catch(() => signal('SIGKILL'))
  }
  try {
    if (process.env.E2E_RUN_ENV) {
      env = readEnvFile(process.env.E2E_RUN_ENV)
    } else {
      const data = mkdtempSync(join(tmpdir(), 'bbq-e2e-'))
      const logPath = join(outDir, attempt > 1 ? `stack-${attempt}.log` : 'stack.log')
      child = spawn('bash', [resolve(repoRoot, 'scripts/run.sh'), '--data', data], {
        cwd: repoRoot,
        env: { ...process.env, BBQ_DATA: data },
        stdio: ['ignore', openSync(logPath, 'w'), openSync(logPath, 'a')],
        detached: true,
      })
      // Ending the e2e (Ctrl-C, a CI time-out) ends the stack too.
      for (const sig of ['SIGINT', 'SIGTERM']) {
        process.once(sig, () => {
          if (child.exitCode === null) signal('SIGTERM')
          process.exit(130)
        })
      }
      const runEnv = join(data, 'run.env')
      console.log(`e2e: starting the stack (scripts/run.sh --data ${data}; log ${logPath})`)
      const ready = () => {
        if (child.exitCode !== null) throw new Error(`scripts/run.sh exited with ${child.exitCode}; see ${logPath}`)
        return existsSync(runEnv)
      }
      await waitFor('run.env', ready, 15 * 60_000, true)
      env = { ...readEnvFile(runEnv), STACK_LOG: logPath, BBQ_DATA_DIR: data }
    }
    // run.env of `make run` (dev/cmd/bbq-dev) names the parts BBQ_<PART>; its secrets.json has the admin password.
    env.DASHBOARD_URL ||= env.BBQ_DASHBOARD || env.PUBLIC_URL || 'http://localhost:3000'
    // The probes are on the dashboard's operations port, never on the public one.
    env.DASHBOARD_OPS_URL ||= env.BBQ_DASHBOARD_OPS || 'http://127.0.0.1:9093'
    env.KEYCLOAK_URL ||= env.BBQ_KEYCLOAK || 'http://127.0.0.1:8180/auth'
    env.KEYCLOAK_REALM ||= 'bbq'
    env.MAIL_DIR ||= env.BBQ_MAIL_DIR || ''
    env.MAIL_URL ||= env.BBQ_MAIL_URL || ''
    const secretsPath = env.BBQ_DATA_DIR && join(env.BBQ_DATA_DIR, 'secrets.json')
    if (!env.KEYCLOAK_ADMIN_PASSWORD && secretsPath && existsSync(secretsPath)) {
      env.KEYCLOAK_ADMIN_USER ||= 'admin'
      env.KEYCLOAK_ADMIN_PASSWORD = JSON.parse(readFileSync(secretsPath, 'utf8')).KeycloakAdmin
    }
    await waitFor('dashboard /readyz', async () => (await fetch(`${env.DASHBOARD_OPS_URL}/readyz`)).ok, 5 * 60_000)
  } catch (e) {
    await stop()
    throw e
  }
  return { env, stop }
}
