/**
 * One typed handler per job (runtime/protocol/jobs.ts defines each job's params and result).
 * The runtime server and the CLI look handlers up here and nowhere else.
 */
import type { JobName } from '../protocol/jobs';
import { computeDirectionsHandler } from './computeDirections';
import type { JobHandler } from './context';
import { demoHandler } from './demo';
import { evaluateHandler, sweepHandler } from './evaluate';
import { generateHandler } from './generate';
import { checkModelHandler, infoHandler, inspectCacheHandler } from './info';
import { logitLensHandler, projectionHandler, steerCompareHandler, steerVectorHandler, traceHandler } from './probe';
import { saveHiddenStatesHandler } from './saveHiddenStates';
import { mergeHandler, slurmScriptHandler } from './shards';

export type JobHandlers = { [N in JobName]: JobHandler<N> };

export const HANDLERS: JobHandlers = {
  'save-hidden-states': saveHiddenStatesHandler,
  'compute-directions': computeDirectionsHandler,
  evaluate: evaluateHandler,
  sweep: sweepHandler,
  demo: demoHandler,
  generate: generateHandler,
  info: infoHandler,
  'check-model': checkModelHandler,
  'inspect-cache': inspectCacheHandler,
  merge: mergeHandler,
  'slurm-script': slurmScriptHandler,
  trace: traceHandler,
  'logit-lens': logitLensHandler,
  projection: projectionHandler,
  'steer-compare': steerCompareHandler,
  'steer-vector': steerVectorHandler,
};

export type { JobContext, JobHandler } from './context';
