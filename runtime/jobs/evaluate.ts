/** The seed's command 2 and the sweep: both run through runtime/evaluate's engine. */
import { runEvaluation, runSweep, type EvalContext, type EvalOutcome } from '../evaluate';
import type { JobResult } from '../protocol/jobs';
import { parseShard } from '../protocol/shards';
import { unshardedArgv } from '../shards/paths';
import type { JobContext, JobHandler } from './context';
import { withoutAuto } from './saveHiddenStates';
import { finishPart } from './shards';

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

/**
 * A part of a sharded run (--shard i/N) reports its part, and merges when it is the last: then
 * the result's lines and summaries are the whole run's (read from the merged file), else its
 * own share's, each line marked as a part's.
 */
function shardResult(o: EvalOutcome, shard: string, ctx: JobContext): JobResult<'evaluate'> {
  const s = parseShard(shard);
  const outcome = finishPart(o.file, s, '.json', ctx);
  const merged = outcome.auto.outcome;
  const own = resultOf(o);
  if (!merged) return { ...own, lines: own.lines.map((l) => `[part ${shard}] ${l}`), shard: withoutAuto(outcome) };
  const summaries = merged.run!.results.map((r) => ({ id: r.intervention.id, reasoning: r.summary.reasoning, memorization: r.summary.memorization }));
  return { ...own, runFile: merged.out, lines: merged.lines, summaries, shard: withoutAuto(outcome) };
}

export const evaluateHandler: JobHandler<'evaluate'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  // The run file records the CLI twin, so the experiment can be repeated from a terminal; a
  // part records the whole run's (no --shard) and says which part it is in spec.shard.
  const o = await runEvaluation({ ...p, argv: unshardedArgv('evaluate', p) }, engineContext(opened, ctx));
  return p.shard !== undefined ? shardResult(o, p.shard, ctx) : resultOf(o);
};

export const sweepHandler: JobHandler<'sweep'> = async (p, ctx) => {
  const opened = await ctx.openModel(p);
  const o = await runSweep({ ...p, argv: unshardedArgv('sweep', p) }, engineContext(opened, ctx));
  return p.shard !== undefined ? shardResult(o, p.shard, ctx) : resultOf(o);
};
