// `npm run experiments -- <name> [args...]`: runs one paper-in-small experiment
// (dist/experiments/<name>.js, compiled by the test config) with its own arguments.
// Without a name it lists them. Long runs: results with commands and seeds go in docs/.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const names = readdirSync('dist/experiments')
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`${name ? `no experiment named "${name}". ` : ''}experiments: ${names.join(', ')}`);
  console.error('usage: npm run experiments -- <name> [its arguments]   (each prints its own usage in its header)');
  process.exit(name ? 2 : 0);
}
const r = spawnSync(process.execPath, [`dist/experiments/${name}.js`, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
