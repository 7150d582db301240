/**
 * The reasoning-behaviour workflow end to end through the `layerlab` CLI on real checkpoints:
 * stories260K (no chat template: plain prompts) and stories260K written as a Hugging Face folder
 * with the <think> chat template (llama2c-to-hf), on the authored task set. Every step's file is
 * checked against its schema and against what the previous step wrote, recomputed here from the
 * files (counts, norms, held-out tasks), and the unsteered baseline against `layerlab generate`.
 * Then bad input, each refused with the file and line.
 *
 * stories260K is a 260K-parameter story model, not a thinking model: its chains are stories and
 * few sentences carry a behaviour phrase, so the numbers show the workflow, not a finding.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { openSafetensors } from '../../models/safetensors';
import {
  BEHAVIOURS,
  chainsProvenanceSchema,
  effectsFileSchema,
  parseAnnotations,
  parseChains,
  steeringFileSchema,
  vectorStatsFileSchema,
  type Chain,
} from '../../runtime/protocol/thinking';
import { runCli } from '../helpers/cli';
import { sharedFile } from '../helpers/sharedData';
import { runThinkingPipeline, type ThinkingRun } from '../helpers/thinkingRun';
import { tmpDir } from '../helpers/tmp';

const stories = sharedFile('stories260K/stories260K.bin');
const root = tmpDir('layerlab-thinking-e2e-');
const env = { LAYERLAB_CACHE_DIR: path.join(root, 'cache') };
const json = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

function checkRun(run: ThinkingRun, template: 'chat' | 'plain', heldOut: number): { chains: Chain[] } {
  // Chains and provenance.
  const prov = chainsProvenanceSchema.parse(json(run.provenance));
  const { chains } = parseChains(fs.readFileSync(run.chains, 'utf8'), run.chains);
  assert.equal(prov.template, template);
  assert.equal(prov.count, chains.length);
  assert.deepEqual(prov.tasks.ids, chains.map((c) => c.task));
  assert.deepEqual(prov.argv.slice(0, 2), ['layerlab', 'generate-chains']);
  if (template === 'chat') for (const c of chains) assert.ok(c.prompt.endsWith('Assistant: <think>\n'), 'the generation prompt opens <think>');

  // Annotations: what the vectors' statistics count, recounted from the annotation file.
  const texts = new Map(chains.map((c) => [c.id, c.text]));
  const ann = parseAnnotations(fs.readFileSync(run.annotations, 'utf8'), run.annotations, texts);
  assert.equal(ann.header?.annotator.kind, 'rules');
  assert.ok(ann.spans.length > 0, 'the rules found behaviours');
  const stats = vectorStatsFileSchema.parse(json(run.vectorStats));
  const present = BEHAVIOURS.filter((b) => ann.spans.some((s) => s.category === b));
  assert.deepEqual(stats.categories.map((c) => c.category), present);
  for (const c of stats.categories) {
    const mine = ann.spans.filter((s) => s.category === c.category);
    assert.equal(c.spans, mine.length);
    assert.equal(c.chains, new Set(mine.map((s) => s.chain)).size);
  }
  assert.deepEqual(stats.hooks, [0, 1, 2, 3, 4].map((l) => `blocks.${l}.hook_resid_post`));
  // The safetensors file, read independently: one [64] tensor per category and hook, norms as stated.
  const st = openSafetensors(run.vectors);
  assert.equal(st.metadata.commit, stats.commit);
  assert.equal(st.names.length, stats.categories.length * stats.hooks.length);
  stats.categories.forEach((c) =>
    stats.hooks.forEach((h, i) => {
      const v = st.read(`${c.category}/${h}`);
      assert.deepEqual(v.dims, [64]);
      assert.ok(Math.abs(Math.hypot(...v.data) - c.norms[i]!) < 1e-4 * c.norms[i]!);
    }),
  );

  // Layer effects.
  const eff = effectsFileSchema.parse(json(run.effects));
  assert.deepEqual(eff.hooks, stats.hooks);
  assert.deepEqual(eff.categories.map((c) => c.category), present);
  for (const c of eff.categories) {
    assert.ok(c.positions >= 1 && c.positions <= ann.spans.filter((s) => s.category === c.category).length);
    assert.ok(c.exact.mean.every((x) => x > 0) && c.estimate.mean.every((x) => x >= 0));
    assert.equal(c.selected.length, 1);
    assert.equal(Math.max(...c.exact.mean), c.exact.mean[c.selected[0]!], 'the selected layer has the largest exact effect');
  }

  // Steering: held-out tasks, every condition, fractions that add up.
  const steer = steeringFileSchema.parse(json(run.steering));
  assert.equal(steer.complete, true);
  assert.equal(steer.tasks.ids.length, heldOut);
  assert.ok(steer.tasks.ids.every((id) => !prov.tasks.ids.includes(id)), 'steering tasks are held out');
  assert.equal(steer.conditions.length, 1 + 4 * present.length);
  for (const cond of steer.conditions) {
    assert.deepEqual(cond.chains.map((c) => c.task), steer.tasks.ids);
    const total = cond.chains.reduce((s, c) => s + c.ids.length, 0);
    for (const b of BEHAVIOURS) {
      const f = cond.fractions[b]!;
      assert.equal(f.total, total);
      assert.ok(f.tokens <= total && f.ci95[0] <= f.fraction && f.fraction <= f.ci95[1]);
    }
    if (cond.kind !== 'baseline') assert.deepEqual(cond.hooks, [eff.hooks[eff.categories.find((c) => c.category === cond.category)!.selected[0]!]]);
  }
  const base = steer.conditions[0]!;
  const plus = steer.conditions[1]!;
  assert.ok(base.chains.some((c, i) => c.text !== plus.chains[i]!.text), 'the + vector changes some generation');
  return { chains };
}

describe('thinking workflow end to end', { skip: stories.skip }, () => {
  let thinkModel: string;
  before(() => {
    thinkModel = path.join(root, 'stories260K-think');
    const r = runCli(['llama2c-to-hf', stories.path, '--out', thinkModel, '--think_template'], env);
    assert.equal(r.status, 0, r.stderr);
  });

  test('stories260K (plain prompts): every step writes its files, consistent with each other', () => {
    const run = runThinkingPipeline(stories.path, path.join(root, 'plain'), { chainTasks: 10, maxNewTokens: 480, heldOut: 3, steerTokens: 60, env });
    checkRun(run, 'plain', 3);
    // The unsteered baseline is plain greedy generation: `layerlab generate` gives the same text.
    const steer = steeringFileSchema.parse(json(run.steering));
    const tasks = fs.readFileSync(run.tasks, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; prompt: string });
    const first = steer.conditions[0]!.chains[0]!;
    const g = runCli(['generate', '--model', stories.path, '--prompt', tasks.find((t) => t.id === first.task)!.prompt, '--max_new_tokens', '60', '--json'], env);
    assert.equal(g.status, 0, g.stderr);
    assert.equal(JSON.parse(g.stdout).text, first.text);
  });

  test('stories260K with the <think> chat template: the same, with chat prompts', () => {
    const run = runThinkingPipeline(thinkModel, path.join(root, 'think'), { chainTasks: 14, maxNewTokens: 480, heldOut: 3, steerTokens: 60, env });
    checkRun(run, 'chat', 3);
  });
});

describe('thinking workflow: bad input', { skip: stories.skip }, () => {
  const dir = path.join(root, 'bad');
  let chainsFile: string;
  let chains: Chain[];
  before(() => {
    fs.mkdirSync(dir, { recursive: true });
    const tasks = path.join(dir, 'tasks.jsonl');
    fs.writeFileSync(tasks, ['Once upon a time', 'Lily was sad', 'Tom had a ball'].map((p, i) => JSON.stringify({ id: `t${i}`, category: 'story', prompt: p })).join('\n'));
    chainsFile = path.join(dir, 'x.chains.jsonl');
    const r = runCli(['generate-chains', '--model', stories.path, '--tasks', tasks, '--max_new_tokens', '40', '--out', chainsFile], env);
    assert.equal(r.status, 0, r.stderr);
    chains = parseChains(fs.readFileSync(chainsFile, 'utf8'), chainsFile).chains;
  });

  function annotationsFor(name: string, lines: object[]): string {
    const f = path.join(dir, name);
    fs.writeFileSync(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return f;
  }

  test('chains whose offsets are not their text: refused with the file, line and token', () => {
    // Move one token boundary by a character: still a tiling of the text, but not the tokens' text.
    const bad = chains.map((c, i) => {
      if (i !== 1) return c;
      const offsets = c.offsets.map((o) => [...o] as [number, number]);
      const k = offsets.findIndex(([s, e], t) => t > 0 && e - s >= 2);
      offsets[k]![0]++;
      offsets[k - 1]![1]++;
      return { ...c, offsets };
    });
    const f = path.join(dir, 'shifted.chains.jsonl');
    fs.writeFileSync(f, bad.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const ann = annotationsFor('shifted.annotations.jsonl', [{ chain: chains[0]!.id, start: 0, end: 3, category: 'deduction' }]);
    const r = runCli(['behaviour-vectors', ann, '--chains', f, '--model', stories.path], env);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /shifted\.chains\.jsonl \(line 2, field "offsets"\): chain t1: token \d+ \(id \d+\) is stored at characters \[\d+, \d+\), but its text is at \[\d+, \d+\)/);
  });

  test('annotation spans out of range or overlapping: refused with the file and line', () => {
    const n = Array.from(chains[0]!.text).length;
    const outOfRange = annotationsFor('range.annotations.jsonl', [
      { chain: chains[0]!.id, start: 0, end: 3, category: 'deduction' },
      { chain: chains[0]!.id, start: 5, end: n + 2, category: 'backtracking' },
    ]);
    let r = runCli(['behaviour-vectors', outOfRange, '--chains', chainsFile, '--model', stories.path], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`range\\.annotations\\.jsonl \\(line 2, field "end"\\): span \\[5, ${n + 2}\\) is out of range: chain "t0" has ${n} characters`));
    const overlapping = annotationsFor('overlap.annotations.jsonl', [
      { chain: chains[0]!.id, start: 0, end: 10, category: 'deduction' },
      { chain: chains[1]!.id, start: 0, end: 4, category: 'deduction' },
      { chain: chains[0]!.id, start: 8, end: 12, category: 'backtracking' },
    ]);
    r = runCli(['annotate', chainsFile, '--annotator', 'import', '--import_file', overlapping], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /overlap\.annotations\.jsonl \(line 3\): span \[8, 12\) backtracking of chain "t0" overlaps span \[0, 10\) deduction of line 1/);
  });

  test('an import that is right is written with a header, in chain order', () => {
    const good = annotationsFor('good.jsonl', [
      { chain_id: chains[1]!.id, start: 0, end: 2, label: 'Uncertainty estimation' },
      { chain_id: chains[0]!.id, start: 1, end: 3, label: 'deduction' },
    ]);
    const out = path.join(dir, 'x.annotations.import.jsonl');
    const r = runCli(['annotate', chainsFile, '--annotator', 'import', '--import_file', good], env);
    assert.equal(r.status, 0, r.stderr);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].layerlab, 'annotations');
    assert.deepEqual(lines.slice(1).map((l) => [l.chain, l.category, l.text]), [
      ['t0', 'deduction', Array.from(chains[0]!.text).slice(1, 3).join('')],
      ['t1', 'uncertainty-estimation', Array.from(chains[1]!.text).slice(0, 2).join('')],
    ]);
  });

  test('a model annotator without a model or endpoint is a usage error; an endpoint is never contacted unless given', () => {
    const r = runCli(['annotate', chainsFile, '--annotator', 'model'], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--annotator_model or --endpoint is required with --annotator model/);
  });
});
