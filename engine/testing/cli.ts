/** `attune …` as a user runs it: a fresh Node process on engine/cli/main.ts from the repository root. */
import { spawnSync } from 'node:child_process';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout's JSON lines */
  lines: Record<string, unknown>[];
}

/**
 * Runs the CLI with `args`. With `strict`, every non-empty stdout line must be JSON (what --json promises: a stray
 * line fails the test); otherwise lines not starting with '{' (human output beside the events) are passed over.
 */
export function runAttune(args: string[], opts: { strict?: boolean } = {}): CliRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/cli/main.ts', ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => (opts.strict ? l !== '' : l.startsWith('{')))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines };
}
