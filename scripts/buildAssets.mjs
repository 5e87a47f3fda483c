// `npm run build`, second step: copies the non-TypeScript files the product reads at run time
// next to their compiled modules in dist/ (tsc copies only what it compiles), so `node dist/...`
// finds them the way `tsx` finds them in the source tree (paths relative to __dirname).
// Plain node, no dependencies: it runs wherever `tsc` did.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.argv[2] ?? 'dist');

/** [folder, file-name pattern]: each match is copied to the same path under dist/. */
export const ASSETS = [
  ['infra', /\.sql$/], // provisioning: schema.sql, analyticsSchema.sql
  ['config', /\.ya?ml$/], // the default table file (infra/tablesFile.ts)
  ['wallboard', /\.html$/], // the wallboard's page
];

let copied = 0;
for (const [folder, pattern] of ASSETS) {
  for (const name of readdirSync(join(root, folder))) {
    if (!pattern.test(name)) continue;
    mkdirSync(join(out, folder), { recursive: true });
    copyFileSync(join(root, folder, name), join(out, folder, name));
    copied++;
  }
}
console.log(`build: ${copied} asset files copied to ${out}`);
