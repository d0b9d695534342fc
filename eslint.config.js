// ESLint flat config: TypeScript across the engine, the app's main process, the renderer's .ts modules, benches,
// scripts and end-to-end tests. Import cycles are left to madge (`npm run lint:imports`); layout to prettier.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // .svelte files are checked by svelte-check (npm run typecheck); vendored decoders are kept as published
    ignores: [
      'node_modules/',
      'out/',
      'dist/',
      'release/',
      'runs/',
      'bench/results/',
      '**/vendor/**',
      '**/*.svelte',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,mts,js,mjs}'],
    rules: {
      // unused bindings are dead code, except names marked `_` on purpose (e.g. a destructured part left out)
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // lines stay under ~120 characters (prettier's printWidth; it leaves comments alone, so this catches them);
      // long strings, templates, URLs and regexes may run on
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreUrls: true, ignoreRegExpLiterals: true },
      ],
      // a module declaration for an untyped library (engine/sweep/jstat.d.ts) is referenced by path
      '@typescript-eslint/triple-slash-reference': ['error', { path: 'always' }],
    },
  },
  // float64 reference coefficients are quoted with the digits of their published tables
  { files: ['engine/autodiff/testing/lower-f64.ts'], rules: { 'no-loss-of-precision': 'off' } },
  // `any` is allowed outside the engine only where a library's own types force it
  { files: ['engine/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'error' } },
  {
    files: ['main/**/*.ts', 'renderer/**/*.ts', 'e2e/**/*.ts', 'bench/**/*.ts', 'scripts/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'warn' },
  },
  {
    files: ['scripts/**', '**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' } },
  },
);
