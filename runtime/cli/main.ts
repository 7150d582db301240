/**
 * `layerlab` command line: every palette command of the extension has a twin here, running the
 * same runtime code in-process. Results go to stdout, progress and logs to stderr.
 */
import { CancelledError } from '../generate';
import { UsageError, usage } from './args';
import type { Command, CommandIO } from './command';
import { generateCommand } from './generate';
import { infoCommand } from './info';
import { saveHiddenStatesCommand } from './saveHiddenStates';
import { computeDirectionsCommand } from './computeDirections';
import { inspectCacheCommand } from './inspectCache';
import { evaluateCommand } from './evaluate';
import { sweepCommand } from './sweep';
import { demoCommand } from './demo';

export const COMMANDS: Command[] = [
  generateCommand,
  infoCommand,
  saveHiddenStatesCommand,
  computeDirectionsCommand,
  inspectCacheCommand,
  evaluateCommand,
  sweepCommand,
  demoCommand,
];

function help(): string {
  return [
    'usage: layerlab <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(20)} ${c.summary}`),
    '',
    "run 'layerlab <command> --help' for a command's options",
  ].join('\n');
}

export async function main(argv: string[], io: CommandIO, signal?: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.log(`layerlab: unknown command '${name}'\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: layerlab ${cmd.name} [options]${cmd.positionals ? ` ${cmd.positionals}` : ''}\n${cmd.summary}\n\noptions:\n${usage(cmd.options)}`);
    return 0;
  }
  try {
    await cmd.run(rest, io, signal);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.log(`layerlab ${cmd.name}: ${e.message}`);
      return 2;
    }
    if (e instanceof CancelledError) {
      io.log(`layerlab ${cmd.name}: cancelled`);
      return 130;
    }
    io.log(`layerlab ${cmd.name}: error: ${(e as Error)?.message ?? String(e)}`);
    // Errors about the user's input already say what to do; a stack only helps debugging LayerLab.
    if (process.env.LAYERLAB_DEBUG) io.log(String((e as Error)?.stack));
    return 1;
  }
}

if (require.main === module) {
  const io: CommandIO = {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
    log: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  };
  // First Ctrl-C stops long work at the next batch boundary (caches stay resumable); a
  // second one exits at once.
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    io.log('stopping after the current batch (Ctrl-C again to quit now)');
    abort.abort();
  });
  main(process.argv.slice(2), io, abort.signal).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      io.log(`layerlab: internal error: ${e?.stack ?? e}`);
      process.exitCode = 1;
    },
  );
}
