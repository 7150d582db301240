/**
 * The evaluation engine's pure parts: flag parsing (seed flags, kebab aliases, negative values),
 * where the test data and cache are, which records are evaluated (holdout vs overlap), prompts
 * and their shared prefixes (with a tokenizer that merges across the boundary), batching,
 * interventions as edits, summaries and the seed's stdout lines.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveTestDataFile, selectRecords, type TestData } from '../../runtime/evaluate/data';
import { cacheFileFor, directionFor, randomUnitVectors, type DirectionSource } from '../../runtime/evaluate/directions';
import { baselineIntervention, directionIntervention, interventionId, randomIntervention } from '../../runtime/evaluate/interventions';
import { ANSWER_CUE, commonPrefixLength, planBatches, preparePrompts, promptText, resolveTemplate, type PreparedItem } from '../../runtime/evaluate/prompts';
import { accuracyOf, runFilePath, seedLines, summarise, writeRunFileAtomic } from '../../runtime/evaluate/runFile';
import { EvaluateError } from '../../runtime/evaluate/options';
import { MmluProFewShot, scoreItem, type Dataset, type QARecord, type Subset } from '../../datasets';
import type { ModelTokenizer } from '../../models/load';
import type { GraphSpec } from '../../models/graph/spec';
import type { RunItem } from '../../runtime/protocol/results';
import { tmpDir } from '../helpers/tmp';

const tmp = tmpDir('layerlab-eval-unit-');

describe('test data and cache locations', () => {
  const dir = path.join(tmp, 'datasets');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'only-jsonl.jsonl'), '{}\n');
  fs.writeFileSync(path.join(dir, 'mmlu-pro-3000samples.json'), '[]');

  test("--test_data_path DIR --test_data_name KEY is DIR/KEY.json (or .jsonl), as the seed's", () => {
    assert.deepEqual(resolveTestDataFile({ testDataPath: dir, testDataName: 'mmlu-pro-3000samples' }), { file: path.join(dir, 'mmlu-pro-3000samples.json'), name: 'mmlu-pro-3000samples' });
    assert.deepEqual(resolveTestDataFile({ testDataPath: dir, testDataName: 'only-jsonl' }), { file: path.join(dir, 'only-jsonl.jsonl'), name: 'only-jsonl' });
  });

  test('--test_data_path may name the file; --data_file wins; the 3000-samples file is the last resort', () => {
    const f = path.join(dir, 'mmlu-pro-3000samples.json');
    assert.equal(resolveTestDataFile({ testDataPath: f }).name, 'mmlu-pro-3000samples');
    assert.equal(resolveTestDataFile({ dataFile: f, testDataPath: '/elsewhere' }).file, f);
    assert.equal(resolveTestDataFile({ mmluPro3000samplesDataFilePath: f }).file, f);
    assert.equal(resolveTestDataFile({ dataFile: 'demo' }).file, 'builtin:demo');
  });

  test('missing inputs say which flag to add', () => {
    assert.throws(() => resolveTestDataFile({}), /pass --data_file FILE/);
    assert.throws(() => resolveTestDataFile({ testDataPath: dir }), /add --test_data_name KEY/);
    assert.throws(() => resolveTestDataFile({ testDataPath: dir, testDataName: 'nope' }), /no test data file .*nope\.json/);
  });

  test("the cache is <dir>/<model_name>/<data_name>.safetensors, named by the 3000-samples file when given", () => {
    assert.equal(cacheFileFor({ hiddenStatesCachePath: '/c' }, 'm', 'd'), path.resolve('/c/m/d.safetensors'));
    assert.equal(cacheFileFor({ hiddenStatesCachePath: '/c', mmluPro3000samplesDataFilePath: '/x/mmlu-pro-3000samples.json' }, 'm', 'other'), path.resolve('/c/m/mmlu-pro-3000samples.safetensors'));
    assert.equal(cacheFileFor({ hiddenStatesCachePath: '/c/m/file.safetensors' }, 'm', 'd'), path.resolve('/c/m/file.safetensors'));
    assert.equal(cacheFileFor({}, 'm', 'd'), undefined);
  });
});

function rec(id: string, label: Subset | undefined, extra: Partial<QARecord> = {}): QARecord {
  return { id, index: Number(id), question: `question ${id}`, options: ['yes', 'no'], answer: 'A', category: 'math', ...(label ? { label } : {}), ...extra };
}

function testData(records: QARecord[], name = 'data'): TestData {
  const dataset: Dataset = { name, file: `/x/${name}.json`, contentHash: 'h1', kind: 'mmlu-pro', records };
  return { dataset, name, isDemo: false };
}

describe('which records are evaluated', () => {
  const records = Array.from({ length: 20 }, (_, i) => rec(String(i), i % 2 ? 'reasoning' : 'memorization'));
  records.push(rec('20', undefined));
  const data = testData(records);
  const train = { trainIds: records.slice(0, 12).map((r) => r.id), dataName: 'data' };

  test('holdout leaves out the records the directions were computed from', () => {
    const s = selectRecords(data, { split: 'holdout', sampleSize: 200, seed: 0 }, [train]);
    assert.deepEqual(s.records.map((r) => r.id), ['12', '13', '14', '15', '16', '17', '18', '19']);
    assert.deepEqual({ ...s.split }, { mode: 'holdout', labelled: 20, excluded: 12, pool: 8, directionsDataName: 'data' });
  });

  test('overlap draws from every labelled record (the seed); unlabelled records are never evaluated', () => {
    const s = selectRecords(data, { split: 'overlap', sampleSize: 200, seed: 0 }, [train]);
    assert.equal(s.records.length, 20);
    assert.equal(s.split.excluded, 0);
  });

  test('the sample is seeded and in dataset order', () => {
    const a = selectRecords(data, { split: 'overlap', sampleSize: 5, seed: 3 }).records.map((r) => r.id);
    const b = selectRecords(data, { split: 'overlap', sampleSize: 5, seed: 3 }).records.map((r) => r.id);
    const c = selectRecords(data, { split: 'overlap', sampleSize: 5, seed: 4 }).records.map((r) => r.id);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual([...a].sort((x, y) => Number(x) - Number(y)), a);
  });

  test("directions from other data exclude nothing, and say so; by hash when the cache recorded one", () => {
    const other = selectRecords(data, { split: 'holdout', sampleSize: 200, seed: 0 }, [{ ...train, dataName: 'gsm8k' }]);
    assert.equal(other.split.excluded, 0);
    assert.match(other.split.note!, /come from "gsm8k"/);
    const sameHash = selectRecords(data, { split: 'holdout', sampleSize: 200, seed: 0 }, [{ ...train, dataName: 'renamed', dataHash: 'h1' }]);
    assert.equal(sameHash.split.excluded, 12);
  });

  test('nothing left to hold out, or no labels at all, is a clear error', () => {
    const all = { trainIds: records.map((r) => r.id), dataName: 'data' };
    assert.throws(() => selectRecords(data, { split: 'holdout', sampleSize: 5, seed: 0 }, [all]), (e: Error) => e instanceof EvaluateError && /--split overlap/.test(e.message) && /--holdout 0.2/.test(e.message));
    assert.throws(() => selectRecords(testData([rec('1', undefined)]), { split: 'overlap', sampleSize: 5, seed: 0 }), /pass --label_rule/);
  });
});

/**
 * Character-level tokenizer (id = char code + 3, BOS 1) that merges "\n\nQ" into one token 2000,
 * as BPE vocabularies can: then a few-shot prefix ending in "\n\n" is not a token prefix of the
 * prompt that continues with "Q:".
 */
function charTokenizer(opts: { mergeBoundary: boolean; chat?: boolean }): ModelTokenizer {
  const tok: ModelTokenizer = {
    source: 'fake',
    vocabSize: 3000,
    bosId: 1,
    eosIds: [2],
    encode(text, o) {
      const ids: number[] = o?.addBos ? [1] : [];
      for (let i = 0; i < text.length; i++) {
        if (opts.mergeBoundary && text.startsWith('\n\nQ', i)) {
          ids.push(2000);
          i += 2;
        } else ids.push(text.charCodeAt(i) + 3);
      }
      return ids;
    },
    decode: (ids) => ids.filter((i) => i > 2).map((i) => (i === 2000 ? '\n\nQ' : String.fromCharCode(i - 3))).join(''),
    tokenText: (id) => String.fromCharCode(id - 3),
  };
  if (opts.chat) tok.applyChatTemplate = (m) => `<s>${m.map((x) => `${x.role}: ${x.content}\n`).join('')}assistant: `;
  return tok;
}

describe('prompts and their shared prefix', () => {
  const shots = [
    rec('100', undefined, { question: 'What is 1+1?', options: ['1', '2'], answer: 'B' }),
    rec('101', undefined, { question: 'What is 2+2?', options: ['4', '5'], answer: 'A' }),
  ];
  const fs2 = new MmluProFewShot(shots, { shots: 2 });
  const r = rec('7', 'reasoning', { question: 'What is 3+3?', options: ['6', '7'], answer: 'A' }) as QARecord & { label: Subset };
  const dataset: Dataset = { name: 'd', file: '/d.json', contentHash: 'h', kind: 'mmlu-pro', records: [r] };
  const examples = 'Q: What is 1+1?\nOptions are:\n(A): 1\n(B): 2\nA: The answer is (B).\n\nQ: What is 2+2?\nOptions are:\n(A): 4\n(B): 5\nA: The answer is (A).\n\n';
  const question = 'Q: What is 3+3?\nOptions are:\n(A): 6\n(B): 7\nA: ';

  test('plain few-shot: examples then the question, exactly as SEED.md spells them; the examples are shared', () => {
    const tok = charTokenizer({ mergeBoundary: false });
    const p = promptText(r, { dataset, template: { kind: 'plain' }, tokenizer: tok, fewshot: true, cot: false, mmluFewShot: fs2, scoring: 'generate' });
    assert.equal(p.text, examples + question);
    assert.equal(p.shared, examples);
    assert.equal(p.group, 'math');
  });

  test("seed-chat: the system prompt and examples + question as the user's message; the chat header and examples are shared", () => {
    const tok = charTokenizer({ mergeBoundary: false, chat: true });
    const t = resolveTemplate('auto', tok);
    assert.deepEqual(t, { kind: 'seed-chat', system: 'You are a helpful assistant.' });
    const p = promptText(r, { dataset, template: t, tokenizer: tok, fewshot: true, cot: false, mmluFewShot: fs2, scoring: 'generate' });
    assert.equal(p.text, `<s>system: You are a helpful assistant.\nuser: ${examples}${question}\nassistant: `);
    assert.equal(p.shared, `<s>system: You are a helpful assistant.\nuser: ${examples}`);
  });

  test('without few-shot the question stands alone and nothing is shared; CoT needs the examples', () => {
    const tok = charTokenizer({ mergeBoundary: false });
    const p = promptText(r, { dataset, template: { kind: 'plain' }, tokenizer: tok, fewshot: false, cot: false, scoring: 'generate' });
    assert.deepEqual(p, { text: question, shared: '', group: '' });
    assert.equal(resolveTemplate('auto', tok).kind, 'plain');
    assert.throws(() => resolveTemplate('seed-chat', tok), /no[ne]* chat template|has none/);
    assert.throws(() => resolveTemplate('fancy', tok), /unknown --template "fancy"/);
  });

  test('prompts whose tokens start with the prefix tokens share it; a merge across the boundary falls back to the full prompt', () => {
    const ctx = { dataset, template: { kind: 'plain' } as const, fewshot: true, cot: false, mmluFewShot: fs2, scoring: 'generate' as const };
    const ok = preparePrompts([r], { ...ctx, tokenizer: charTokenizer({ mergeBoundary: false }) });
    assert.equal(ok.items[0]!.sharedLen, 1 + examples.length); // BOS + one token per character
    assert.deepEqual(ok.prefixFallbacks, []);
    // "\n\nQ" merges: the examples (ending "\n\n") tokenize differently alone than inside the prompt.
    const merged = preparePrompts([r], { ...ctx, tokenizer: charTokenizer({ mergeBoundary: true }) });
    assert.equal(merged.items[0]!.sharedLen, 0);
    assert.deepEqual(merged.prefixFallbacks, ['7']);
  });

  test('loglik: the answer cue is appended and each option letter is the one token after the shared context', () => {
    const tok = charTokenizer({ mergeBoundary: false });
    const p = preparePrompts([r], { dataset, template: { kind: 'plain' }, tokenizer: tok, fewshot: false, cot: false, scoring: 'loglik' });
    const it = p.items[0]!;
    assert.deepEqual(it.tokens, tok.encode(question + ANSWER_CUE, { addBos: true }));
    assert.deepEqual(it.options, [{ letter: 'A', cont: ['A'.charCodeAt(0) + 3] }, { letter: 'B', cont: ['B'.charCodeAt(0) + 3] }]);
    const open = { ...r, options: [], answer: '12' };
    assert.throws(() => preparePrompts([open], { dataset, template: { kind: 'plain' }, tokenizer: tok, fewshot: false, cot: false, scoring: 'loglik' }), /has no options; use --scoring generate/);
  });

  test('a prompt already ending in the cue scores the generation with the cue in front', () => {
    const tok = charTokenizer({ mergeBoundary: false });
    const t = resolveTemplate('Q: {question}\\n{options}\\nA: The answer is (', tok);
    const p = preparePrompts([r], { dataset, template: t, tokenizer: tok, fewshot: false, cot: false, scoring: 'generate' });
    assert.equal(p.items[0]!.scorePrefix, ANSWER_CUE);
    assert.equal(scoreItem(r, p.items[0]!.scorePrefix + 'A) because').parsed, 'A');
  });

  test('commonPrefixLength', () => {
    assert.equal(commonPrefixLength([[1, 2, 3], [1, 2, 4], [1, 2]]), 2);
    assert.equal(commonPrefixLength([[5], [6]]), 0);
    assert.equal(commonPrefixLength([]), 0);
  });
});

describe('batches', () => {
  const item = (index: number, key: string | null, sharedLen: number): PreparedItem => ({
    index, record: rec(String(index), 'reasoning') as QARecord & { label: Subset }, group: key ?? '', promptText: '', promptHash: '', scorePrefix: '',
    tokens: [1, 2, 3], prefixKey: key, sharedLen,
  });

  test('a batch never mixes prefixes; shared prompts come before fallbacks; groups keep first-appearance order', () => {
    const items = [item(0, 'a', 2), item(1, 'b', 2), item(2, 'a', 0), item(3, 'a', 2), item(4, 'b', 2), item(5, 'a', 2), item(6, null, 0)];
    const batches = planBatches(items, 2).map((b) => b.map((i) => i.index));
    assert.deepEqual(batches, [[0, 3], [5], [2], [1, 4], [6]]);
    assert.throws(() => planBatches(items, 0), /--batch_size must be a positive integer/);
  });

  test('within a group, longest prompts first (least padding), ties in dataset order', () => {
    const len = (i: PreparedItem, n: number) => ({ ...i, tokens: Array.from({ length: n }, () => 5) });
    const items = [len(item(0, 'a', 2), 10), len(item(1, 'a', 2), 30), len(item(2, 'a', 2), 20), len(item(3, 'a', 2), 30), len(item(4, 'a', 2), 12)];
    assert.deepEqual(planBatches(items, 2).map((b) => b.map((i) => i.index)), [[1, 3], [2, 4], [0]]);
  });
});

const SPEC: GraphSpec = {
  builderVersion: 1, family: 'llama', modelType: 'llama', source: '/m', contentHash: 'abc', dModel: 4, vocabSize: 10, maxSeqLen: 64, nBlocks: 3,
  blocks: [0, 1, 2].map((index) => ({ index, part: 'layer', label: `layer ${index}` })),
  kv: { count: 3, nKvHeads: 1, headDim: 4 }, graph: 'g', graphAllPositions: 'ga', weightsFile: 'w', precision: 'fp32', weightsBytes: 0, weightsFileBytes: 0, eosTokenIds: [2], options: {},
};

function source(dirs: Record<string, number[]>): DirectionSource {
  return {
    file: '/dirs.safetensors', contentHash: 'x', computed: false,
    loaded: { file: '/dirs.safetensors', directions: new Map(Object.entries(dirs).map(([k, v]) => [k, Float32Array.from(v)])), norms: {}, metadata: {}, trainIds: [] },
  };
}

describe('interventions', () => {
  const src = source({ 'blocks.1.hook_resid_post': [1, 0, 0, 0], 'blocks.2.hook_resid_post': [0, 1, 0, 0] });

  test('each layer edits its own hook point with its own direction: x + scale·(x·d)d + alpha·d', () => {
    const iv = directionIntervention(src, SPEC, { hook: 'post', layers: [1, 2], scale: 0.1, alpha: 2 });
    assert.equal(iv.spec.id, 'post@1,2 scale=0.1 alpha=2');
    assert.deepEqual(iv.edits.map((e) => [e.hook, e.scale, [...e.direction!], [...e.add!]]), [
      ['blocks.1.hook_resid_post', 0.1, [1, 0, 0, 0], [2, 0, 0, 0]],
      ['blocks.2.hook_resid_post', 0.1, [0, 1, 0, 0], [0, 2, 0, 0]],
    ]);
    assert.notEqual(iv.editKey, 'none');
  });

  test("direction_layer: one block's direction at every edited block (the paper code)", () => {
    const iv = directionIntervention(src, SPEC, { hook: 'post', layers: [1, 2], scale: 1, alpha: 0, directionLayer: 2 });
    assert.deepEqual(iv.spec.directionHooks, ['blocks.2.hook_resid_post', 'blocks.2.hook_resid_post']);
    assert.equal(iv.edits[0]!.add, undefined);
    assert.equal(iv.spec.id, 'post@1,2 dir@2 scale=1');
  });

  test("a pre-hook edit of block l uses block l−1's output direction when only outputs were cached", () => {
    const iv = directionIntervention(src, SPEC, { hook: 'pre', layers: [2], scale: 1, alpha: 0 });
    assert.deepEqual(iv.spec.directionHooks, ['blocks.1.hook_resid_post']);
    assert.equal(iv.edits[0]!.hook, 'blocks.2.hook_resid_pre');
    assert.throws(() => directionIntervention(src, SPEC, { hook: 'pre', layers: [1], scale: 1, alpha: 0 }), /no direction for blocks.1.hook_resid_pre/);
  });

  test('zero scale and alpha share the baseline\'s prefix KV; bad layers are refused', () => {
    assert.equal(directionIntervention(src, SPEC, { hook: 'post', layers: [1], scale: 0, alpha: 0 }).editKey, 'none');
    assert.equal(directionIntervention(src, SPEC, { hook: 'post', layers: [1], scale: 0, alpha: 0, forceEditGraph: true }).editKey, 'post@1 scale=0');
    assert.equal(baselineIntervention().editKey, 'none');
    assert.throws(() => directionIntervention(src, SPEC, { hook: 'post', layers: [3], scale: 1, alpha: 0 }), /block 3 does not exist; this model has blocks 0..2/);
    assert.throws(() => directionIntervention(src, SPEC, { hook: 'post', layers: [1, 1], scale: 1, alpha: 0 }), /lists block 1 twice/);
    assert.throws(() => directionIntervention(source({ 'blocks.1.hook_resid_post': [1, 0] }), SPEC, { hook: 'post', layers: [1], scale: 1, alpha: 0 }), /d_model is 4/);
  });

  test('random controls: unit vectors, reproducible, one per (control, block), kept across scales', () => {
    const v = randomUnitVectors(3, 1001, 5);
    for (const x of v) assert.ok(Math.abs(Math.hypot(...x) - 1) < 1e-5);
    assert.deepEqual(v, randomUnitVectors(3, 1001, 5));
    assert.notDeepEqual(v[0], v[1]);
    const a = randomIntervention(SPEC, { hook: 'post', layers: [1], scale: 0.1, alpha: 0, randomSeed: 7, randomIndex: 0 });
    const b = randomIntervention(SPEC, { hook: 'post', layers: [1], scale: 5, alpha: 0, randomSeed: 7, randomIndex: 0 });
    const c = randomIntervention(SPEC, { hook: 'post', layers: [1], scale: 0.1, alpha: 0, randomSeed: 7, randomIndex: 1 });
    const d = randomIntervention(SPEC, { hook: 'post', layers: [2], scale: 0.1, alpha: 0, randomSeed: 7, randomIndex: 0 });
    assert.deepEqual(a.edits[0]!.direction, b.edits[0]!.direction);
    assert.notDeepEqual(a.edits[0]!.direction, c.edits[0]!.direction);
    assert.notDeepEqual(a.edits[0]!.direction, d.edits[0]!.direction);
    assert.equal(a.spec.id, 'random#0 post@1 scale=0.1');
    assert.equal(interventionId({ kind: 'none', hook: null, layers: [], scale: 0, alpha: 0 }), 'baseline');
  });

  test('directionFor reports a missing direction with what the file has', () => {
    assert.throws(() => directionFor(src, SPEC, 0, 'hook_resid_post'), /has no direction for blocks.0.hook_resid_post \(it has blocks.1.hook_resid_post, blocks.2.hook_resid_post\)/);
  });
});

function runItem(subset: Subset, correct: boolean, unparsed = false): RunItem {
  return { id: 'x', subset, question: 'q', expected: 'A', promptHash: 'h', parsed: unparsed ? null : correct ? 'A' : 'B', correct, unparsed };
}

describe('summaries and the seed\'s lines', () => {
  const items = [
    ...Array.from({ length: 8 }, () => runItem('reasoning', true)), runItem('reasoning', false), runItem('reasoning', false, true),
    runItem('memorization', false, true), runItem('memorization', false, true),
  ];

  test('accuracy, unparsed counts and Wilson intervals per subset', () => {
    const s = summarise(items);
    assert.deepEqual({ ...s.reasoning, ci95: undefined }, { correct: 8, total: 10, unparsed: 1, accuracy: 0.8, ci95: undefined });
    // Hand-computed Wilson 95% for 8/10: [0.4902, 0.9433].
    assert.ok(Math.abs(s.reasoning.ci95[0] - 0.4902) < 5e-5 && Math.abs(s.reasoning.ci95[1] - 0.9433) < 5e-5, String(s.reasoning.ci95));
    assert.deepEqual(s.memorization.ci95[0], 0);
    assert.equal(s.memorization.unparsed, 2);
    assert.deepEqual(accuracyOf([]), { correct: 0, total: 0, unparsed: 0, accuracy: 0, ci95: [0, 1] });
  });

  test("lines as the seed printed them: `Layer [66] - Reasoning Subset Accuracy: 0.8000 (8/10)`", () => {
    const spec = { id: 'post@66 scale=0.1', kind: 'direction' as const, hook: 'hook_resid_post' as const, layers: [66], scale: 0.1, alpha: 0 };
    assert.deepEqual(seedLines({ intervention: spec, summary: summarise(items) }, { qualify: false }), [
      'Layer [66] - Reasoning Subset Accuracy: 0.8000 (8/10)',
      'Layer [66] - Memorizing Subset Accuracy: 0.0000 (0/2)',
    ]);
    assert.deepEqual(seedLines({ intervention: { ...spec, layers: [64, 66] }, summary: summarise(items) }, { qualify: true })[0],
      'Layer [64, 66] (post@66 scale=0.1) - Reasoning Subset Accuracy: 0.8000 (8/10)');
    const base = seedLines({ intervention: baselineIntervention().spec, summary: summarise(items.slice(0, 10)) }, { qualify: true });
    assert.deepEqual(base, ['Layer None - Reasoning Subset Accuracy: 0.8000 (8/10)'], 'an empty subset prints nothing, as in the seed');
  });
});

describe('run file placement and writing', () => {
  test('the same experiment goes to the same file, another to another; --out wins', () => {
    const a = runFilePath({ outputPath: '/o' }, { modelName: 'm', dataName: 'd', command: 'evaluate', identity: { x: 1 } });
    assert.equal(a, runFilePath({ outputPath: '/o' }, { modelName: 'm', dataName: 'd', command: 'evaluate', identity: { x: 1 } }));
    assert.notEqual(a, runFilePath({ outputPath: '/o' }, { modelName: 'm', dataName: 'd', command: 'evaluate', identity: { x: 2 } }));
    assert.match(a, /^\/o\/m\/d\.evaluate\.[0-9a-f]{10}\.json$/);
    assert.equal(runFilePath({ out: '/r.json', outputPath: '/o' }, { modelName: 'm', dataName: 'd', command: 'evaluate', identity: 1 }), '/r.json');
  });

  test('atomic write: the file appears whole and no temporary is left', () => {
    const f = path.join(tmp, 'runs', 'r.json');
    const run = { format: 'layerlab-run', version: 1, results: [] } as never;
    writeRunFileAtomic(f, run);
    assert.deepEqual(JSON.parse(fs.readFileSync(f, 'utf8')), run);
    assert.deepEqual(fs.readdirSync(path.dirname(f)), ['r.json']);
  });
});

describe('answers read from realistic generations (seed regex, first match wins, unparsed counts as wrong)', () => {
  const r = rec('1', 'reasoning', { options: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], answer: 'C' });
  const cases: [string, string | null, boolean][] = [
    ["Let's think step by step. The area is 8 × 5 = 40, which is option C. The answer is (C).", 'C', true],
    ['The answer is (C).\n\nQ: What is the capital of France?\nOptions are:\n(A): Paris\nA: The answer is (A).', 'C', true],
    ['We compare each option. (A) is wrong, (B) is wrong. So the answer is C', 'C', true],
    ['**The answer is (E)**', 'E', false],
    ['the answer is (J). On reflection, the answer is (C).', 'J', false],
    ['The answer is: C', null, false],
    ['Answer: (C)', null, false],
    ['the answer is c', null, false],
    ['The correct option is (C).', null, false],
    ['', null, false],
  ];
  for (const [text, parsed, correct] of cases) {
    test(JSON.stringify(text.slice(0, 60)), () => {
      const s = scoreItem(r, text);
      assert.deepEqual(s, { parsed, correct, unparsed: parsed === null });
    });
  }
  test('a prompt ending in "The answer is (" scores what follows it', () => {
    assert.equal(scoreItem(r, ANSWER_CUE + 'C). Because').parsed, 'C');
    assert.equal(scoreItem(r, 'C). Because').parsed, null, 'without the cue the letter alone does not parse');
  });
});
