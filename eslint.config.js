import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importBoundaries } from './scripts/lint/import-boundaries.ts';

// Which folders of src/ each folder may import from (docs/architecture.md, "Folders and
// directions"). Files directly in src/ (main.ts, the composition root) may import anything;
// nothing may import them but cli/ and drill/, which start a balancer in-process.
const LAYERS = {
  core: [],
  balancer: ['core'],
  config: ['core', 'balancer'],
  store: ['core', 'config'],
  'data-plane': ['core', 'balancer', 'config'],
  health: ['core', 'balancer', 'data-plane'],
  proxy: ['core', 'balancer', 'config', 'data-plane'],
  // Data-plane threads: the proxy over shared state; the main thread's side lives here too.
  workers: ['core', 'balancer', 'config', 'data-plane', 'proxy'],
  runtime: ['core', 'balancer', 'config', 'store', 'data-plane', 'health', 'proxy'],
  monitor: ['core', 'balancer', 'config', 'data-plane', 'health'],
  audit: ['core', 'balancer', 'config', 'store', 'data-plane', 'health', 'proxy'],
  fleet: ['core', 'config', 'store', 'data-plane', 'runtime', 'monitor'],
  admin: ['core', 'config', 'store', 'data-plane', 'health', 'monitor', 'runtime', 'audit', 'fleet'],
  // The scriptable loopback backend that demo, drill and testing build on; ships in dist/.
  sim: [],
  demo: ['core', 'sim'],
  drill: ['', 'core', 'config', 'monitor', 'store', 'sim'],
  // Test support: may use anything; only tests import it (tests are outside this rule), and
  // tsconfig.build.json keeps it out of dist/.
  testing: [
    '',
    'core',
    'balancer',
    'config',
    'store',
    'data-plane',
    'health',
    'proxy',
    'workers',
    'runtime',
    'monitor',
    'audit',
    'fleet',
    'admin',
    'sim',
    'demo',
    'drill',
    'cli',
  ],
  cli: ['', 'core', 'config', 'store', 'runtime', 'monitor', 'audit', 'demo', 'drill', 'fleet'],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'src/admin/dashboard/vendor/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { fulcrum: { rules: { 'import-boundaries': importBoundaries } } },
    rules: { 'fulcrum/import-boundaries': ['error', { layers: LAYERS }] },
  },
  {
    // Tests read JSON answers of the admin API; typing every shape there adds noise, not safety.
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
