// Answer extraction and scoring: realistic generations, the seed's exact regex semantics, GSM8K
// numbers, PopQA aliases, and the Wilson interval against hand-computed values.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { extractChoice, extractNumber, matchAlias, scoreItem, scoreModeOf, wilson, type QARecord } from '../../datasets';

describe('multiple-choice extraction (seed regex `answer is \\(?([A-J])\\)?`, first match)', () => {
  const cases: [string, string | null][] = [
    ["Let's think step by step. 2 + 2 = 4, which is option B. The answer is (B).", 'B'],
    ['The answer is B.', 'B'],
    ['the answer is (J)', 'J'],
    ['So the answer is C, because the others are wrong.', 'C'],
    ['I think the answer is (A). Wait, no: the answer is (C).', 'A'], // first wins, as re.search
    ['The correct answer is (D)', 'D'],
    ['Therefore, the final answer is (E).', 'E'],
    ['answer is(F)', null], // the seed needs the space after "is"
    ['answer is F)', 'F'],
    ['The answer is (K).', null], // outside A..J
    ['Answer is B', null], // case-sensitive "answer is": capital A does not match
    ['ANSWER IS B', null],
    ['The answer is (b).', null], // lowercase letters do not match
    ['The answer is Alice.', 'A'], // no word boundary in the seed regex: kept for comparability
    ['(B)', null],
    ['The answer: B', null],
    ['', null],
    ['Q: ... A: The answer is (H).\n\nQ: next question... The answer is (A).', 'H'],
  ];
  for (const [text, want] of cases) {
    test(JSON.stringify(text), () => assert.deepEqual(extractChoice(text), { parsed: want }));
  }

  test('lenient mode: any case of "answer is", optional colon, whole letters only', () => {
    assert.equal(extractChoice('Answer is B', { lenient: true }).parsed, 'B');
    assert.equal(extractChoice('ANSWER IS (C)', { lenient: true }).parsed, 'C');
    assert.equal(extractChoice('The answer is: D', { lenient: true }).parsed, 'D');
    assert.equal(extractChoice('The answer is Alice.', { lenient: true }).parsed, null);
    assert.equal(extractChoice('the answer is a tricky one; the answer is (G)', { lenient: true }).parsed, 'G');
  });
});

describe('GSM8K number extraction', () => {
  const cases: [string, string | null, 'final-answer' | 'last-number' | null][] = [
    ['16 - 3 - 4 = 9 eggs, 9 * 2 = 18. The answer is 18. The final answer is 18.', '18', 'final-answer'],
    ['The final answer is 1,250.', '1250', 'final-answer'],
    ['The final answer is $18.00', '18', 'final-answer'],
    ['The final answer is 3.5 hours.', '3.5', 'final-answer'],
    ['The final answer is -7.', '-7', 'final-answer'],
    ['The final answer is 12. Then more text with 99.', '12', 'final-answer'], // first statement wins
    ['She has 5 apples, then 3 more, so 8 apples.', '8', 'last-number'],
    ['It costs $1,200 in total', '1200', 'last-number'],
    ['no numbers here', null, null],
    ['The final answer is unknown, maybe 42', '42', 'last-number'],
  ];
  for (const [text, parsed, method] of cases) {
    test(JSON.stringify(text), () => assert.deepEqual(extractNumber(text), { parsed, method }));
  }
});

describe('scoreItem', () => {
  const mc: QARecord = { id: '1', index: 0, question: 'q', options: ['a', 'b', 'c', 'd'], answer: 'C' };
  const gsm: QARecord = { id: '2', index: 1, question: 'q', options: [], answer: '2125' };
  const pop: QARecord = { id: '3', index: 2, question: 'What is the capital of Var?', options: [], aliases: ['Toulon', 'Port-la-Montagne'] };

  test('choice', () => {
    assert.equal(scoreModeOf(mc), 'choice');
    assert.deepEqual(scoreItem(mc, 'The answer is (C).'), { parsed: 'C', correct: true, unparsed: false });
    assert.deepEqual(scoreItem(mc, 'The answer is (A).'), { parsed: 'A', correct: false, unparsed: false });
    assert.deepEqual(scoreItem(mc, 'I am not sure.'), { parsed: null, correct: false, unparsed: true });
    assert.deepEqual(scoreItem(mc, 'Answer is C', { lenient: true }), { parsed: 'C', correct: true, unparsed: false });
  });

  test('number', () => {
    assert.equal(scoreModeOf(gsm), 'number');
    assert.deepEqual(scoreItem(gsm, 'The final answer is 2,125.'), { parsed: '2125', correct: true, unparsed: false });
    assert.deepEqual(scoreItem(gsm, 'so 2125.0 in total'), { parsed: '2125', correct: true, unparsed: false });
    assert.deepEqual(scoreItem(gsm, 'The final answer is 2124.'), { parsed: '2124', correct: false, unparsed: false });
    assert.deepEqual(scoreItem(gsm, 'no idea'), { parsed: null, correct: false, unparsed: true });
  });

  test('alias (case-insensitive substring, any alias)', () => {
    assert.equal(scoreModeOf(pop), 'alias');
    assert.deepEqual(scoreItem(pop, ' toulon, in the south of France.'), { parsed: 'Toulon', correct: true, unparsed: false });
    assert.deepEqual(scoreItem(pop, 'It was once called PORT-LA-MONTAGNE'), { parsed: 'Port-la-Montagne', correct: true, unparsed: false });
    assert.deepEqual(scoreItem(pop, 'Marseille'), { parsed: null, correct: false, unparsed: false });
    assert.equal(matchAlias('anything', ['', '  ']), null, 'empty aliases never match');
  });

  test('a record with nothing to score against', () => {
    assert.throws(() => scoreItem({ id: 'x', index: 0, question: 'q', options: [] }, 'text'), /cannot be scored/);
  });
});

describe('Wilson 95% interval', () => {
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 5e-5, `${a} vs ${b}`);
  // Hand-computed: center = (p + z²/2n)/(1 + z²/n), half = z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n), z = 1.96.
  const cases: [number, number, number, number][] = [
    [8, 10, 0.4902, 0.9433],
    [0, 10, 0, 0.2775],
    [10, 10, 0.7225, 1],
    [50, 100, 0.4038, 0.5962],
    [1, 2, 0.0945, 0.9055],
    [606, 1586, 0.3585, 0.4063],
  ];
  for (const [c, n, lo, hi] of cases) {
    test(`c=${c}, n=${n} → [${lo}, ${hi}]`, () => {
      const w = wilson(c, n);
      near(w.lo, lo);
      near(w.hi, hi);
      assert.equal(w.p, c / n);
    });
  }
  test('n = 0 and bad input', () => {
    const w = wilson(0, 0);
    assert.ok(Number.isNaN(w.p));
    assert.deepEqual([w.lo, w.hi], [0, 1]);
    assert.throws(() => wilson(3, 2), RangeError);
    assert.throws(() => wilson(1.5, 2), RangeError);
  });
});
