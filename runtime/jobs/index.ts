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
import {
  annotateHandler,
  behaviourVectorsHandler,
  generateChainsHandler,
  layerEffectsHandler,
  llama2cToHfHandler,
  serveHandler,
  steerEvalHandler,
} from './thinking';

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
  'generate-chains': generateChainsHandler,
  annotate: annotateHandler,
  'behaviour-vectors': behaviourVectorsHandler,
  'layer-effects': layerEffectsHandler,
  'steer-eval': steerEvalHandler,
  serve: serveHandler,
  'llama2c-to-hf': llama2cToHfHandler,
};

export type { JobContext, JobHandler } from './context';
