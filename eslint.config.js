// ESLint (flat config) with typescript-eslint's recommended rules over the product, tests,
// benchmarks and experiments. Formatting is prettier's business (see .prettierrc), not lint's.
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'fixtures/**'] }, ...tseslint.configs.recommended, {
  files: ['**/*.ts'],
  languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
  rules: {
    // A leading underscore marks a parameter kept for the signature.
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  },
});
