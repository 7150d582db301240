/**
 * What the runtime server can do beyond its built-in requests: the jobs `layerlab/runJob`
 * runs, and who answers `layerlab/listCaches`. Adding a job is one line in JOBS: a CLI command
 * wrapped by cliJob (`'compute-directions': cliJob(computeDirectionsCommand)`), or a handler of
 * its own (job.ts has the contract, jobs/demo.ts an example). The extension learns the list from
 * `initialize` and answers a job the runtime lacks with a clear message.
 */
import * as fs from 'node:fs';
import { inspectCaches } from '../cache/inspect';
import type { JobName } from '../protocol/requests';
import type { CacheEntryInfo } from '../protocol/results';
import { computeDirectionsCommand } from '../cli/computeDirections';
import { evaluateCommand } from '../cli/evaluate';
import { saveHiddenStatesCommand } from '../cli/saveHiddenStates';
import { sweepCommand } from '../cli/sweep';
import { cliJob } from './cliJob';
import type { JobDefinition } from './job';
import { demoJob } from './jobs/demo';
import { generateJob } from './jobs/generate';

export const JOBS: Partial<Record<JobName, JobDefinition>> = {
  'save-hidden-states': cliJob(saveHiddenStatesCommand),
  'compute-directions': cliJob(computeDirectionsCommand),
  evaluate: cliJob(evaluateCommand),
  sweep: cliJob(sweepCommand),
  generate: generateJob,
  // The whole pipeline on the built-in demo model: cache → directions → sweep.
  demo: demoJob,
};

/** Lists the hidden-state caches under a folder (recursively), for the Hidden-State Cache view. */
export type CacheLister = (folder: string, signal: AbortSignal) => Promise<CacheEntryInfo[]>;

/**
 * The cache module's reader. A folder that does not exist yet holds no caches (the view shows
 * its welcome text) rather than being an error. Set to null, `layerlab/listCaches` answers
 * `unavailable` and the extension lists the cache files without details.
 */
export const CACHE_LISTER: CacheLister | null = async (folder) => (fs.existsSync(folder) ? inspectCaches(folder) : []);
