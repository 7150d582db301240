/**
 * The rules annotator on hand-written chains: every category, the precedence when one sentence
 * holds phrases of two categories, sentence and tag boundaries, whole-word matching, and offsets in
 * code points on text with accents, CJK and emoji (checked with Array.from, which splits strings by
 * code point independently of LayerLab's conversion).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkOverlaps, type Span } from '../../runtime/protocol/thinking';
import { classifySentence, ruleSpans, sentences } from '../../runtime/thinking/rules';

/** The spans as [text they cover, category], the text cut by code points. */
function covered(text: string, spans: Span[]): [string, string][] {
  const cps = Array.from(text);
  return spans.map((s) => [cps.slice(s.start, s.end).join(''), s.category]);
}

describe('rules annotator', () => {
  test('one sentence per category, each found with its category', () => {
    const text =
      '<think>\nOkay, so the problem asks how many sheep are left. ' +
      'All but 9 run away, therefore 9 remain. ' +
      'I recall that "all but" means "except". ' +
      'For example, with 10 sheep and all but 3, 3 are left. ' +
      "I'm not sure the farmer counts the lost ones. " +
      'Wait, the question is only about the ones left.\n</think>\nThe answer is 9.';
    const spans = ruleSpans('c1', text);
    assert.deepEqual(covered(text, spans), [
      ['Okay, so the problem asks how many sheep are left.', 'initializing'],
      ['All but 9 run away, therefore 9 remain.', 'deduction'],
      ['I recall that "all but" means "except".', 'adding-knowledge'],
      ['For example, with 10 sheep and all but 3, 3 are left.', 'example-testing'],
      ["I'm not sure the farmer counts the lost ones.", 'uncertainty-estimation'],
      ['Wait, the question is only about the ones left.', 'backtracking'],
    ]);
    assert.ok(spans.every((s) => s.chain === 'c1'));
  });

  test('two categories in one sentence: the earliest phrase wins, then the precedence list', () => {
    // "maybe" (uncertainty) starts before "so" (deduction).
    assert.equal(classifySentence('Maybe it is 4, so the sum is even.', 0, 34), 'uncertainty-estimation');
    // "so" (deduction) starts before "maybe".
    assert.equal(classifySentence('So maybe it is 4.', 0, 17), 'deduction');
    // "Hmm" (uncertainty) starts before "wait" (backtracking), though backtracking has precedence.
    assert.equal(classifySentence('Hmm, wait.', 0, 10), 'uncertainty-estimation');
    // The same character starts phrases of two categories: "let me try again" (backtracking)
    // and "let me try" (example testing) both start at 0; backtracking comes first in PRECEDENCE.
    assert.equal(classifySentence('Let me try again with 5.', 0, 24), 'backtracking');
    assert.equal(classifySentence('Let me try 5.', 0, 13), 'example-testing');
  });

  test('spans never overlap, tags and white space are outside them, unlabelled sentences are skipped', () => {
    const text = '  <think>So it is 3.\n\nThe sky is blue.</think>Therefore 3.  ';
    const spans = ruleSpans('x', text);
    assert.deepEqual(covered(text, spans), [
      ['So it is 3.', 'deduction'],
      ['Therefore 3.', 'deduction'],
    ]);
    checkOverlaps(spans.map((s, i) => ({ ...s, line: i + 1 })), 'test');
    assert.deepEqual(sentences('a.b. c!d? e\nf').map(([s, e]) => 'a.b. c!d? e\nf'.slice(s, e)), ['a.b.', 'c!d?', 'e', 'f']);
  });

  test('phrases match whole words only, in any case, across line-internal white space', () => {
    assert.equal(classifySentence('The seasons change.', 0, 19), undefined, '"so" inside "seasons" is not a phrase');
    assert.equal(classifySentence('THEREFORE it holds.', 0, 19), 'deduction');
    assert.equal(classifySentence('For   example, 2.', 0, 17), 'example-testing');
    assert.equal(classifySentence('Also fine.', 0, 10), undefined, '"so" inside "Also"');
    assert.equal(classifySentence('Sowait.', 0, 7), undefined);
    assert.equal(classifySentence('Ésoñar so.', 0, 10), 'deduction', 'a letter outside ASCII before a phrase is part of the word; the later "so" matches');
  });

  test('offsets are code points in text with accents, CJK and emoji', () => {
    const text = 'Café ☕ 😀😀 très bien. 所以 peut-être, maybe 4 🎲. Wait, non 😅! Therefore 4.';
    const spans = ruleSpans('m', text);
    assert.deepEqual(covered(text, spans), [
      ['所以 peut-être, maybe 4 🎲.', 'uncertainty-estimation'],
      ['Wait, non 😅!', 'backtracking'],
      ['Therefore 4.', 'deduction'],
    ]);
    // Code points, not UTF-16 units: the emoji before the first span count once each.
    const first = spans[0]!;
    assert.equal(first.start, Array.from('Café ☕ 😀😀 très bien. ').length);
    assert.notEqual(first.start, 'Café ☕ 😀😀 très bien. '.length, 'UTF-16 length differs (the test would not discriminate otherwise)');
    assert.equal(spans.at(-1)!.end, Array.from(text).length);
  });
});
