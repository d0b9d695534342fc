/**
 * The Attune command line: `npm run attune -- <command> …`.
 * Errors a user can act on print what happened and what to do; anything else is a bug and prints a stack.
 */
import { isAttuneError } from '../errors';
import { applyPatchCommand } from './commands/apply-patch';
import { exportCommand } from './commands/export';
import { explainCommand } from './commands/explain';
import { predictCommand } from './commands/predict';
import { scanCommand } from './commands/scan';
import { sweepCommand } from './commands/sweep';
import { trainCommand } from './commands/train';

interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Command[] = [
  scanCommand,
  trainCommand,
  sweepCommand,
  exportCommand,
  predictCommand,
  explainCommand,
  applyPatchCommand,
];

function help(): void {
  console.log('usage: npm run attune -- <command> [options]\n\ncommands:');
  for (const c of COMMANDS) console.log(`  ${c.name.padEnd(12)} ${c.summary}`);
  console.log('\nRun a command with --help for its options, e.g. npm run attune -- train --help');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    help();
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`Unknown command "${name}".`);
    help();
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isAttuneError(e)) {
      const json = rest.includes('--json');
      if (json)
        process.stdout.write(JSON.stringify({ type: 'error', code: e.code, message: e.message, hint: e.hint }) + '\n');
      console.error(`error: ${e.message}\n${e.hint}`);
      return e.code === 'usage' ? 2 : 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
