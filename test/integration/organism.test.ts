/**
 * The committed model organism (models/organism/) as LayerLab sees it: the files are the ones
 * the manifest names, LayerLab loads and runs them like any Hugging Face Llama, its forward pass
 * agrees with the PyTorch model that was trained, it answers the held-out test split far above
 * chance, and the demo pipeline on it finds a direction that separates the two kinds of question
 * and an intervention that moves accuracy where a random direction does not — all read from the
 * files LayerLab writes.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LETTERS, organismSplits, renderPrompt, type MmluProRow } from '../../datasets';
import { ORGANISM_DIR, ORGANISM_FILES, organismMismatches, readOrganismManifest } from '../../models/organism';
import { ANSWER_CUE } from '../../runtime/evaluate';
import type { RunFile } from '../../runtime/protocol/results';
import { runCli } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

/**
 * Thresholds stated in the README: chance is 10% (ten options). The organism, trained for a few
 * minutes, reaches far more; these leave room for floating-point differences between PyTorch and
 * ONNX Runtime, not for a model that has not learned.
 */
const ORGANISM_MIN_ACCURACY = { reasoning: 0.8, memorization: 0.7 } as const;

const root = tmpDir('layerlab-organism-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'graphs') };
const manifest = readOrganismManifest();
const testFile = path.join(root, 'organism-test.json');
const TEST_SPLIT: MmluProRow[] = organismSplits({ train: 0 }).test;

function cli(args: string[]): string {
  const r = runCli(args, env);
  assert.equal(r.status, 0, `layerlab ${args.join(' ')}:\n${r.stderr}`);
  return r.stdout;
}

const readJson = <T>(f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as T;

describe('the model organism', () => {
  let run: RunFile;
  before(() => {
    fs.writeFileSync(testFile, JSON.stringify(TEST_SPLIT));
    const out = path.join(root, 'test-split.json');
    cli(['evaluate', '--model', ORGANISM_DIR, '--data_file', testFile, '--template', 'bare', '--scoring', 'loglik', '--sample_size', String(TEST_SPLIT.length), '--batch_size', '8', '--out', out]);
    run = readJson<RunFile>(out);
  });

  it('is the committed Hugging Face folder its manifest describes, within 5 MB', () => {
    assert.deepEqual(organismMismatches(ORGANISM_DIR, manifest), []);
    const bytes = ORGANISM_FILES.reduce((s, f) => s + fs.statSync(path.join(ORGANISM_DIR, f)).size, 0);
    assert.ok(bytes <= 5 * 1024 * 1024, `${bytes} bytes`);
    assert.match(manifest.command, /prepare\.ts .*train\.py/);
    const config = readJson<Record<string, unknown>>(path.join(ORGANISM_DIR, 'config.json'));
    assert.equal(config.model_type, 'llama');
  });

  it('loads and generates through the CLI: `info` and `generate` name the right letter', () => {
    const info = JSON.parse(cli(['info', '--model', ORGANISM_DIR, '--json'])) as { nBlocks: number; dModel: number };
    const m = (manifest.config as { model: { n_layers: number; d_model: number } }).model;
    assert.deepEqual([info.nBlocks, info.dModel], [m.n_layers, m.d_model]);
    // A list it never saw: min of 7 3 9 5 is 3, option (D).
    const question = 'What is the min of 7 3 9 5?';
    assert.ok(!organismSplits().train.some((r) => r.question === question), 'not a training question');
    const prompt = `Q: ${question}\nA: ${ANSWER_CUE}`;
    const out = JSON.parse(cli(['generate', '--model', ORGANISM_DIR, '--prompt', prompt, '--max_new_tokens', '1', '--json'])) as { text: string };
    assert.equal(out.text, 'D');
  });

  it('was trained on exactly the prompt LayerLab renders for it (bare template + answer cue)', () => {
    const ref = (manifest.training as { reference: { id: string; text: string }[] }).reference;
    assert.ok(ref.length > 0);
    for (const r of ref) {
      const row = TEST_SPLIT.find((x) => String(x.question_id) === r.id)!;
      assert.equal(renderPrompt({ kind: 'bare' }, { ...row, id: r.id, index: 0 }) + ANSWER_CUE, r.text);
      const item = run.results[0]!.items.find((i) => i.id === r.id)!;
      assert.equal(item.question, row.question);
    }
  });

  it('LayerLab\u2019s forward pass agrees with PyTorch\u2019s on the option letters (differences of logits, 1e-3)', () => {
    const ref = (manifest.training as { reference: { id: string; letter_logits: number[] }[] }).reference;
    for (const r of ref) {
      const item = run.results[0]!.items.find((i) => i.id === r.id)!;
      const lp = LETTERS.split('').map((l) => item.optionLogprobs![l]!);
      for (let k = 1; k < 10; k++) {
        const ours = lp[k]! - lp[0]!;
        const torch = r.letter_logits[k]! - r.letter_logits[0]!;
        assert.ok(Math.abs(ours - torch) < 1e-3, `${r.id} letter ${LETTERS[k]}: ${ours} vs PyTorch ${torch}`);
      }
    }
  });

  it(`answers the held-out test split far above the 10% chance: reasoning ≥ ${ORGANISM_MIN_ACCURACY.reasoning}, memorization ≥ ${ORGANISM_MIN_ACCURACY.memorization}`, () => {
    const s = run.results[0]!.summary;
    assert.equal(s.reasoning.total + s.memorization.total, TEST_SPLIT.length);
    for (const subset of ['reasoning', 'memorization'] as const) {
      assert.ok(s[subset].accuracy >= ORGANISM_MIN_ACCURACY[subset], `${subset}: ${s[subset].correct}/${s[subset].total}`);
      assert.ok(s[subset].ci95[0] > 0.5, `${subset}: the interval's low end ${s[subset].ci95[0]} is far above chance`);
      // The same items, scored by PyTorch after training: a handful of near-ties may differ.
      const torch = (manifest.training as { test: Record<string, { correct: number }> }).test[subset]!.correct;
      assert.ok(Math.abs(s[subset].correct - torch) <= 2, `${subset}: LayerLab ${s[subset].correct}, PyTorch ${torch}`);
    }
  });
});

