// Lint: ESLint's and typescript-eslint's recommended rules, plus the layering rule that keeps
// src/core the bottom layer. Import cycles are checked by dependency-cruiser (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/data/**', 'test/fixtures/**', 'scratch/**', 'dist/**'] },
  js.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-control-regex': 'off',
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!core/)',
              message: 'src/core is the bottom layer: it imports nothing from the rest of moat.',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'src/parsing/**/*.ts',
      'src/detection/**/*.ts',
      'src/decisions/**/*.ts',
      'src/audit/checks/**/*.ts',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:fs',
            'node:fs/promises',
            'node:child_process',
            'node:net',
            'node:http',
            'node:dgram',
          ].map((name) => ({
            name,
            message:
              'parsing, detection, decisions and audit checks are pure: do IO in a collector, source or the daemon.',
          })),
        },
      ],
    },
  },
);
