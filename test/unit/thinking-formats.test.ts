/**
 * The thinking workflow's file formats (runtime/protocol/thinking.ts): code-point offsets, chains
 * whose offsets cannot be their text, annotation spans out of range, mismatching or overlapping —
 * each refused with the file and line — and the model annotator's reply parser.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatasetError } from '../../datasets/jsonl';
import { codePointIndex, codePointLength, parseAnnotations, parseChains, sliceCodePoints, type Chain } from '../../runtime/protocol/thinking';
import { annotationPrompt, chunksOf, parseAnnotatedReply } from '../../runtime/thinking/annotate';

const FILE = '/data/x.annotations.jsonl';

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${e}`);
    assert.match(e.message, re);
    return true;
  });
}

const TEXT = 'So 😀 x. Wait, é!';
const chains = new Map([
  ['a', TEXT],
  ['b', 'Maybe.'],
]);
const line = (o: Record<string, unknown>) => JSON.stringify(o);

describe('code points', () => {
  test('index, length and slices agree with Array.from on astral and combining text', () => {
    for (const s of ['', 'abc', '😀', 'a😀b', 'é', 'e\u0301', '所以😅x', '\ud800lone']) {
      const cps = Array.from(s);
      assert.equal(codePointLength(s), cps.length, s);
      const idx = codePointIndex(s);
      for (let i = 0; i <= cps.length; i++) for (let j = i; j <= cps.length; j++) assert.equal(sliceCodePoints(s, i, j, idx), cps.slice(i, j).join(''));
    }
  });
});

describe('annotation files', () => {
  test('spans in LayerLab\'s and other tools\' spellings, with a header line, are read and checked', () => {
    const text = [
      line({ layerlab: 'annotations', version: 1, chains: '/c.chains.jsonl', chains_hash: 'h', annotator: { kind: 'rules' }, created: 'now' }),
      line({ chain: 'a', start: 0, end: 7, category: 'deduction', text: 'So 😀 x.' }),
      '',
      line({ chain_id: 'a', start: 8, end: 16, label: 'Backtracking' }),
      line({ chain: 'a', start: 8, end: 16, category: 'uncertainty_estimation' }),
      line({ chain: 'b', start: 0, end: 6, category: 'uncertainty estimation', extra: 1 }),
    ].join('\n');
    const r = parseAnnotations(text, FILE, chains);
    assert.equal(r.header?.annotator.kind, 'rules');
    assert.deepEqual(
      r.spans.map((s) => [s.chain, s.start, s.end, s.category, s.line]),
      [
        ['a', 0, 7, 'deduction', 2],
        ['a', 8, 16, 'backtracking', 4],
        ['a', 8, 16, 'uncertainty-estimation', 5],
        ['b', 0, 6, 'uncertainty-estimation', 6],
      ],
    );
  });

  test('a span out of range, empty, of an unknown chain or category is refused with its line', () => {
    const bad = (o: Record<string, unknown>, re: RegExp) => refused(() => parseAnnotations(`${line({ chain: 'b', start: 0, end: 1, category: 'deduction' })}\n${line(o)}\n`, FILE, chains), re);
    bad({ chain: 'a', start: 3, end: 17, category: 'deduction' }, /x\.annotations\.jsonl \(line 2, field "end"\): span \[3, 17\) is out of range: chain "a" has 16 characters/);
    bad({ chain: 'a', start: -1, end: 2, category: 'deduction' }, /line 2, field "start"\): span \[-1, 2\) is out of range/);
    bad({ chain: 'a', start: 4, end: 4, category: 'deduction' }, /line 2, field "start"\): span \[4, 4\) is out of range/);
    bad({ chain: 'zz', start: 0, end: 1, category: 'deduction' }, /line 2, field "chain"\): chain "zz" is not in the chains file/);
    bad({ chain: 'a', start: 0, end: 1, category: 'vibes' }, /line 2, field "category"\): "vibes" is not a behaviour/);
    bad({ chain: 'a', start: 0, end: 1 }, /line 2, field "category"\): names no category/);
    bad({ chain: 'a', start: 0.5, end: 1, category: 'deduction' }, /line 2, field "start"\): is not a span/);
    refused(() => parseAnnotations('{"chain": "a", "start": 0,\n', FILE, chains), /line 1\): is not valid JSON/);
  });

  test('offsets counted in UTF-16 units or bytes are caught by the text the span says it covers', () => {
    // "Wait, é!" starts at code point 8, UTF-16 index 9, byte 11.
    const u = TEXT.indexOf('Wait');
    assert.deepEqual([Array.from(TEXT.slice(0, u)).length, u, Buffer.byteLength(TEXT.slice(0, u))], [8, 9, 11]);
    const ok = line({ chain: 'a', start: 8, end: 16, category: 'backtracking', text: 'Wait, é!' });
    assert.equal(parseAnnotations(ok, FILE, chains).spans.length, 1);
    const utf16 = line({ chain: 'a', start: 9, end: 17, category: 'backtracking', text: 'Wait, é!' });
    refused(() => parseAnnotations(utf16, FILE, chains), /line 1, field "end"\): span \[9, 17\) is out of range/);
    const utf16Short = line({ chain: 'a', start: 9, end: 16, category: 'backtracking', text: 'Wait, é!' });
    refused(() => parseAnnotations(utf16Short, FILE, chains), /line 1, field "text"\): span \[9, 16\) of chain "a" covers "ait, é!", not the "Wait, é!" the line says\. The offsets do not match the text: offsets are code points/);
    const bytes = line({ chain: 'a', start: 11, end: 16, category: 'backtracking', text: 'Wait, é!' });
    refused(() => parseAnnotations(bytes, FILE, chains), /line 1, field "text"\): span \[11, 16\) of chain "a" covers "t, é!"/);
  });

  test('overlapping spans are refused naming both lines, except the same characters with different behaviours', () => {
    const spans = (...o: Record<string, unknown>[]) => o.map(line).join('\n');
    refused(
      () => parseAnnotations(spans({ chain: 'a', start: 0, end: 8, category: 'deduction' }, { chain: 'b', start: 0, end: 2, category: 'deduction' }, { chain: 'a', start: 5, end: 12, category: 'backtracking' }), FILE, chains),
      /\(line 3\): span \[5, 12\) backtracking of chain "a" overlaps span \[0, 8\) deduction of line 1/,
    );
    // The later line is named first, whatever order the spans are in the text.
    refused(
      () => parseAnnotations(spans({ chain: 'a', start: 5, end: 12, category: 'backtracking' }, { chain: 'a', start: 0, end: 8, category: 'deduction' }), FILE, chains),
      /\(line 2\): span \[0, 8\) deduction of chain "a" overlaps span \[5, 12\) backtracking of line 1/,
    );
    // Nested is an overlap too.
    refused(() => parseAnnotations(spans({ chain: 'a', start: 0, end: 16, category: 'deduction' }, { chain: 'a', start: 2, end: 4, category: 'deduction' }), FILE, chains), /\(line 2\): span \[2, 4\) deduction .* overlaps span \[0, 16\) deduction of line 1/);
    refused(() => parseAnnotations(spans({ chain: 'a', start: 0, end: 8, category: 'deduction' }, { chain: 'a', start: 0, end: 8, category: 'deduction' }), FILE, chains), /\(line 2\): span \[0, 8\) of chain "a" repeats the deduction span of line 1/);
    // Touching spans and spans of different chains do not overlap.
    const r = parseAnnotations(spans({ chain: 'a', start: 0, end: 8, category: 'deduction' }, { chain: 'a', start: 8, end: 16, category: 'deduction' }, { chain: 'b', start: 0, end: 6, category: 'deduction' }), FILE, chains);
    assert.equal(r.spans.length, 3);
  });
});

describe('chains files', () => {
  const chain = (o: Partial<Chain> = {}): Chain => ({
    id: 'c', task: 't', category: 'k', prompt: 'p', prompt_ids: [1], ids: [5, 6, 7], text: 'é😀b', offsets: [[0, 1], [1, 2], [2, 3]], stop_reason: 'eos', ...o,
  });
  const parse = (...cs: Chain[]) => parseChains(cs.map((c) => JSON.stringify(c)).join('\n'), '/d/x.chains.jsonl');

  test('a chain whose offsets tile its text is read', () => {
    assert.equal(parse(chain(), chain({ id: 'd', ids: [5, 6, 7, 2], offsets: [[0, 0], [0, 2], [2, 3], [3, 3]] })).chains.length, 2);
  });

  test('offsets that cannot belong to the text are refused with the line and the token', () => {
    refused(() => parse(chain(), chain({ id: 'd', offsets: [[0, 1], [1, 2]] })), /x\.chains\.jsonl \(line 2, field "offsets"\): chain d: 2 offsets for 3 ids/);
    refused(() => parse(chain({ offsets: [[0, 1], [2, 2], [2, 3]] })), /line 1, field "offsets"\): chain c: token 1 starts at character 2, but the token before it ends at 1/);
    refused(() => parse(chain({ offsets: [[0, 1], [1, 2], [2, 4]] })), /token 2 ends at character 4, past the end of the text \(3 characters\)/);
    // UTF-16 offsets: the emoji counted twice.
    refused(() => parse(chain({ text: 'é😀b', offsets: [[0, 1], [1, 3], [3, 4]] })), /token 2 ends at character 4, past the end of the text \(3 characters\)/);
    refused(() => parse(chain({ offsets: [[0, 1], [1, 2], [2, 2]] })), /the tokens cover 2 characters, but the text has 3/);
    refused(() => parse(chain(), chain()), /line 2, field "id"\): chain id "c" is used again \(first on line 1\)/);
    refused(() => parse(chain({ prompt_ids: [] })), /line 1, field "prompt_ids"\): is not a chain/);
  });
});

describe('the model annotator\'s replies', () => {
  const text = 'Okay, so 2+2. Maybe 4? Wait: 2+2 is 4 😀. So 4.';

  test('sections in the paper\'s format become spans of the chain, in code points', () => {
    const reply = '["initializing"]Okay, so 2+2.["end-section"] ["uncertainty-estimation"] Maybe 4? ["end-section"]["backtracking, deduction"]Wait: 2+2 is 4 😀.["end-section"]["deduction"]So 4.';
    const r = parseAnnotatedReply(reply, text);
    const cps = Array.from(text);
    assert.deepEqual(
      r.spans.map((s) => [cps.slice(s.start, s.end).join(''), s.category]),
      [
        ['Okay, so 2+2.', 'initializing'],
        ['Maybe 4?', 'uncertainty-estimation'],
        ['Wait: 2+2 is 4 😀.', 'backtracking'],
        ['Wait: 2+2 is 4 😀.', 'deduction'],
        ['So 4.', 'deduction'],
      ],
    );
    assert.deepEqual(r.problems, []);
  });

  test('a section whose text occurs twice is placed after the previous section, in order', () => {
    const twice = 'So 4. Maybe. So 4. Wait.';
    const r = parseAnnotatedReply('["uncertainty-estimation"]Maybe.["end-section"]["deduction"]So 4.["end-section"]', twice);
    assert.deepEqual(r.spans.map((s) => [s.start, s.end, s.category]), [
      [6, 12, 'uncertainty-estimation'],
      [13, 18, 'deduction'],
    ]);
    // Without an earlier section, the first occurrence.
    assert.deepEqual(parseAnnotatedReply('["deduction"]So 4.', twice).spans.map((s) => s.start), [0]);
  });

  test('unknown labels, text not in the chain and overlapping sections are reported and left out', () => {
    const reply = '["musing"]Okay, so 2+2.["end-section"]["deduction"]Five.["end-section"]["deduction"]2+2 is 4["end-section"]["backtracking"]Wait: 2+2 is 4 😀.["end-section"]';
    const r = parseAnnotatedReply(reply, text);
    assert.deepEqual(r.spans.map((s) => s.category), ['deduction']);
    assert.deepEqual(r.problems, [
      'label "musing" is not a behaviour',
      'section "Five." is not in the chain',
      `section [${Array.from(text).indexOf('W')}, ${Array.from('Okay, so 2+2. Maybe 4? Wait: 2+2 is 4 😀.').length}) backtracking overlaps [${Array.from(text.slice(0, text.indexOf('2+2 is'))).length}, ${Array.from(text.slice(0, text.indexOf('2+2 is') + 8)).length}) deduction and was dropped`,
    ]);
  });

  test('the prompt holds every category definition and the chain; pieces hold whole sentences', () => {
    const p = annotationPrompt('THE CHAIN');
    for (const b of ['initializing', 'deduction', 'adding-knowledge', 'example-testing', 'uncertainty-estimation', 'backtracking']) assert.ok(p.includes(`${b} -> `), b);
    assert.ok(p.includes('THE CHAIN'));
    assert.ok(p.includes('["label"]'));
    assert.deepEqual(chunksOf(text, 2).map(([a, b]) => text.slice(a, b)), ['Okay, so 2+2. Maybe 4?', 'Wait: 2+2 is 4 😀. So 4.']);
    assert.deepEqual(chunksOf(text, 0), [[0, text.length]]);
  });
});
