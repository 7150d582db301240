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

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
  const u = mulberry32(rowSeed(seed, position));
  const out = new Float32Array(d);
  let i = 0;
  while (i < d) {
    const u1 = 1 - u(); // (0, 1], so the log is finite
    const u2 = u();
    const r = Math.sqrt(-2 * Math.log(u1));
    for (const z of [r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)]) {
      if (i < d && Math.abs(z) <= 3) out[i++] = z;
    }
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
