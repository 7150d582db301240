// Dataset loading: the real reference files in ../shared/data (skipped when absent), and every
// error path on small files written to a temporary folder.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sharedFile } from '../helpers/sharedData';
import { tmpDir } from '../helpers/tmp';
import {
  countLabels, DatasetError, loadDataset, loadMmluProFewShot, MMLU_SUBJECT_TO_PRO_CATEGORY, readTable, sha256Hex,
} from '../../datasets';

const REASON_MEM = sharedFile('mmlu-reason-mem/reason_mem_labels_mmlu_en_validation.json');
const PRO_TEST = sharedFile('mmlu-pro/test-00000-of-00001.parquet');
const PRO_VAL_JSON = sharedFile('mmlu-pro/validation.json');
const PRO_VAL_PARQUET = sharedFile('mmlu-pro/validation-00000-of-00001.parquet');
const PRO_BY_CATEGORY = sharedFile('mmlu-pro/by-category');
const GSM8K = sharedFile('gsm8k/test.jsonl');
const POPQA = sharedFile('popqa/popqa_moco_dev1000_test1000.json');
const KNOWN = sharedFile('factual-recall/known_1000.json');

describe('shared reference data', () => {
  test('reason-mem: 606 reasoning and 980 memorization records, ids from _ukey', { skip: REASON_MEM.skip }, async () => {
    const ds = await loadDataset(REASON_MEM.path);
    assert.equal(ds.kind, 'reason-mem');
    assert.equal(ds.records.length, 1586);
    assert.deepEqual(countLabels(ds.records), { reasoning: 606, memorization: 980, unlabeled: 0, total: 1586 });
    assert.deepEqual(ds.labelRule, { kind: 'field-map', field: 'label', map: { Reasoning: 'reasoning', Memorization: 'memorization' } });
    assert.equal(new Set(ds.records.map((r) => r.id)).size, 1586);
    assert.equal(ds.records[0]!.id, 'test:5');
    assert.equal(ds.records[0]!.category, 'abstract_algebra');
    assert.ok(ds.records.every((r) => r.options.length === 4 && /^[A-D]$/.test(r.answer!)));
    assert.equal(ds.contentHash, sha256Hex(fs.readFileSync(REASON_MEM.path)));
    assert.equal(ds.warnings, undefined);
    // The same file under the paper's threshold rule fails clearly: it has no memory_reason_score.
    await assert.rejects(loadDataset(REASON_MEM.path, { labelRule: 'score>0.5' }),
      (e: unknown) => e instanceof DatasetError && /record 0/.test(e.message) && /"memory_reason_score"/.test(e.message));
  });

  test('MMLU-Pro test parquet: 12,032 rows, BigInt ids converted, the one answer/answer_index mismatch warned', { skip: PRO_TEST.skip }, async () => {
    const ds = await loadDataset(PRO_TEST.path);
    assert.equal(ds.kind, 'mmlu-pro');
    assert.equal(ds.records.length, 12032);
    assert.equal(ds.labelRule, undefined, 'the plain test split has no memory_reason_score, hence no labels');
    assert.equal(countLabels(ds.records).unlabeled, 12032);
    assert.equal(new Set(ds.records.map((r) => r.id)).size, 12032);
    assert.ok(ds.records.every((r) => r.options.length >= 3 && r.options.length <= 10));
    assert.ok(ds.records.every((r) => 'ABCDEFGHIJ'.indexOf(r.answer!) < r.options.length));
    assert.equal(new Set(ds.records.map((r) => r.category)).size, 14);
    assert.equal(ds.warnings?.length, 1);
    assert.match(ds.warnings![0]!, /question_id 3983/);
    const r3983 = ds.records.find((r) => r.id === '3983')!;
    assert.equal(r3983.answer, 'C', '`answer` wins over answer_index, as the seed scored against it');
  });

  test('MMLU-Pro by-category JSONL files read and add up to the parquet', { skip: PRO_BY_CATEGORY.skip || PRO_TEST.skip }, async () => {
    const files = fs.readdirSync(PRO_BY_CATEGORY.path).filter((f) => f.endsWith('.jsonl')).sort();
    assert.equal(files.length, 14);
    const ids = new Set<string>();
    for (const f of files) {
      const ds = await loadDataset(path.join(PRO_BY_CATEGORY.path, f));
      assert.equal(ds.kind, 'mmlu-pro');
      const cats = new Set(ds.records.map((r) => r.category));
      assert.equal(cats.size, 1, `${f} holds one category`);
      assert.equal([...cats][0]!.replace(/ /g, '_'), f.replace(/^test_|\.jsonl$/g, ''));
      for (const r of ds.records) ids.add(r.id);
    }
    const all = await loadDataset(PRO_TEST.path);
    assert.equal(ids.size, 12032);
    assert.ok(all.records.every((r) => ids.has(r.id)));
  });

  test('MMLU-Pro validation: 70 rows, 5 per category, JSON and parquet agree, CoT starts the CoT query', { skip: PRO_VAL_JSON.skip || PRO_VAL_PARQUET.skip }, async () => {
    const js = await loadDataset(PRO_VAL_JSON.path);
    const pq = await loadDataset(PRO_VAL_PARQUET.path);
    assert.equal(js.records.length, 70);
    const per = new Map<string, number>();
    for (const r of js.records) per.set(r.category!, (per.get(r.category!) ?? 0) + 1);
    assert.equal(per.size, 14);
    assert.ok([...per.values()].every((n) => n === 5));
    assert.deepEqual(pq.records, js.records);
    assert.ok(js.records.every((r) => r.cot!.startsWith("A: Let's think step by step.") && /The answer is \([A-J]\)\.$/.test(r.cot!)));
  });

  test('MMLU subject → MMLU-Pro category map agrees with MMLU-Pro src fields; reason-mem renders 5-shot', { skip: PRO_TEST.skip || REASON_MEM.skip || PRO_VAL_JSON.skip }, async () => {
    const raw = await readTable(PRO_TEST.path);
    let checked = 0;
    for (const row of raw.rows as { src: string; category: string }[]) {
      if (!row.src.startsWith('ori_mmlu-')) continue;
      assert.equal(MMLU_SUBJECT_TO_PRO_CATEGORY[row.src.slice('ori_mmlu-'.length)], row.category, row.src);
      checked++;
    }
    assert.equal(checked, 6810);
    const rm = await loadDataset(REASON_MEM.path);
    const fs5 = await loadMmluProFewShot(PRO_VAL_JSON.path, { cot: false });
    const prefixes = new Map<string, string>();
    for (const r of rm.records) {
      const { prefix, query } = fs5.render(r);
      assert.equal(prefix.split('\nA: The answer is (').length - 1, 5);
      assert.ok(query.startsWith(`Q: ${r.question}\nOptions are:\n(A): `) && query.endsWith('\nA: '));
      const cat = fs5.categoryOf(r);
      if (prefixes.has(cat)) assert.equal(prefix, prefixes.get(cat), 'one shared prefix per category');
      prefixes.set(cat, prefix);
    }
    assert.equal(prefixes.size, 14);
  });

  test('GSM8K: 1,319 rows with numeric answers (thousands separators removed)', { skip: GSM8K.skip }, async () => {
    const ds = await loadDataset(GSM8K.path);
    assert.equal(ds.kind, 'gsm8k');
    assert.equal(ds.records.length, 1319);
    assert.ok(ds.records.every((r) => /^-?\d+(\.\d+)?$/.test(r.answer!) && r.options.length === 0));
    assert.equal(ds.records[0]!.answer, '18');
    assert.ok(ds.records[0]!.cot!.startsWith('Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.'));
    const raw = fs.readFileSync(GSM8K.path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { answer: string });
    const i = raw.findIndex((r) => r.answer.endsWith('#### 2,125'));
    assert.ok(i >= 0);
    assert.equal(ds.records[i]!.answer, '2125');
    assert.deepEqual(countLabels(ds.records), { reasoning: 1319, memorization: 0, unlabeled: 0, total: 1319 });
  });

  test('PopQA: named splits dev and test; answers are a JSON string list', { skip: POPQA.skip }, async () => {
    await assert.rejects(loadDataset(POPQA.path), /has several splits: "dev" \(1000\), "test" \(1000\).*--split/);
    await assert.rejects(loadDataset(POPQA.path, { split: 'train' }), /has no split "train".*"dev" \(1000\), "test" \(1000\)/);
    const dev = await loadDataset(POPQA.path, { split: 'dev' });
    const t = await loadDataset(POPQA.path, { split: 'test' });
    assert.equal(dev.records.length, 1000);
    assert.equal(t.records.length, 1000);
    assert.equal(t.split, 'test');
    assert.equal(t.name, 'popqa_moco_dev1000_test1000:test');
    assert.equal(t.records[0]!.question, 'What is the capital of Var?');
    assert.deepEqual(t.records[0]!.aliases, ['Toulon', 'Port-la-Montagne', 'Tolon']);
    assert.equal(t.records[0]!.id, '375943');
    assert.ok(dev.records.every((r) => r.aliases!.length > 0 && r.options.length === 0));
  });

  test('factual recall (ROME known facts): 1,209 prompts, attribute as the alias', { skip: KNOWN.skip }, async () => {
    const ds = await loadDataset(KNOWN.path);
    assert.equal(ds.kind, 'factual-recall');
    assert.equal(ds.records.length, 1209);
    assert.deepEqual(ds.records[0], {
      id: '0', index: 0, question: 'Vinson Massif is located in the continent of', options: [], aliases: ['Antarctica'],
      category: 'P30', label: 'memorization',
    });
  });
});

// ---------------------------------------------------------------------------------------------

const dir = tmpDir('layerlab-datasets-');
let n = 0;
function write(name: string, content: unknown): string {
  const f = path.join(dir, `${n++}-${name}`);
  fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}
const pro = (id: number, extra: Record<string, unknown> = {}) => ({
  question_id: id, question: `Question ${id}?`, options: ['a', 'b', 'c', 'd'], answer: 'B', answer_index: 1,
  cot_content: '', category: 'math', memory_reason_score: 0.7, ...extra,
});

/** Asserts a DatasetError whose message contains every fragment. */
async function rejectsWith(p: Promise<unknown>, ...fragments: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${String(e)}`);
    for (const f of fragments) {
      if (typeof f === 'string') assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}: ${e.message}`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

describe('readers and validation errors', () => {
  test('mmlu-pro with memory_reason_score: detected, labelled by score > 0.5', async () => {
    const f = write('scored.json', [pro(1, { memory_reason_score: 0.5 }), pro(2, { memory_reason_score: 0.51 }), pro(3, { memory_reason_score: 0 })]);
    const ds = await loadDataset(f);
    assert.equal(ds.kind, 'mmlu-pro');
    assert.deepEqual(ds.labelRule, { kind: 'score-threshold', field: 'memory_reason_score', threshold: 0.5 });
    assert.deepEqual(ds.records.map((r) => [r.id, r.score, r.label]), [['1', 0.5, 'memorization'], ['2', 0.51, 'reasoning'], ['3', 0, 'memorization']]);
    assert.equal((await loadDataset(f, { labelRule: 'score>=0.5' })).records[0]!.label, 'reasoning');
    assert.equal((await loadDataset(f, { labelRule: 'none' })).records[0]!.label, undefined);
    assert.equal((await loadDataset(f, { labelRule: { kind: 'constant', label: 'reasoning' } })).records[2]!.label, 'reasoning');
  });

  test('a JSON object with one array field; JSONL with blank lines and CRLF; .json that is really JSONL', async () => {
    const wrapped = await loadDataset(write('wrapped.json', { version: 2, data: [pro(1), pro(2)] }));
    assert.equal(wrapped.records.length, 2);
    assert.equal(wrapped.split, 'data');
    const jl = await loadDataset(write('x.jsonl', `${JSON.stringify(pro(1))}\r\n\r\n${JSON.stringify(pro(2))}\r\n`));
    assert.deepEqual(jl.records.map((r) => r.id), ['1', '2']);
    const disguised = await loadDataset(write('x.json', `${JSON.stringify(pro(1))}\n${JSON.stringify(pro(2))}\n`));
    assert.deepEqual(disguised.records.map((r) => r.index), [0, 1]);
  });

  test('bad JSON names the line and column', async () => {
    const f = write('bad.json', '[\n  {"question_id": 1, "question": "q",}\n]');
    await rejectsWith(loadDataset(f), f, 'line 2, column', 'is not valid JSON');
  });

  test('JSONL: a bad line names the line number and record index', async () => {
    const f = write('bad.jsonl', [JSON.stringify(pro(1)), '', JSON.stringify(pro(2)), '{"question_id": 3, "question": ', JSON.stringify(pro(4))].join('\n'));
    await rejectsWith(loadDataset(f), f, 'record 2', 'line 4', 'is not valid JSON');
  });

  test('a missing field names the file, record index and field', async () => {
    const bad = pro(2) as Record<string, unknown>;
    delete bad.category;
    const f = write('missing.json', [pro(1), bad]);
    await rejectsWith(loadDataset(f), f, 'record 1', 'field "category"', 'is missing', '--kind');
  });

  test('a missing field in JSONL also names the line', async () => {
    const bad = pro(2) as Record<string, unknown>;
    delete bad.question;
    const f = write('missing.jsonl', `${JSON.stringify(pro(1))}\n\n${JSON.stringify(bad)}\n`);
    await rejectsWith(loadDataset(f), 'record 1', 'line 3', 'field "question"', 'is missing');
  });

  test('wrong types name the field (and the list element)', async () => {
    await rejectsWith(loadDataset(write('t1.json', [pro(1, { options: 'a, b, c' })])), 'record 0', 'field "options"', 'expected array, got string');
    await rejectsWith(loadDataset(write('t2.json', [pro(1), pro(2, { options: ['a', 'b', 7] })])), 'record 1', 'field "options[2]"', 'expected string, got number');
    await rejectsWith(loadDataset(write('t3.json', [pro(1, { answer: 'b' })])), 'field "answer"', 'option letter');
    await rejectsWith(loadDataset(write('t4.json', [pro(1, { answer: 'F', answer_index: 5 })])), 'field "answer"', 'only 4 options');
    await rejectsWith(loadDataset(write('t5.json', [pro(1, { memory_reason_score: 1.5 })])), 'field "memory_reason_score"', '[0,1]');
    await rejectsWith(loadDataset(write('t6.json', [pro(1), 'not a record'])), 'record 1', 'not an object');
  });

  test('duplicate ids are rejected, naming both records', async () => {
    const f = write('dup.json', [pro(1), pro(2), pro(1)]);
    await rejectsWith(loadDataset(f), f, 'record 2', 'field "question_id"', 'duplicate id "1"', 'record 0');
  });

  test('an unknown label value names the value, field and record, and how to map it', async () => {
    const rm = (ukey: string, label: string) => ({ _ukey: ukey, question: 'q', options: ['a', 'b', 'c', 'd'], answer: 2, label, Subject: 'anatomy' });
    const f = write('labels.json', [rm('t:1', 'Reasoning'), rm('t:2', 'Memorization'), rm('t:3', 'Unsure')]);
    await rejectsWith(loadDataset(f), f, 'record 2', 'field "label"', '"Unsure"', '--label-rule');
    const ds = await loadDataset(f, { labelRule: 'label:Reasoning=reasoning,Memorization=memorization,Unsure=memorization' });
    assert.deepEqual(ds.records.map((r) => [r.answer, r.label]), [['C', 'reasoning'], ['C', 'memorization'], ['C', 'memorization']]);
  });

  test('a score-threshold rule on a record without the score', async () => {
    const noScore = pro(2) as Record<string, unknown>;
    delete noScore.memory_reason_score;
    await rejectsWith(loadDataset(write('noscore.json', [pro(1), noScore])), 'record 1', 'field "memory_reason_score"', 'is missing');
  });

  test('kind detection failure lists the known kinds; --kind overrides detection', async () => {
    // (A "text" field alone would make it a plain-text dataset: datasets-text.test.ts.)
    const f = write('odd.json', [{ input_text: 'hello', target: 'world' }]);
    await rejectsWith(loadDataset(f), 'record 0', 'cannot tell the dataset kind', 'input_text, target', '--kind', 'gsm8k', 'text:');
    await rejectsWith(loadDataset(f, { kind: 'nope' }), 'unknown dataset kind "nope"');
    // A GSM8K-looking file read as PopQA fails on PopQA's fields.
    const g = write('g.json', [{ question: 'What is 2+2?', answer: 'Two and two.\n#### 4' }]);
    assert.equal((await loadDataset(g)).records[0]!.answer, '4');
    await rejectsWith(loadDataset(g, { kind: 'popqa' }), 'field "possible_answers"', 'is missing');
    await rejectsWith(loadDataset(write('g2.json', [{ question: 'q', answer: 'no final line' }]), { kind: 'gsm8k' }), 'field "answer"', "'#### N'");
  });

  test('split option errors on files without splits; empty files; missing files', async () => {
    await rejectsWith(loadDataset(write('arr.json', [pro(1)]), { split: 'test' }), 'plain array');
    await rejectsWith(loadDataset(write('arr.jsonl', JSON.stringify(pro(1))), { split: 'test' }), 'jsonl file has no named splits');
    await rejectsWith(loadDataset(write('empty.json', [])), 'has no records');
    await rejectsWith(loadDataset(write('meta.json', { name: 'x' })), 'no array of records');
    await rejectsWith(loadDataset(path.join(dir, 'does-not-exist.json')), 'file not found');
    await rejectsWith(loadDataset(write('scalar.json', 42)), 'not an array of records');
  });

  test('PopQA in its original layout (question, possible_answers) and bad answers fields', async () => {
    const ds = await loadDataset(write('popqa.json', [{ id: 7, question: 'Who wrote X?', possible_answers: '["A. Author", "Author"]', prop: 'author' }]));
    assert.deepEqual(ds.records[0], { id: '7', index: 0, question: 'Who wrote X?', options: [], aliases: ['A. Author', 'Author'], category: 'author', label: 'memorization' });
    await rejectsWith(loadDataset(write('popqa2.json', [{ id: 7, question: 'q', possible_answers: 'Author' }])), 'field "possible_answers"', 'not a JSON-encoded list');
    await rejectsWith(loadDataset(write('popqa3.json', [{ id: 7, question: 'q', possible_answers: '[]' }])), 'field "possible_answers"', 'non-empty list');
  });

  test('DatasetError carries its parts', () => {
    const e = new DatasetError({ file: 'f.json', index: 3, field: 'options' }, 'is missing', 'Add it.');
    assert.equal(e.message, 'f.json (record 3, field "options"): is missing. Add it.');
    assert.equal(e.index, 3);
    assert.equal(e.field, 'options');
    assert.equal(e.name, 'DatasetError');
  });
});
