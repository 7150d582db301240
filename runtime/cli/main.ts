/**
 * `layerlab` command line: the argument edge of the jobs. Every command is a job of
 * runtime/protocol/jobs.ts; its flags parse into that job's params (the same ones the editor
 * sends), its handler in runtime/jobs/ does the work in-process, and its result is printed
 * (runtime/cli/print.ts, or `--json`). Results go to stdout, progress and logs to stderr.
 *
 * Exit codes: 0 done, 1 the job failed (the message names the file, record or flag), 2 usage,
 * 130 cancelled (Ctrl-C; caches stay resumable).
 */
import { CancelledError } from '../generate';
import { HANDLERS, type JobContext } from '../jobs';
import { ModelLease } from '../jobs/models';
import { progressReporter } from '../jobs/progress';
import { parseArgv, usage, UsageError } from '../protocol/argv';
import { describeProgress, isJobName, JOB_NAMES, JOBS, type JobName } from '../protocol/jobs';
import { PRINTERS } from './print';

export interface CliIO {
  out(text: string): void;
  log(text: string): void;
}

function help(): string {
  return [
    'usage: layerlab <command> [options]',
    '',
    'commands:',
    ...JOB_NAMES.map((n) => `  ${n.padEnd(20)} ${JOBS[n].summary}`),
    '',
    "run 'layerlab <command> --help' for a command's options; every command also takes --json (print the result as JSON)",
  ].join('\n');
}

function commandHelp(name: JobName): string {
  const job = JOBS[name];
  const pos = job.cli.positional ? ` [${job.cli.positional.toUpperCase()}]` : '';
  return `usage: layerlab ${name} [options]${pos}\n${job.summary}\n\noptions:\n${usage(job)}\n  --json\n      print the result as JSON`;
}

export async function main(argv: string[], io: CliIO, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  if (!isJobName(name)) {
    io.log(`layerlab: unknown command '${name}'\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(name));
    return 0;
  }
  const json = rest.includes('--json');
  const lease = new ModelLease({ log: io.log });
  const reporter = progressReporter((p) => io.log(`${name}: ${describeProgress(p)}`), 500);
  const opening = progressReporter((p) => io.log(`opening the model: ${describeProgress(p)}`), 500);
  try {
    const params = parseArgv(JOBS[name], rest.filter((a) => a !== '--json'));
    const ctx: JobContext = {
      signal,
      progress: (done, total, message) => reporter.report(done, total, message),
      log: (level, message) => io.log(level === 'info' || level === 'debug' || level === 'trace' ? message : `${level}: ${message}`),
      openModel: (ref) => lease.open(ref, io.log, (done, total, message) => opening.report(done, total, message)),
      releaseModel: () => lease.release(),
      readStdin: async () => {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
      },
    };
    const handler = HANDLERS[name] as (p: unknown, c: JobContext) => Promise<unknown>;
    const result = await handler(params, ctx);
    reporter.close();
    io.out(json ? JSON.stringify(result, null, 2) : (PRINTERS[name] as (r: unknown) => string)(result));
    // A check that ran but found the graph off is a failure scripts and CI must see.
    if (name === 'check-model' && (result as { verdict: string }).verdict === 'fail') return 1;
    return 0;
  } catch (e) {
    reporter.close();
    if (e instanceof UsageError) {
      io.log(`layerlab ${name}: ${e.message}`);
      return 2;
    }
    if (e instanceof CancelledError || signal.aborted) {
      io.log(`layerlab ${name}: cancelled`);
      return 130;
    }
    io.log(`layerlab ${name}: error: ${(e as Error)?.message ?? String(e)}`);
    // Errors about the user's input already say what to do; a stack only helps debugging LayerLab.
    if (process.env.LAYERLAB_DEBUG) io.log(String((e as Error)?.stack));
    return 1;
  } finally {
    await lease.release();
  }
}

if (require.main === module) {
  const io: CliIO = {
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
