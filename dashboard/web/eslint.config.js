// ESLint flat config: typescript-eslint's type-aware rules and React's hooks rules for the app and its tests;
// the generated API types and the built app are not linted. Formatting is Prettier's (npm run lint checks both).
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  { ignores: ['src/api.gen.ts', 'e2e-out/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.{ts,tsx}'],
    extends: [tseslint.configs.recommendedTypeChecked, reactHooks.configs.flat.recommended],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }, globals: globals.browser },
  },
  // Node-side files: the build config (outside tsconfig's src) and the Playwright journey.
  { files: ['vite.config.ts'], extends: [tseslint.configs.recommended] },
  { files: ['vite.config.ts', 'e2e/**/*.mjs', 'eslint.config.js'], languageOptions: { globals: globals.node } },
)
