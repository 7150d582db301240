// Deterministic, seeded sampling over the shared PRNG (models/common/prng.ts), so that "200
// records with seed 0" names the same records on every machine, Node version and run, which is
// what lets a cache or a run file record its sample as (seed, n) and be re-created exactly.

import { mulberry32, seed32 } from '../models/common/prng';
import type { QARecord, Subset } from './records';

/** A uniform integer in [0, n). */
function below(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

/** The first k positions of a seeded Fisher–Yates shuffle of 0..n-1 (a uniform k-subset, in draw order). */
export function shuffledIndices(n: number, seed: number, k = n): number[] {
  const rand = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + below(rand, n - i);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, m);
}

function byPosition(a: Pick<QARecord, 'index'>, b: Pick<QARecord, 'index'>): number {
  return a.index - b.index;
}

/**
 * n records drawn without replacement, returned in dataset order (by `index`) so that a sample is
 * a set, not a sequence: batching and cache rows then follow the file. n ≥ the dataset size
 * returns every record.
 */
export function sampleRecords(records: readonly QARecord[], n: number, seed: number): QARecord[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sample size must be a non-negative integer, got ${n}`);
  return shuffledIndices(records.length, seed, n).map((i) => records[i]!).sort(byPosition);
}

export interface Holdout<T = QARecord> {
  train: T[];
  test: T[];
}

/** Strata in a fixed order, so the draw sequence never depends on which label appears first. */
const STRATA: (Subset | undefined)[] = ['reasoning', 'memorization', undefined];

/**
 * Splits records into train (to compute directions from) and test (to evaluate on), stratified by
 * label: each subset contributes round(fraction · size) records to test, so the test set keeps
 * the dataset's reasoning/memorization ratio. This is the held-out split the seed lacked (its 200
 * test records overlapped the records the direction came from). Both halves are in dataset order.
 */
export function splitHoldout<T extends Pick<QARecord, 'label' | 'index'>>(records: readonly T[], fraction: number, seed: number): Holdout<T> {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`holdout fraction must be between 0 and 1 (exclusive), got ${fraction}`);
  const train: T[] = [];
  const test: T[] = [];
  STRATA.forEach((label, s) => {
    const members = records.filter((r) => r.label === label);
    if (members.length === 0) return;
    // One stream per stratum (seed mixed with the stratum number) so that adding unlabeled
    // records, say, does not change which reasoning records are held out.
    const nTest = Math.round(fraction * members.length);
    const picked = new Set(shuffledIndices(members.length, mixSeed(seed, s), nTest));
    members.forEach((r, i) => (picked.has(i) ? test : train).push(r));
  });
  return { train: train.sort(byPosition), test: test.sort(byPosition) };
}

/** A different but deterministic 32-bit seed per stream. */
function mixSeed(seed: number, stream: number): number {
  let h = (seed32(seed) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
