/**
 * Runs a job in-process as the CLI does: the params through the job's schema (defaults filled,
 * cross-field checks), the handler from runtime/jobs, one model lease for the whole test file.
 */
import { HANDLERS, type JobContext } from '../../runtime/jobs';
import { ModelLease } from '../../runtime/jobs/models';
import { JOBS, type JobName, type JobParamsIn, type JobResult } from '../../runtime/protocol/jobs';

export interface JobRunner {
  run<N extends JobName>(name: N, params: JobParamsIn<N>): Promise<JobResult<N>>;
  logs: string[];
  release(): Promise<void>;
}

export function jobRunner(): JobRunner {
  const logs: string[] = [];
  const lease = new ModelLease({ log: (m) => logs.push(m) });
  const ctx: JobContext = {
    signal: new AbortController().signal,
    progress: () => {},
    log: (level, message) => logs.push(`${level}: ${message}`),
    openModel: (ref) => lease.open(ref),
    releaseModel: () => lease.release(),
  };
  return {
    logs,
    async run(name, params) {
      const p = JOBS[name].params.parse(params);
      return (HANDLERS[name] as (p: unknown, c: JobContext) => Promise<never>)(p, ctx);
    },
    release: () => lease.release(),
  };
}
