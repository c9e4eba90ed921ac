/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The Go server embeds the build from ../internal/ui/static/app. `npm run dev` proxies the server's routes
// to a dashboard running on :3000 (make run), so the session cookie stays on one origin.
const server = process.env.DASHBOARD_DEV_TARGET ?? 'http://localhost:3000'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: '../internal/ui/static/app',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: Object.fromEntries(['/api', '/auth', '/login', '/logout', '/session'].map((p) => [p, { target: server, changeOrigin: false }])),
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    testTimeout: 20_000, // room for src/test/setup.ts's 5 s waits on a busy machine
  },
})
