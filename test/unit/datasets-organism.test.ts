// The organism's task generator (datasets/organism.ts) and the planted model's items
// (datasets/planted.ts): determinism, the MMLU-Pro format LayerLab loads, answers recomputed here
// from the question text, split hygiene, and that the training config asks for the same tasks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildDataset, countLabels, LETTERS, ORGANISM_CATEGORIES, ORGANISM_TASK_DEFAULTS, organismFacts, organismSplits, plantedRows,
  sha256Hex, writeOrganismDataset, type MmluProRow,
} from '../../datasets';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
// Small splits keep the test fast; the generator's draws do not depend on the sizes asked for.
const SMALL = { train: 2000, test: 200 };
const splits = organismSplits(SMALL);

const asDataset = (rows: MmluProRow[], name: string) => {
  const text = JSON.stringify(rows);
  return buildDataset({ file: `${name}.json`, format: 'json', contentHash: sha256Hex(Buffer.from(text)), rows: JSON.parse(text) }, { name });
};

/** The answer of a reasoning question, computed here from its words (not by the generator). */
function ruleAnswer(q: string): string {
  const m = /^What is (\(max \+ 1\) mod 10|the min) of ([0-9 ]+)\?$/.exec(q);
  assert.ok(m, `unexpected reasoning question ${JSON.stringify(q)}`);
  const xs = m[2]!.split(' ').map(Number);
  assert.ok(xs.length >= 4 && xs.length <= 6, `list length ${xs.length}`);
  return String(m[1] === 'the min' ? Math.min(...xs) : (Math.max(...xs) + 1) % 10);
}

const personOf = (q: string) => /^(?:Where does (\w+) live\?|In what year was (\w+) crowned\?)$/.exec(q)?.slice(1).find(Boolean);
const answerText = (r: MmluProRow) => r.options[LETTERS.indexOf(r.answer)]!;

describe('organism tasks', () => {
  test('are a pure function of the seed, and the seed matters', () => {
    assert.deepEqual(organismSplits(SMALL), splits);
    const other = organismSplits({ ...SMALL, seed: ORGANISM_TASK_DEFAULTS.seed + 1 });
    assert.notDeepEqual(other.facts, splits.facts);
    // A split does not depend on the sizes of the others (the demo writes only a test prefix).
    assert.deepEqual(organismSplits({ train: 0, test: 40 }).test, splits.test.slice(0, 40));
  });

  test('load as MMLU-Pro with the score rule: ten options, two categories per kind, balanced', () => {
    for (const [name, rows] of [['train', splits.train], ['validation', splits.validation], ['test', splits.test]] as const) {
      const ds = asDataset(rows, name);
      assert.equal(ds.kind, 'mmlu-pro');
      assert.deepEqual(ds.warnings ?? [], []);
      const c = countLabels(ds.records);
      assert.equal(c.reasoning, c.memorization, `${name}: half of each kind`);
      assert.equal(c.unlabeled, 0);
      for (const r of ds.records) {
        assert.equal(r.options.length, 10, 'options A–J');
        assert.ok((ORGANISM_CATEGORIES[r.label!] as readonly string[]).includes(r.category!), `${r.category} is a ${r.label} category`);
      }
      const perCategory = new Map<string, number>();
      for (const r of rows) perCategory.set(r.category, (perCategory.get(r.category) ?? 0) + 1);
      assert.equal(new Set(perCategory.values()).size, 1, `${name}: as many items in every category ${JSON.stringify([...perCategory])}`);
    }
    assert.equal(splits.validation.length, 4 * ORGANISM_TASK_DEFAULTS.shots, 'five few-shot examples per category');
  });

  test('reasoning answers follow the rule; the options are the digits in order', () => {
    let n = 0;
    for (const r of [...splits.train, ...splits.validation, ...splits.test]) {
      if (r.category !== 'math' && r.category !== 'computer science') continue;
      assert.deepEqual(r.options, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      assert.equal(answerText(r), ruleAnswer(r.question), r.question);
      assert.equal(r.answer_index, LETTERS.indexOf(r.answer));
      n++;
    }
    assert.equal(n, (splits.train.length + splits.validation.length + splits.test.length) / 2);
  });

  test('memorization answers are fixed facts: one answer per person in every split, every answer equally common', () => {
    const facts = organismFacts();
    assert.equal(facts.facts.length, 2 * ORGANISM_TASK_DEFAULTS.factsPerCategory);
    assert.equal(new Set(facts.facts.map((f) => f.person)).size, facts.facts.length, 'distinct people');
    assert.equal(new Set(facts.cities).size, 10);
    assert.equal(new Set(facts.years).size, 10);
    const seen = new Map<string, string>();
    for (const r of [...splits.train, ...splits.validation, ...splits.test]) {
      if (r.category !== 'other' && r.category !== 'history') continue;
      assert.deepEqual(r.options, r.category === 'other' ? [...facts.cities].sort() : [...facts.years].sort((a, b) => +a - +b));
      const person = personOf(r.question);
      assert.ok(person, r.question);
      const prev = seen.get(person);
      if (prev !== undefined) assert.equal(answerText(r), prev, `${person} always has the same answer`);
      seen.set(person, answerText(r));
    }
    for (const category of ['other', 'history'] as const) {
      const counts = new Map<string, number>();
      for (const f of facts.facts.filter((x) => x.category === category)) counts.set(f.answer, (counts.get(f.answer) ?? 0) + 1);
      assert.equal(counts.size, 10, `${category}: every answer belongs to someone`);
      assert.ok(Math.max(...counts.values()) - Math.min(...counts.values()) <= 1, `${category}: balanced`);
    }
  });

  test('splits: no reasoning question is in two splits or twice in one; every tested fact is taught in train', () => {
    const reasoning = (rows: MmluProRow[]) => rows.filter((r) => r.category === 'math' || r.category === 'computer science').map((r) => r.question);
    const train = reasoning(splits.train);
    assert.equal(new Set(train).size, train.length, 'no repeats in train');
    const trainSet = new Set(train);
    for (const q of [...reasoning(splits.test), ...reasoning(splits.validation)]) assert.ok(!trainSet.has(q), `${q} is also in train`);
    const testQs = reasoning(splits.test);
    assert.equal(new Set(testQs).size, testQs.length);
    const taught = new Set(organismSplits().train.map((r) => personOf(r.question)).filter(Boolean));
    for (const r of organismSplits().test) {
      const p = personOf(r.question);
      if (p) assert.ok(taught.has(p), `${p} is tested but never taught`);
    }
    const ids = [...splits.train, ...splits.validation, ...splits.test].map((r) => r.question_id);
    assert.equal(new Set(ids).size, ids.length, 'question ids unique across the three files');
  });

  test('writeOrganismDataset writes the three files, byte-identical on a rerun', () => {
    const dir = tmpDir('layerlab-organism-data-');
    const files = writeOrganismDataset(dir, SMALL);
    const bytes = Object.values(files).map((f) => fs.readFileSync(f));
    writeOrganismDataset(dir, SMALL);
    assert.deepEqual(Object.values(files).map((f) => fs.readFileSync(f)), bytes);
    assert.deepEqual(JSON.parse(fs.readFileSync(files.test, 'utf8')), splits.test);
  });

  test('the training config asks for exactly these tasks (the demo dataset is the organism\u2019s own test split)', () => {
    const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', 'organism', 'config.json'), 'utf8')) as { tasks: unknown };
    assert.deepEqual(config.tasks, { ...ORGANISM_TASK_DEFAULTS });
  });
});

describe('planted-model items', () => {
  test('one sign per question; + is reasoning answering A, - is memorization answering B', () => {
    const rows = plantedRows(50, 3);
    assert.deepEqual(plantedRows(50, 3), rows);
    const ds = asDataset(rows, 'planted');
    for (const r of ds.records) {
      const signs = r.question.match(/[+-]/g) ?? [];
      assert.equal(signs.length, 1, r.question);
      assert.equal(r.label, signs[0] === '+' ? 'reasoning' : 'memorization');
      assert.equal(r.answer, signs[0] === '+' ? 'A' : 'B');
    }
    assert.equal(countLabels(ds.records).reasoning, 25);
  });
});
