/**
 * Steering evaluation (the paper's Figure 4): generate chains for held-out tasks with a
 * behaviour's vector added (+) and subtracted (−) at its selected hook points, each of L hook
 * points getting coefficient/L · u (the paper's reciprocal-of-layers rule), at every position of
 * the prompt and of every decoding step; re-annotate them with the same annotator; and report
 * per behaviour the fraction of generated tokens inside its spans, with Wilson 95% intervals,
 * against the unsteered baseline.
 *
 * Controls: each condition's mirror is its wrong-sign control (a vector that carries the
 * behaviour moves its fraction in opposite directions under + and −), and a random vector with
 * the same norm at every hook point (±, seeded) shows what any perturbation of that size does.
 */
import { wilson } from '../../datasets/score';
import { randomUnitVectors } from '../evaluate/directions';
import { mixSeed } from '../evaluate/interventions';
import type { HookEdit } from '../model';
import { BEHAVIOURS, type Behaviour, type Fraction, type Span, type SteerChain, type SteerCondition } from '../protocol/thinking';
import { norm, spanTokenRange } from './vectors';

/** The edits of a condition: coefficient·sign/L · v_h at each of the L hooks. */
export function steeringEdits(hooks: readonly string[], vectors: readonly Float32Array[], coefficient: number, sign: number): HookEdit[] {
  const a = (sign * coefficient) / hooks.length;
  return hooks.map((hook, h) => ({ hook, add: Float32Array.from(vectors[h]!, (x) => a * x) }));
}

/** Random vectors with the norms of `like`, one per hook, from (seed, category, hook index). */
export function randomLike(like: readonly Float32Array[], seed: number, category: Behaviour, blocks: readonly number[]): Float32Array[] {
  return like.map((v, h) => {
    const [unit] = randomUnitVectors(1, v.length, mixSeed(seed, BEHAVIOURS.indexOf(category), blocks[h]!));
    const n = norm(v);
    return Float32Array.from(unit!, (x) => x * n);
  });
}

/** The conditions of a steering run: baseline, then per behaviour +, −, random +, random −. */
export function steeringConditions(categories: readonly Behaviour[], hooksOf: (c: Behaviour) => string[], coefficient: number): SteerCondition[] {
  const out: SteerCondition[] = [{ id: 'baseline', kind: 'baseline', category: null, sign: 0, hooks: [], coefficient: 0 }];
  for (const c of categories) {
    const hooks = hooksOf(c);
    for (const kind of ['vector', 'random'] as const) {
      for (const sign of [1, -1]) {
        out.push({ id: `${c}${kind === 'random' ? ' random' : ''} ${sign > 0 ? '+' : '−'}${coefficient}`, kind, category: c, sign, hooks, coefficient });
      }
    }
  }
  return out;
}

/**
 * Per behaviour, the generated tokens inside its spans over all chains of a condition, as a
 * fraction of all generated tokens, with its Wilson interval (which treats tokens as independent:
 * read it as a guide, not a test).
 */
export function behaviourFractions(chains: readonly SteerChain[]): Record<Behaviour, Fraction> {
  const total = chains.reduce((s, c) => s + c.ids.length, 0);
  const out = {} as Record<Behaviour, Fraction>;
  for (const b of BEHAVIOURS) {
    let tokens = 0;
    for (const c of chains) {
      const inside = new Set<number>();
      for (const s of c.spans) {
        if (s.category !== b) continue;
        const r = spanTokenRange(c.offsets, s.start, s.end);
        if (r) for (let t = r[0]; t <= r[1]; t++) inside.add(t);
      }
      tokens += inside.size;
    }
    const w = wilson(tokens, total);
    out[b] = { tokens, total, fraction: total ? tokens / total : 0, ci95: [w.lo, w.hi] };
  }
  return out;
}

/** Spans of one chain for the steering file (without the chain id). */
export function chainSpans(spans: readonly Span[], chain: string): SteerChain['spans'] {
  return spans.filter((s) => s.chain === chain).map((s) => ({ start: s.start, end: s.end, category: s.category }));
}
