/**
 * Runs a CLI command as a job: the palette and the terminal then share one implementation, its
 * flags and its defaults. The command gets the job's signal (Cancel in the editor is Ctrl-C in
 * the terminal), its stdout becomes the job's output, and its stderr lines become log
 * notifications, except the progress lines runtime/cli/progress.ts prints, which become
 * `layerlab/progress` notifications so the editor shows a real progress bar. The files a
 * command returns (runtime/cli/command.ts) are the job's files.
 */
import type { Command, CommandIO } from '../cli/command';
import type { JobDefinition } from './job';

/**
 * Parses a line of progressPrinter (`label: done/total (pct%)[, rate/s][, note]`) for `label`.
 * test/unit/extension-jobs.test.ts feeds it progressPrinter's real output, so a change of that
 * format fails a test instead of silently losing the progress bar.
 */
export function parseProgressLine(line: string, label: string): { done: number; total: number; note?: string } | undefined {
  if (!line.startsWith(`${label}: `)) return undefined;
  const m = /^(\d+)\/(\d+) \(\d+%\)(?:, [\d.]+\/s)?(?:, (.*))?$/.exec(line.slice(label.length + 2));
  if (!m) return undefined;
  return { done: Number(m[1]), total: Number(m[2]), ...(m[3] ? { note: m[3] } : {}) };
}

export function cliJob(command: Command): JobDefinition {
  return {
    summary: command.summary,
    async run(ctx) {
      const io: CommandIO = {
        out: ctx.io.out,
        log: (text) => {
          const p = parseProgressLine(text, command.name);
          if (p) ctx.progress(p.done, p.total, p.note);
          else ctx.io.log(text);
        },
      };
      const r = await command.run(ctx.args, io, ctx.signal);
      // The files the command says it wrote (a cache, directions, a run) become the job's, so
      // the editor can offer to open them.
      return r?.files?.length ? { files: r.files } : undefined;
    },
  };
}
