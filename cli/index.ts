/** `cdc`: the operator's command line (bin/cdc runs this file with tsx). See docs/cli.md. */
import { runCli } from './program';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cdc: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
