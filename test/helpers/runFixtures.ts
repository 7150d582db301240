/**
 * FIXTURES, not runtime output: small synthetic run files and directions statistics for unit
 * tests of the chart models (webview/model) and the host's file checks, covering shapes the demo
 * runs do not (several random controls, multi-block interventions, several directions files,
 * partial runs, missing baselines). They follow runtime/protocol/results.ts field by field; the
 * summaries come from the runtime's own summariser (accuracyOf: counts + Wilson interval) over
 * the generated items, so a fixture's summary always agrees with its items. The webview tests
 * in test/webview use real run files from the runtime instead.
 */
import { accuracyOf } from '../../runtime/evaluate/runFile';
import type { DirectionStatsFile, InterventionResult, InterventionSpec, RunFile, RunItem, Subset } from '../../runtime/protocol/results';
import { mulberry32 } from '../../models/common/prng';

export interface FixtureOptions {
  /** Single-block interventions at these blocks (a sweep). */
  layers?: number[];
  /** Interventions editing several blocks at once (an evaluate with --layer_indices 10 11 12). */
  blockSets?: number[][];
  scales?: number[];
  alphas?: number[];
  randomControls?: number;
  baseline?: boolean;
  /** Directions-file tags, as a sweep over several files ends its ids with `[tag]`. */
  tags?: string[];
  perSubset?: number;
  seed?: number;
  /** Only the first n results (the rest not yet evaluated), complete: false. */
  partialAfter?: number;
  scoring?: 'generate' | 'loglik';
}

/** The runtime's id format (runtime/evaluate/interventions.ts interventionId). */
function idOf(s: Omit<InterventionSpec, 'id'>, tag?: string): string {
  if (s.kind === 'none') return 'baseline';
  const hook = s.hook === 'hook_resid_pre' ? 'pre' : 'post';
  return [
    `${s.kind === 'random-direction' ? `random#${s.randomIndex ?? 0} ` : ''}${hook}@${s.layers.join(',')}`,
    `scale=${s.scale}`,
    ...(s.alpha !== 0 ? [`alpha=${s.alpha}`] : []),
    ...(tag ? [`[${tag}]`] : []),
  ].join(' ');
}

export function fixtureRun(o: FixtureOptions = {}): RunFile {
  const r = mulberry32(o.seed ?? 1);
  const per = o.perSubset ?? 10;
  const records = Array.from({ length: 2 * per }, (_, i) => ({
    id: String(i),
    subset: (i % 2 === 0 ? 'reasoning' : 'memorization') as Subset,
    question: i === 3 ? 'Is "a, b" = c?\nSay =SUM(A1).' : `Question ${i}?`,
    expected: 'ABCD'[i % 4]!,
    promptHash: `hash${i}`.padEnd(16, '0'),
  }));
  const specs: Omit<InterventionSpec, 'id'>[] = [];
  const tagOf = new Map<Omit<InterventionSpec, 'id'>, string>();
  if (o.baseline !== false) specs.push({ kind: 'none', hook: null, layers: [], scale: 0, alpha: 0 });
  const sets = [...(o.layers ?? [0, 1, 2]).map((l) => [l]), ...(o.blockSets ?? [])];
  for (const tag of o.tags ?? [undefined]) {
    for (const layers of sets) {
      for (const scale of o.scales ?? [0.5]) {
        for (const alpha of o.alphas ?? [0]) {
          const s: Omit<InterventionSpec, 'id'> = { kind: 'direction', hook: 'hook_resid_post', layers, scale, alpha, directionFile: `/x/${tag ?? 'demo'}.directions.safetensors` };
          specs.push(s);
          if (tag) tagOf.set(s, tag);
        }
      }
    }
  }
  for (const layers of sets) {
    for (const scale of o.scales ?? [0.5]) {
      for (const alpha of o.alphas ?? [0]) {
        for (let k = 0; k < (o.randomControls ?? 1); k++) specs.push({ kind: 'random-direction', hook: 'hook_resid_post', layers, scale, alpha, randomSeed: 1234, randomIndex: k });
      }
    }
  }
  const results: InterventionResult[] = specs.map((s) => {
    const spec = { ...s, id: idOf(s, tagOf.get(s)) } as InterventionSpec;
    const items: RunItem[] = records.map((rec) => {
      const unparsed = r() < 0.1;
      const parsed = unparsed ? null : 'ABCD'[Math.floor(r() * 4)]!;
      return {
        ...rec,
        ...(o.scoring === 'loglik' ? { optionLogprobs: { A: -r() * 5, B: -r() * 5, C: -r() * 5, D: -r() * 5 } } : { generated: `${rec.question} → answer ${parsed ?? '?'}` }),
        parsed,
        correct: parsed === rec.expected,
        unparsed,
      };
    });
    return { intervention: spec, summary: { reasoning: accuracyOf(items.filter((i) => i.subset === 'reasoning')), memorization: accuracyOf(items.filter((i) => i.subset === 'memorization')) }, items, seconds: 1, complete: true };
  });
  const shown = o.partialAfter !== undefined ? results.slice(0, o.partialAfter) : results;
  return {
    format: 'layerlab-run',
    version: 1,
    layerlabVersion: '0.1.0-fixture',
    createdAt: '2025-01-01T00:00:00.000Z',
    complete: o.partialAfter === undefined,
    spec: {
      command: 'sweep',
      model: { path: '/fixture/model', contentHash: 'f'.repeat(24), modelType: 'llama', options: {} },
      data: { path: '/fixture/data.json', contentHash: 'd'.repeat(24), name: 'fixture', kind: 'mmlu-pro' },
      split: 'overlap',
      sampleSize: 2 * per,
      seed: 0,
      prompt: { template: 'plain', fewshot: false, cot: false },
      scoring: o.scoring ?? 'generate',
      maxNewTokens: 8,
      batchSize: 1,
      stopStrings: [],
      argv: ['sweep', '--fixture'],
      interventions: results.map((x) => x.intervention),
    },
    provider: 'cpu',
    progress: { done: shown.length * records.length, total: results.length * records.length },
    results: shown,
    timing: { totalSeconds: shown.length, itemsPerSecond: records.length },
  };
}

/** A directions statistics file over `blocks` (FIXTURE), with projections per record. */
export function fixtureDirections(blocks = [0, 1, 2], perLabel = 12, seed = 3): DirectionStatsFile {
  const r = mulberry32(seed);
  const hooks = blocks.map((b) => `blocks.${b}.hook_resid_post`);
  return {
    format: 'layerlab-directions',
    version: 1,
    cache: { path: '/fixture/cache.safetensors', dataName: 'fixture' },
    holdout: { fraction: 0.25, seed: 0 },
    layers: blocks.map((block, i) => ({
      hook: hooks[i]!,
      block,
      norm: 1 + r(),
      nReasoning: perLabel,
      nMemorization: perLabel,
      train: { n: Math.round(perLabel * 1.5), auc: 0.5 + r() / 2, cohensD: r() * 2, pearsonR: r() },
      heldOut: { n: perLabel / 2, auc: 0.5 + r() / 2, cohensD: r() * 2 },
    })),
    projections: Object.fromEntries(
      hooks.map((h) => [
        h,
        Array.from({ length: 2 * perLabel }, (_, k) => ({
          id: String(k),
          subset: (k % 2 ? 'memorization' : 'reasoning') as Subset,
          split: (k % 4 === 3 ? 'heldout' : 'train') as 'train' | 'heldout',
          value: (k % 2 ? -1 : 1) * r() + (k === 5 ? 0.25 : 0),
        })),
      ]),
    ),
  };
}
