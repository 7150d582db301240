import { inspectCaches } from '../cache/inspect';
import type { JobHandler } from './context';
import { modelInfoOf } from './models';

/** Opens the model (through the lease: "Select Model" in the editor) and describes it. */
export const infoHandler: JobHandler<'info'> = async (p, ctx) => modelInfoOf(await ctx.openModel(p));

export const inspectCacheHandler: JobHandler<'inspect-cache'> = async (p) => ({ caches: inspectCaches(p.target) });
