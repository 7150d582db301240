/** The seed's command 2 and the sweep: both run through runtime/evaluate's engine. */
import { runEvaluation, runSweep, type EvalContext, type EvalOutcome } from '../evaluate';
import { toArgv } from '../protocol/argv';
import { evaluateJob, sweepJob, type JobResult } from '../protocol/jobs';
import type { JobContext, JobHandler } from './context';

function engineContext(opened: Awaited<ReturnType<JobContext['openModel']>>, ctx: JobContext): EvalContext {
  return {
    model: opened.model,
    tokenizer: opened.tokenizer,
    opened,
    signal: ctx.signal,
    onProgress: (done, total, current) => ctx.progress(done, total, current),
    log: (m) => ctx.log('info', m),
  };
}

function resultOf(o: EvalOutcome): JobResult<'evaluate'> {
  return {
    runFile: o.file,
    lines: o.lines,
    summaries: o.run.results.map((r) => ({ id: r.intervention.id, reasoning: r.summary.reasoning, memorization: r.summary.memorization })),
    itemsPerSecond: o.run.timing.itemsPerSecond,
    warnings: o.run.warnings ?? [],
  };
}

export const evaluateHandler: JobHandler<'evaluate'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  // The run file records the CLI twin, so the experiment can be repeated from a terminal.
  return resultOf(await runEvaluation({ ...p, argv: toArgv(evaluateJob, p) }, engineContext(opened, ctx)));
};

export const sweepHandler: JobHandler<'sweep'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  return resultOf(await runSweep({ ...p, argv: toArgv(sweepJob, p) }, engineContext(opened, ctx)));
};
