// Seeded sampling, the stratified holdout split, label-rule parsing, and the built-in demo dataset
// (which must run without ../shared/data).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers/tmp';
import {
  countLabels, demoDataset, demoRecords, demoJson, formatLabelRule, LabelRuleError, loadDataset, parseLabelRule,
  sampleRecords, sha256Hex, shuffledIndices, splitHoldout, writeDemoDataset, renderPrompt, scoreItem,
} from '../../datasets';
import { mulberry32 } from '../../models/common/prng';

describe('seeded sampling', () => {
  test('mulberry32 is pinned: cached samples must name the same records in every version', () => {
    const r = mulberry32(0);
    assert.deepEqual([r(), r(), r()], [0.26642920868471265, 0.0003297457005828619, 0.2232720274478197]);
    assert.deepEqual(shuffledIndices(10, 0), [2, 1, 3, 4, 6, 7, 8, 0, 5, 9]);
    assert.throws(() => mulberry32(1.5), /integer/);
  });

  test('sampleRecords: deterministic, without replacement, in dataset order', () => {
    const recs = demoRecords(2000, 3);
    const a = sampleRecords(recs, 200, 0);
    const b = sampleRecords(recs, 200, 0);
    assert.deepEqual(a.map((r) => r.id), b.map((r) => r.id));
    assert.equal(new Set(a.map((r) => r.id)).size, 200);
    assert.ok(a.every((r, i) => i === 0 || a[i - 1]!.index < r.index), 'sorted by position');
    assert.notDeepEqual(sampleRecords(recs, 200, 1).map((r) => r.id), a.map((r) => r.id));
    // The sample depends on positions, not on the order the caller happens to hold the records in.
    assert.deepEqual(sampleRecords(recs, 0, 0), []);
    assert.equal(sampleRecords(recs.slice(0, 10), 50, 0).length, 10);
    assert.throws(() => sampleRecords(recs, -1, 0), RangeError);
    assert.deepEqual(sampleRecords(demoDataset().records, 5, 0).map((r) => r.id), ['0', '1', '9', '12', '24']);
  });

  test('splitHoldout: stratified by label, disjoint, complete, deterministic', () => {
    const recs = demoRecords(2000, 0);
    const c = countLabels(recs);
    const { train, test: held } = splitHoldout(recs, 0.2, 7);
    const ct = countLabels(held);
    assert.equal(ct.reasoning, Math.round(0.2 * c.reasoning));
    assert.equal(ct.memorization, Math.round(0.2 * c.memorization));
    assert.equal(train.length + held.length, recs.length);
    const ids = new Set(held.map((r) => r.id));
    assert.ok(train.every((r) => !ids.has(r.id)));
    assert.ok(held.every((r, i) => i === 0 || held[i - 1]!.index < r.index));
    assert.deepEqual(splitHoldout(recs, 0.2, 7).test.map((r) => r.id), held.map((r) => r.id));
    assert.notDeepEqual(splitHoldout(recs, 0.2, 8).test.map((r) => r.id), held.map((r) => r.id));
    // Unlabeled records form their own stratum.
    const mixed = [...recs.slice(0, 100), ...recs.slice(100, 120).map((r) => ({ ...r, label: undefined }))];
    assert.equal(countLabels(splitHoldout(mixed, 0.5, 1).test).unlabeled, 10);
    assert.throws(() => splitHoldout(recs, 1, 0), RangeError);
    assert.throws(() => splitHoldout(recs, 0, 0), RangeError);
  });
});

describe('label rules', () => {
  test('parse and format', () => {
    assert.deepEqual(parseLabelRule('score>0.5'), { kind: 'score-threshold', field: 'memory_reason_score', threshold: 0.5 });
    assert.deepEqual(parseLabelRule(' memory_reason_score >= 0.6 '), { kind: 'score-threshold', field: 'memory_reason_score', threshold: 0.6, inclusive: true });
    assert.deepEqual(parseLabelRule('label:Reasoning=reasoning,Memorization=memorization'),
      { kind: 'field-map', field: 'label', map: { Reasoning: 'reasoning', Memorization: 'memorization' } });
    assert.deepEqual(parseLabelRule('reasoning'), { kind: 'constant', label: 'reasoning' });
    assert.deepEqual(parseLabelRule('all=memorization'), { kind: 'constant', label: 'memorization' });
    assert.equal(parseLabelRule('none'), null);
    for (const s of ['score>0.5', 'x>=1', 'label:A=reasoning,B=memorization', 'memorization']) {
      assert.equal(formatLabelRule(parseLabelRule(s)), s.replace(/^score/, 'memory_reason_score'));
    }
  });

  test('parse errors say what is wrong and show the forms', () => {
    const bad: [string, RegExp][] = [
      ['', /it is empty/],
      ['score<0.5', /FIELD>T/],
      ['label:Reasoning=thinking', /"thinking" is not a subset/],
      ['label:Reasoning', /"Reasoning" is not VALUE=subset/],
      ['label:', /no VALUE=subset pairs/],
      ['label:A=reasoning,A=memorization', /mapped twice/],
      ['reason', /"reason" is not a subset/],
      ['score>>1', /matches none of the rule forms/],
    ];
    for (const [s, re] of bad) {
      assert.throws(() => parseLabelRule(s), (e: unknown) => e instanceof LabelRuleError && re.test(e.message) && e.message.includes('Examples:'), s);
    }
  });
});

describe('built-in demo dataset', () => {
  test('48 records, 24 per label, scores on the right side of 0.5, valid answers', () => {
    const ds = demoDataset();
    assert.equal(ds.kind, 'mmlu-pro');
    assert.equal(ds.records.length, 48);
    assert.deepEqual(countLabels(ds.records), { reasoning: 24, memorization: 24, unlabeled: 0, total: 48 });
    assert.deepEqual(ds.labelRule, { kind: 'score-threshold', field: 'memory_reason_score', threshold: 0.5 });
    for (const r of ds.records) {
      assert.equal(r.options.length, 4);
      assert.ok(r.score! >= 0 && r.score! <= 1);
      assert.equal(r.label, r.score! > 0.5 ? 'reasoning' : 'memorization');
      assert.equal(new Set(r.options).size, 4, `distinct options in ${r.id}`);
      assert.ok(r.category);
    }
    const letters = new Map<string, number>();
    for (const r of ds.records) letters.set(r.answer!, (letters.get(r.answer!) ?? 0) + 1);
    assert.deepEqual([...letters.values()], [12, 12, 12, 12]);
    assert.equal(ds.contentHash, sha256Hex(Buffer.from(demoJson())));
  });

  test('written to a file, it reads back through the normal loader to the same records', async () => {
    const f = path.join(tmpDir(), 'demo.json');
    writeDemoDataset(f);
    const back = await loadDataset(f);
    const mem = demoDataset();
    assert.deepEqual(back.records, mem.records);
    assert.equal(back.contentHash, mem.contentHash);
    assert.equal(back.kind, 'mmlu-pro');
    // And the pipeline pieces run on it.
    const prompt = renderPrompt({ kind: 'bare' }, back.records[0]!);
    assert.ok(prompt.startsWith('Q: ') && prompt.endsWith('\nA: '));
    assert.equal(scoreItem(back.records[0]!, `The answer is (${back.records[0]!.answer}).`).correct, true);
  });

  test('demoRecords: deterministic, unique ids, a prefix of a longer run, labels and scores consistent', async () => {
    const a = demoRecords(2000, 5);
    assert.deepEqual(a, demoRecords(2000, 5));
    assert.deepEqual(demoRecords(100, 5), a.slice(0, 100));
    assert.notDeepEqual(demoRecords(10, 6).map((r) => r.question), a.slice(0, 10).map((r) => r.question));
    assert.equal(new Set(a.map((r) => r.id)).size, 2000);
    const c = countLabels(a);
    assert.ok(c.reasoning > 900 && c.memorization > 900);
    for (const r of a) {
      assert.equal(r.label, r.score! > 0.5 ? 'reasoning' : 'memorization');
      assert.equal(new Set(r.options).size, 4);
      assert.ok('ABCD'.includes(r.answer!));
    }
    const f = path.join(tmpDir(), 'gen.json');
    writeDemoDataset(f, { n: 300, seed: 5 });
    const back = await loadDataset(f);
    assert.equal(back.records.length, 300);
    assert.deepEqual(back.records.map((r) => [r.question, r.answer, r.label]), a.slice(0, 300).map((r) => [r.question, r.answer, r.label]));
    assert.ok(fs.statSync(f).size > 0);
  });
});
