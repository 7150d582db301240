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
import type { JobDefinition } from './job';
import { demoJob } from './jobs/demo';
import { generateJob } from './jobs/generate';

export const JOBS: Partial<Record<JobName, JobDefinition>> = {
  generate: generateJob,
  // Replaced by the full pipeline (cache → directions → evaluate → chart) when it exists.
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
