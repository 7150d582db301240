/**
 * The random initial latent state of huginn, made reproducible. The original draws
 * `trunc_normal(std=σ, a=−3σ, b=3σ) · embed_scale` afresh for every position of every forward
 * call. LayerLab draws row `t` (the state of position t) from its own stream seeded by
 * (seed, t): the same distribution, but a pure function of the seed and the position, so the
 * table of rows can be written once into the graph's weights and looked up by position id.
 *
 * Pure integer PRNG (mulberry32) plus Box-Muller through V8's fdlibm-based Math.log/cos/sin, so
 * the rows are identical on every machine.
 */
import { mulberry32, normalStream } from '../common/prng';

/** Mixes the user's seed with the position into one 32-bit stream seed (splitmix-style finaliser). */
function rowSeed(seed: number, position: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(position + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * `d` standard-normal samples conditioned on |z| ≤ 3 (rejection: 99.73 % of draws are kept),
 * the unit-σ version of the original's truncated normal, for position `position`.
 */
export function truncatedNormalRow(seed: number, position: number, d: number): Float32Array {
  const z = normalStream(mulberry32(rowSeed(seed, position)));
  const out = new Float32Array(d);
  for (let i = 0; i < d; ) {
    const x = z();
    if (Math.abs(x) <= 3) out[i++] = x;
  }
  return out;
}

/** Rows 0..positions−1 of the initial state, each `truncatedNormalRow · scale` ([positions, d] row-major). */
export function huginnStateTable(seed: number, positions: number, d: number, scale: number): Float32Array {
  const table = new Float32Array(positions * d);
  for (let t = 0; t < positions; t++) {
    const row = truncatedNormalRow(seed, t, d);
    for (let j = 0; j < d; j++) table[t * d + j] = row[j] * scale;
  }
  return table;
}
