// summariseDemo (runtime/demoSummary.ts) on hand-made run and statistics files: which result
// counts as moved, how each is matched with its random control, what the lines say.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseDemo } from '../../runtime/demoSummary';
import type { Accuracy, DirectionStatsFile, InterventionResult, InterventionSpec, RunFile } from '../../runtime/protocol/results';

/** An accuracy with a hand-picked interval (the summary only compares numbers). */
const acc = (correct: number, total: number, lo: number, hi: number): Accuracy => ({ correct, total, unparsed: 0, accuracy: correct / total, ci95: [lo, hi] });

function result(spec: Partial<InterventionSpec> & Pick<InterventionSpec, 'id' | 'kind'>, reasoning: Accuracy, memorization: Accuracy): InterventionResult {
  return {
    intervention: { hook: 'hook_resid_post', layers: [0], scale: -1, alpha: 0, ...spec },
    summary: { reasoning, memorization }, items: [], seconds: 0,
  };
}

const base = result({ id: 'baseline', kind: 'none', hook: null, layers: [] }, acc(40, 50, 0.67, 0.89), acc(45, 50, 0.79, 0.96));
const stats = {
  layers: [
    { hook: 'blocks.0.hook_resid_post', block: 0, heldOut: { n: 100, auc: 0.91 } },
    { hook: 'blocks.1.hook_resid_post', block: 1, heldOut: { n: 100, auc: 0.97 } },
    { hook: 'blocks.2.hook_resid_post', block: 2, heldOut: { n: 100, auc: 0.97 } },
  ],
} as unknown as DirectionStatsFile;
const runOf = (results: InterventionResult[]) => ({ results } as unknown as RunFile);

describe('summariseDemo', () => {
  test('a drop outside the interval with a quiet control is the headline; the best held-out AUC is the earliest of ties', () => {
    const s = summariseDemo(runOf([
      base,
      // reasoning 0.8 is outside [0.2, 0.46]: moved; memorization 0.9 is inside [0.8, 0.97]: not.
      result({ id: 'post@0 scale=-1', kind: 'direction' }, acc(16, 50, 0.2, 0.46), acc(46, 50, 0.8, 0.97)),
      // a smaller move, at another block
      result({ id: 'post@1 scale=-1', kind: 'direction', layers: [1] }, acc(30, 50, 0.46, 0.73), acc(45, 50, 0.79, 0.96)),
      result({ id: 'random#0 post@0 scale=-1', kind: 'random-direction', randomIndex: 0 }, acc(41, 50, 0.69, 0.9), acc(45, 50, 0.79, 0.96)),
      result({ id: 'random#0 post@1 scale=-1', kind: 'random-direction', layers: [1], randomIndex: 0 }, acc(39, 50, 0.65, 0.88), acc(44, 50, 0.76, 0.95)),
    ]), stats);
    assert.deepEqual(s.bestSeparation, { hook: 'blocks.1.hook_resid_post', block: 1, heldOutAuc: 0.97, n: 100 });
    assert.equal(s.findings.length, 4);
    assert.deepEqual(s.findings.map((f) => [f.intervention, f.subset, f.moved, f.control?.intervention, f.control?.moved]), [
      ['post@0 scale=-1', 'reasoning', true, 'random#0 post@0 scale=-1', false],
      ['post@0 scale=-1', 'memorization', false, 'random#0 post@0 scale=-1', false],
      ['post@1 scale=-1', 'reasoning', true, 'random#0 post@1 scale=-1', false],
      ['post@1 scale=-1', 'memorization', false, 'random#0 post@1 scale=-1', false],
    ]);
    assert.equal(s.headline?.intervention, 'post@0 scale=-1');
    assert.equal(s.headline?.subset, 'reasoning');
    assert.equal(s.lines[1], 'The reasoning-minus-memorization direction separates the two kinds best at blocks.1.hook_resid_post: AUC 0.970 on 100 held-out questions the direction was not computed from.');
    assert.match(s.lines[2]!, /^Largest effect: projecting the direction out of block 0's output changed reasoning accuracy from 80% to 32% \(16\/50, 95% CI 20%–46%\)/);
    assert.match(s.lines[2]!, /gave 82% \(41\/50, 95% CI 69%–90%\), which includes the baseline\.$/);
    assert.equal(s.lines[3], '2 of 4 (intervention, subset) results along the direction moved accuracy beyond its 95% interval; 0 of 4 matched random controls did.');
  });

  test('an effect whose control moves too is no headline, and the summary says there is no specific effect', () => {
    const s = summariseDemo(runOf([
      base,
      result({ id: 'post@0 scale=4', kind: 'direction', scale: 4 }, acc(10, 50, 0.11, 0.33), acc(45, 50, 0.79, 0.96)),
      result({ id: 'random#0 post@0 scale=4', kind: 'random-direction', scale: 4, randomIndex: 0 }, acc(12, 50, 0.14, 0.37), acc(45, 50, 0.79, 0.96)),
      // A control at another grid point is not this one's match.
      result({ id: 'random#0 post@0 scale=-1', kind: 'random-direction', scale: -1, randomIndex: 0 }, acc(40, 50, 0.67, 0.89), acc(45, 50, 0.79, 0.96)),
    ]), stats);
    assert.equal(s.findings[0]!.control?.intervention, 'random#0 post@0 scale=4');
    assert.equal(s.findings[0]!.moved, true);
    assert.equal(s.findings[0]!.control?.moved, true);
    assert.equal(s.headline, null);
    assert.equal(s.lines.at(-1), 'No intervention along the direction moved accuracy while its random control did not: this run shows no specific effect.');
    assert.match(s.lines.join('\n'), /1 of 2 matched random controls did/);
  });
});
