import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The package's root folder (the one holding package.json): the repository when run from source
 * with tsx, and also when run compiled from dist/ (`npm run build`), whose modules sit one folder
 * deeper. Paths to the local stack's data (.stack/), tools (.cache/) and node_modules start here.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Whether this module runs compiled (dist/, plain node) rather than from its TypeScript source. */
export const RUNS_COMPILED = __filename.endsWith('.js');
