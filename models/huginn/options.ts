/**
 * What a huginn graph is built for besides its weights: how many times the core block runs
 * (`num_steps`) and how the latent state starts. Both change what every hook index means or
 * holds, so they are part of the graph's cache key and are recorded in every cache and run
 * (GraphSpec.options).
 *
 * Unrolled depth: block l of the graph is
 *   l < P                      prelude block l
 *   l = P + n·r + j            core block j in recurrence r   (0 ≤ j < n, 0 ≤ r < num_steps)
 *   l = P + n·num_steps + i    coda block i
 * so huginn-0125 (P = 2, n = 4, 2 coda) at num_steps 32 has 132 blocks and block 66 is core block 0
 * in recurrence 16 — the seed's layer 66.
 */
import type { BlockInfo } from '../graph/spec';
import type { HuginnConfig } from './checkpoint';

/**
 * - `zeros`: s₀ = 0, so every run is deterministic (LayerLab's default).
 * - `random`: the original's s₀ — normal samples truncated at ±3σ, σ = init_values.std, times the
 *   embedding scale — drawn from a recorded seed. The original draws fresh samples on every
 *   forward call; LayerLab draws one fixed row per position from the seed, so a run is
 *   reproducible, a cached decoding step equals recomputing the sequence, and a row's values do
 *   not depend on its batch or padding.
 */
export type HuginnStateInit = 'zeros' | 'random';
export const HUGINN_STATE_INITS: readonly HuginnStateInit[] = ['zeros', 'random'];

export interface HuginnRunOptions {
  numSteps: number;
  stateInit: HuginnStateInit;
  /** Seed of the random initial state (used only with stateInit 'random'). */
  stateSeed: number;
}

/**
 * The graph is unrolled, so its size grows with num_steps (2·4·num_steps+… hook points and KV
 * caches); beyond a few hundred steps the graph, not the model, is the problem. The paper's
 * curves saturate by 64.
 */
export const MAX_NUM_STEPS = 512;

/** num_steps when none is given: the config's mean_recurrence (32 for huginn-0125), as the original's eval mode. */
export function defaultNumSteps(c: Pick<HuginnConfig, 'meanRecurrence'>): number {
  return c.meanRecurrence;
}

/** Options as a user gives them (CLI flags, API); resolveHuginnOptions checks and completes them. */
export interface HuginnOptionsInput {
  numSteps?: number;
  stateInit?: string;
  stateSeed?: number;
}

/** Fills defaults and checks values; the messages name the CLI flags. */
export function resolveHuginnOptions(c: Pick<HuginnConfig, 'meanRecurrence'>, given: HuginnOptionsInput = {}): HuginnRunOptions {
  const numSteps = given.numSteps ?? defaultNumSteps(c);
  if (!Number.isInteger(numSteps) || numSteps < 0 || numSteps > MAX_NUM_STEPS) {
    throw new RangeError(`--num_steps must be an integer from 0 to ${MAX_NUM_STEPS}, got ${numSteps}`);
  }
  const stateInit = (given.stateInit ?? 'zeros') as HuginnStateInit;
  if (!HUGINN_STATE_INITS.includes(stateInit)) {
    throw new RangeError(`--state_init must be ${HUGINN_STATE_INITS.join(' or ')}, got '${given.stateInit}'`);
  }
  const stateSeed = given.stateSeed ?? 0;
  if (!Number.isSafeInteger(stateSeed) || stateSeed < 0 || stateSeed > 0xffffffff) {
    throw new RangeError(`--state_seed must be an integer from 0 to 4294967295, got ${stateSeed}`);
  }
  if (given.stateSeed !== undefined && stateInit !== 'random') {
    throw new RangeError('--state_seed only applies with --state_init random');
  }
  return { numSteps, stateInit, stateSeed };
}

/** The options as recorded in GraphSpec.options (and so in caches and runs). The seed only when it matters. */
export function huginnOptionsRecord(o: HuginnRunOptions): Record<string, number | string> {
  return o.stateInit === 'random'
    ? { num_steps: o.numSteps, state_init: 'random', state_seed: o.stateSeed }
    : { num_steps: o.numSteps, state_init: 'zeros' };
}

export interface HuginnLayout {
  nPrelude: number;
  nCore: number;
  nCoda: number;
  numSteps: number;
}

export function huginnBlockCount(l: HuginnLayout): number {
  return l.nPrelude + l.nCore * l.numSteps + l.nCoda;
}

/** Unrolled index of core block j in recurrence r. */
export function huginnCoreIndex(l: HuginnLayout, r: number, j: number): number {
  if (!(r >= 0 && r < l.numSteps && j >= 0 && j < l.nCore)) throw new RangeError(`no core block ${j} in recurrence ${r} (num_steps ${l.numSteps}, ${l.nCore} core blocks)`);
  return l.nPrelude + l.nCore * r + j;
}

/** Where unrolled block `index` sits: part, its index in the part, and for core blocks the recurrence. */
export function huginnBlockAt(l: HuginnLayout, index: number): { part: 'prelude' | 'core' | 'coda'; block: number; recurrence?: number } {
  const n = huginnBlockCount(l);
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new RangeError(`block ${index} is out of range 0..${n - 1}`);
  if (index < l.nPrelude) return { part: 'prelude', block: index };
  const k = index - l.nPrelude;
  if (k < l.nCore * l.numSteps) return { part: 'core', block: k % l.nCore, recurrence: Math.floor(k / l.nCore) };
  return { part: 'coda', block: k - l.nCore * l.numSteps };
}

/** The block list of the spec: `prelude i`, `core block j, recurrence r`, `coda i`. */
export function huginnBlocks(l: HuginnLayout): BlockInfo[] {
  return Array.from({ length: huginnBlockCount(l) }, (_, index) => {
    const at = huginnBlockAt(l, index);
    const label = at.part === 'core' ? `core block ${at.block}, recurrence ${at.recurrence}` : `${at.part} ${at.block}`;
    return { index, part: at.part, label };
  });
}
