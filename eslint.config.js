// ESLint (flat config) with typescript-eslint over everything we write: the server, the bench and
// the browser client type-aware (a floating promise or an unchecked `any` in the server is a bug),
// the tests and the fixtures' browser scripts with the plain recommended rules.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const typeAware = tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['src/**/*.ts', 'bench/**/*.ts', 'client/**/*.ts'] }))

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'coverage/', '.tap/', 'test-results/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...typeAware,
  {
    files: ['src/**/*.ts', 'bench/**/*.ts', 'client/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Fastify plugins and the store's methods are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off'
    }
  },
  {
    files: ['**/*.ts'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_` marks a name kept on purpose (the compiler's noUnused* options say the rest).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }]
    }
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read untyped wire data on purpose.
      '@typescript-eslint/no-explicit-any': 'off'
    }
  },
  { files: ['client/**/*.ts'], languageOptions: { globals: { ...globals.browser } } },
  { files: ['test/fixtures/**/*.js'], languageOptions: { sourceType: 'module', globals: { ...globals.browser } } },
  { files: ['eslint.config.js'], languageOptions: { globals: { ...globals.node } } }
)
