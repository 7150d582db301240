import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auc, cohensD, pearson } from '../../runtime/analysis/stats';

test('AUC against hand-counted pairs, with ties as one half', () => {
  // pairs (p > n): 3>1,3>2, 5>1,5>2,5>4, 2=2 tie → (2 + 3 + 0.5) / 6 ... pos [3,5,2], neg [1,2,4]
  // 3: beats 1,2 (2); 5: beats 1,2,4 (3); 2: beats 1 (1), ties 2 (0.5) → 6.5 / 9
  assert.equal(auc([3, 5, 2], [1, 2, 4]), 6.5 / 9);
  assert.equal(auc([10, 11], [1, 2]), 1);
  assert.equal(auc([1, 2], [10, 11]), 0);
});

test("Cohen's d and Pearson r against hand-computed values", () => {
  // a: mean 2, var 1; b: mean 0, var 1 → pooled sd 1 → d = 2
  assert.ok(Math.abs(cohensD([1, 2, 3], [-1, 0, 1]) - 2) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8]) - 1) < 1e-12);
  // x=[1,2,3], y=[1,3,2]: sxy = (-1)(-1)+0+1*0 = 1, sxx=2, syy=2 → r = 0.5
  assert.ok(Math.abs(pearson([1, 2, 3], [1, 3, 2]) - 0.5) < 1e-12);
});
