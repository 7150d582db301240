/**
 * The steering methods' formulas (runtime/protocol/steering.ts) on vectors whose results are
 * worked out by hand below, and their reduction to the model's edit terms: the edit graph's own
 * formula (scale·(x·d̂)·d̂ + add + rotation, written out here independently) applied to the
 * reduced terms gives the method's result.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { editTerms, steeredState, STEER_METHODS, type SteerAt } from '../../runtime/protocol/steering';

function close(got: ArrayLike<number>, want: number[], what: string, tol = 1e-12): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe('steering formulas, by hand', () => {
  // x = (3, 4, 0): ‖x‖ = 5. u = (2, 0, 0): d̂ = (1, 0, 0), a = x·d̂ = 3.
  const x = [3, 4, 0];
  const u = [2, 0, 0];

  test('add: x + s·u, and with norm relative x + s·m·d̂', () => {
    close(steeredState(x, { method: 'add', strength: 1.5, vector: u }), [6, 4, 0], 'add');
    close(steeredState(x, { method: 'add', strength: 0.5, vector: u, norm: 'relative', meanNorm: 10 }), [8, 4, 0], 'add relative');
  });

  test('project: x + s·a·d̂ (the seed\u2019s scale), ablate: x − s·a·d̂', () => {
    close(steeredState(x, { method: 'project', strength: 2, vector: u }), [9, 4, 0], 'project');
    close(steeredState(x, { method: 'project', strength: -1, vector: u }), [0, 4, 0], 'project −1');
    close(steeredState(x, { method: 'ablate', strength: 1, vector: u }), [0, 4, 0], 'ablate');
    close(steeredState(x, { method: 'ablate', strength: 0.5, vector: u }), [1.5, 4, 0], 'ablate half');
  });

  test('affine: the projection moves to the target t (s = 1), part of the way (s < 1), t in units of m when relative', () => {
    close(steeredState(x, { method: 'affine', strength: 1, vector: u, target: -2 }), [-2, 4, 0], 'affine');
    close(steeredState(x, { method: 'affine', strength: 0.5, vector: u, target: -2 }), [0.5, 4, 0], 'affine half way');
    close(steeredState(x, { method: 'affine', strength: 1, vector: u, target: 0.2, norm: 'relative', meanNorm: 10 }), [2, 4, 0], 'affine relative');
  });

  test('angular: x turns towards d̂ by s degrees in the plane of x and d̂, keeping ‖x‖', () => {
    // x = (3, 4, 0) is at atan2(4, 3) = 53.13° from d̂ = (1, 0, 0); turning it by that angle
    // lands on d̂·‖x‖ = (5, 0, 0); by 90° more than that, on (0, −5, 0).
    const phi = (Math.atan2(4, 3) * 180) / Math.PI;
    close(steeredState(x, { method: 'angular', strength: phi, vector: u }), [5, 0, 0], 'to d̂', 1e-12);
    close(steeredState(x, { method: 'angular', strength: phi + 90, vector: u }), [0, -5, 0], 'past d̂', 1e-12);
    // 90° away from d̂ (negative strength): (3,4)/5 rotated by −90° in the (d̂, ê) plane, ê = (0,1,0).
    close(steeredState(x, { method: 'angular', strength: -90, vector: u }), [-4, 3, 0], 'away', 1e-12);
    // Along d̂ there is no plane: x stays.
    close(steeredState([7, 0, 0], { method: 'angular', strength: 30, vector: u }), [7, 0, 0], 'parallel');
  });

  test('strength 0 returns x for every method', () => {
    for (const method of STEER_METHODS) close(steeredState(x, { method, strength: 0, vector: u, target: 5 }), x, method);
  });
});

/** The edit graph's formula (models/graph/layers.ts hookPoint), written out on its own. */
function applyEditTerms(x: number[], t: ReturnType<typeof editTerms>): number[] {
  const d = t.direction ? Array.from(t.direction) : x.map(() => 0);
  const a = x.reduce((s, xi, i) => s + xi * d[i]!, 0);
  const n2 = x.reduce((s, xi) => s + xi * xi, 0);
  const r2 = n2 - a * a;
  const th = t.rotate ?? 0;
  const planar = r2 > 1e-6 * n2;
  const invR = planar ? 1 / Math.sqrt(r2) : 0;
  const xCoef = (planar ? Math.cos(th) - 1 : 0) - Math.sin(th) * invR * a;
  const dCoef = Math.sin(th) * invR * n2;
  return x.map((xi, i) => xi + t.scale * a * d[i]! + (t.add ? t.add[i]! : 0) + xCoef * xi + dCoef * d[i]!);
}

describe('each method reduces to the edit terms of the one edit graph', () => {
  const x = [0.3, -1.2, 2.5, 0.7];
  const u = [1.5, 0.5, -2, 1];
  const cases: SteerAt[] = [
    { method: 'add', strength: 3, vector: u },
    { method: 'add', strength: 0.25, vector: u, norm: 'relative', meanNorm: 4 },
    { method: 'project', strength: -0.4, vector: u },
    { method: 'ablate', strength: 1, vector: u },
    { method: 'affine', strength: 1, vector: u, target: 1.7 },
    { method: 'affine', strength: 0.6, vector: u, target: -0.5, norm: 'relative', meanNorm: 2 },
    { method: 'angular', strength: 35, vector: u },
    { method: 'angular', strength: -120, vector: u },
  ];
  for (const c of cases) {
    test(`${c.method} s=${c.strength}${c.norm === 'relative' ? ' relative' : ''}`, () => {
      // Float32 terms, so float32 rounding is the only difference.
      close(applyEditTerms(x, editTerms(c)), Array.from(steeredState(x, c)), c.method, 1e-6);
    });
  }

  test('zero strength is no edit at all (so the model runs its all-zero edit inputs)', () => {
    for (const method of STEER_METHODS) assert.deepEqual(editTerms({ method, strength: 0, vector: u, target: 3 }), { scale: 0 }, method);
  });

  test('a zero vector cannot give a direction', () => {
    assert.throws(() => editTerms({ method: 'project', strength: 1, vector: [0, 0, 0, 0] }), /needs a direction/);
  });
});
