/**
 * What an evaluation or a sweep is asked to do: the params of the `evaluate` and `sweep` jobs
 * (runtime/protocol/jobs.ts defines them, with their defaults), plus the CLI twin the run file
 * records. A palette run, a CLI run and a test describe the same experiment the same way.
 */
import { evaluateJob, sweepJob, type CommonEvalParams, type JobParams, type JobParamsIn } from '../protocol/jobs';

export type { HookChoice } from '../protocol/results';
export type Scoring = CommonEvalParams['scoring'];
export type SplitMode = CommonEvalParams['split'];

interface Recorded {
  /** The job's CLI twin after `layerlab <command>`, recorded in the run file. */
  argv?: string[];
}

/** Options shared by `evaluate` and `sweep`. */
export type CommonEvalOptions = CommonEvalParams & Recorded;
export type EvaluateOptions = JobParams<'evaluate'> & Recorded;
export type SweepOptions = JobParams<'sweep'> & Recorded;

/**
 * Options with the job's defaults filled in, for callers that run the engine on an already open
 * model (the demo pipeline, benchmarks, tests): no model reference is needed.
 */
export type EvaluateInput = Partial<JobParamsIn<'evaluate'>> & Recorded;
export type SweepInput = Partial<JobParamsIn<'sweep'>> & Recorded;

export function evaluateOptions(p: EvaluateInput = {}): EvaluateOptions {
  const { argv, ...rest } = p;
  return { ...(evaluateJob.fields.parse(rest) as JobParams<'evaluate'>), ...(argv ? { argv } : {}) };
}

export function sweepOptions(p: SweepInput = {}): SweepOptions {
  const { argv, ...rest } = p;
  return { ...(sweepJob.fields.parse(rest) as JobParams<'sweep'>), ...(argv ? { argv } : {}) };
}

/** Bad input to an evaluation: names the flag, file, record or field and says what to do. */
export class EvaluateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluateError';
  }
}
