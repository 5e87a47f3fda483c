import { runCli } from '../../cli/program';

/** Runs `cdc` in-process with buffered output (for paths that stop before connecting). */
export async function cdc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
  });
  return { code, stdout, stderr };
}
