/**
 * The one seeded PRNG of LayerLab. A hand-written generator (not Math.random) because seeds are
 * recorded in caches, run files and generated checkpoints: "200 records with seed 0", a demo
 * model's weights or huginn's random initial state must come out the same on every machine,
 * Node version and LayerLab version. The sequence is pinned by tests; never change it.
 *
 * This folder (models/common/) holds leaf helpers with no LayerLab imports, so that every other
 * folder may use them (scripts/check-imports.mjs lets datasets/ import models/common/ too).
 */

/** A user's seed as the 32 bits the generators use; refuses non-integers (1.5 is a typo, not a seed). */
export function seed32(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return seed >>> 0;
}

/**
 * mulberry32: a 32-bit-state generator, uniform enough for shuffling and sampling and fully
 * specified by its seed. Returns floats in [0, 1). The seed must be an integer; it is used
 * modulo 2^32.
 */
export function mulberry32(seed: number): () => number {
  let a = seed32(seed);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Standard normal samples from a uniform stream by Box–Muller, both outputs used (cos, then
 * sin). Only integer arithmetic and V8's fdlibm-based log/cos/sin are involved, so a seeded
 * stream gives the same floats on every machine.
 */
export function normalStream(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u1 = 1 - uniform(); // (0, 1], so the log is finite
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}
