// Lint rules for ironbay. Type-aware rules from typescript-eslint; codecs kept pure by
// forbidding socket and timer modules in codec folders (see STYLE.md §1).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'var/', 'bench/out/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      // fastify handlers and plugins are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      // `const { machines: _, ...rest } = inv` is how a key is left out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      eqeqeq: 'error',
    },
  },
  {
    files: ['**/codec/**/*.ts', '**/*.codec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:dgram', 'node:net', 'node:tls', 'node:http', 'node:timers', 'dgram', 'net'].map((name) => ({
            name,
            message: 'A codec is bytes in, typed object out: no sockets or timers here.',
          })),
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-floating-promises': 'off',
      // `api<T>()` returning parsed JSON as T is the point of a test helper.
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  // The fleet page's browser scripts: plain JS (no build step), so no type information.
  { files: ['daemon/web/**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['daemon/web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'sessionStorage', 'fetch', 'URLSearchParams', 'TextDecoderStream', 'AbortController', 'setTimeout', 'clearTimeout', 'setInterval', 'requestAnimationFrame', 'getComputedStyle', 'ResizeObserver', 'Node', 'CSS'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
