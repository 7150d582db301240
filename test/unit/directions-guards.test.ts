/**
 * compute-directions' guards through the library: cancellable within a slice of work (the async
 * twin yields between hooks and rows), exclusive (a second writer fails before reading
 * anything), and refusing too few records of a label.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireOutputLock, OutputLockedError } from '../../models/common/lock';
import { mulberry32 } from '../../models/common/prng';
import { writeSafetensors } from '../../models/safetensors';
import { computeDirections, computeDirectionsAsync, directionPaths, DirectionsError } from '../../runtime/analysis/directions';
import { CancelledError } from '../../runtime/generate';
import { tmpDir } from '../helpers/tmp';

const dir = tmpDir();

/** A hidden-state cache as save-hidden-states writes it: n records, `hooks` blocks of d random values. */
function fakeCache(name: string, n: number, hooks: number, d: number, labels: (string | null)[]): string {
  const file = path.join(dir, `${name}.safetensors`);
  const r = mulberry32(5);
  const tensors = Array.from({ length: hooks }, (_, h) => ({
    name: `blocks.${h}.hook_resid_post`, dtype: 'F32' as const, shape: [n, d], data: Float32Array.from({ length: n * d }, () => r() - 0.5),
  }));
  writeSafetensors(file, tensors, {
    format: 'layerlab-hidden-states', complete: 'true', rows: String(n), positions: 'last', dtype: 'float32', data_name: name,
    record_ids: JSON.stringify(Array.from({ length: n }, (_, i) => `r${i}`)), labels: JSON.stringify(labels),
  });
  return file;
}

const alternating = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 'reasoning' : 'memorization'));
const big = fakeCache('big', 3000, 24, 256, alternating(3000));

test('the async twin stops within a slice when cancelled, writing nothing and releasing the lock', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  const t0 = Date.now();
  await assert.rejects(computeDirectionsAsync(big, { holdout: 0.2, seed: 0, signal: ac.signal }), CancelledError);
  assert.ok(Date.now() - t0 < 300, `stopped after ${Date.now() - t0} ms`);
  const p = directionPaths(big);
  assert.ok(!fs.existsSync(p.directions) && !fs.existsSync(p.stats) && !fs.existsSync(`${p.directions}.lock`));
  // The same computation, uncancelled, gives what the synchronous one gives.
  const a = await computeDirectionsAsync(big, { holdout: 0.2, seed: 0 });
  const bytes = fs.readFileSync(a.directionsFile);
  computeDirections(big, { holdout: 0.2, seed: 0 });
  assert.ok(fs.readFileSync(a.directionsFile).equals(bytes));
});

test('a second writer of the same directions fails before reading the cache', () => {
  const lock = acquireOutputLock(directionPaths(big).directions, 'directions');
  try {
    const t0 = Date.now();
    assert.throws(() => computeDirections(big, { holdout: 0.2, seed: 0 }), OutputLockedError);
    assert.ok(Date.now() - t0 < 100, 'at once');
  } finally {
    lock.release();
  }
});

test('too few records of a label: refused naming the counts and the minimum', () => {
  const small = fakeCache('small', 9, 2, 8, ['memorization', ...Array.from({ length: 8 }, () => 'reasoning')]);
  assert.throws(() => computeDirections(small, { holdout: 0, seed: 0 }), (e) => {
    assert.ok(e instanceof DirectionsError);
    assert.match(e.message, /the cache has 8 reasoning and 1 memorization records to compute the directions from; at least 2 of each label are needed\. Cache more records of the missing label\. No directions were written\./);
    return true;
  });
  assert.ok(!fs.existsSync(directionPaths(small).directions));
});
