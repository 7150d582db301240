/**
 * What the reasoning-behaviour pages draw, computed from the files alone (no DOM): the series of
 * the layer-effects chart, the points of the steering chart, the text segments of a chain with
 * its spans. Tests read charts back and compare them with these files.
 */
import { BEHAVIOUR_COLORS, codePointIndex, type Behaviour, type EffectsFile, type SteerChain, type SteeringFile, type VectorStatsFile } from '../../runtime/protocol/thinking';
import type { Cell, TableData } from '../model/run';

/** Index of a behaviour's colour in the theme palette (blue, orange, green, purple, yellow, red). */
export function behaviourColorIndex(b: Behaviour): number {
  return ['charts.blue', 'charts.orange', 'charts.green', 'charts.purple', 'charts.yellow', 'charts.red'].indexOf(BEHAVIOUR_COLORS[b]);
}

export interface EffectSeries {
  category: Behaviour;
  kind: 'exact' | 'estimate';
  /** One point per hook: x = block, y = mean |effect|, lo/hi = ± one standard error. */
  points: { x: number; y: number; lo: number; hi: number; hook: string; selected: boolean }[];
}

export function effectSeries(f: EffectsFile): EffectSeries[] {
  return f.categories.flatMap((c) =>
    (['exact', 'estimate'] as const).map((kind) => ({
      category: c.category,
      kind,
      points: f.hooks.map((hook, h) => ({
        x: f.blocks[h]!,
        y: c[kind].mean[h]!,
        lo: c[kind].mean[h]! - c[kind].se[h]!,
        hi: c[kind].mean[h]! + c[kind].se[h]!,
        hook,
        selected: c.selected.includes(h),
      })),
    })),
  );
}

export function effectsTable(f: EffectsFile): TableData {
  const rows: Cell[][] = [];
  for (const c of f.categories) {
    f.hooks.forEach((hook, h) => rows.push([c.category, hook, c.exact.mean[h]!, c.exact.se[h]!, c.estimate.mean[h]!, c.estimate.se[h]!, c.selected.includes(h)]));
  }
  return { columns: ['behaviour', 'hook', 'exact mean |effect|', 'exact SE', 'estimate mean |effect|', 'estimate SE', 'selected'], rows };
}

export interface SteeringPoint {
  /** Slot of the behaviour on the x axis. */
  slot: number;
  category: Behaviour;
  /** baseline, +, −, random +, random −. */
  series: string;
  conditionId: string;
  fraction: number;
  lo: number;
  hi: number;
  tokens: number;
  total: number;
}

export const STEERING_SERIES = ['baseline', '+', '−', 'random +', 'random −'] as const;

/** For each steered behaviour: its fraction under the baseline and under each of its own conditions. */
export function steeringPoints(f: SteeringFile): { categories: Behaviour[]; points: SteeringPoint[] } {
  const categories = [...new Set(f.conditions.flatMap((c) => (c.category ? [c.category] : [])))];
  const base = f.conditions.find((c) => c.kind === 'baseline');
  const points: SteeringPoint[] = [];
  categories.forEach((b, slot) => {
    const add = (series: string, cond: SteeringFile['conditions'][number]) => {
      const fr = cond.fractions[b]!;
      points.push({ slot, category: b, series, conditionId: cond.id, fraction: fr.fraction, lo: fr.ci95[0], hi: fr.ci95[1], tokens: fr.tokens, total: fr.total });
    };
    if (base) add('baseline', base);
    for (const c of f.conditions.filter((x) => x.category === b)) add(`${c.kind === 'random' ? 'random ' : ''}${c.sign > 0 ? '+' : '−'}`, c);
  });
  return { categories, points };
}

export function steeringTable(f: SteeringFile): TableData {
  const { points } = steeringPoints(f);
  return {
    columns: ['behaviour', 'condition', 'tokens in spans', 'generated tokens', 'fraction', 'Wilson 95% low', 'Wilson 95% high'],
    rows: points.map((p) => [p.category, p.conditionId, p.tokens, p.total, p.fraction, p.lo, p.hi]),
  };
}

/** A chain's text cut at its spans' edges: each piece with the behaviours covering it. */
export function segments(chain: Pick<SteerChain, 'text' | 'spans'>): { text: string; categories: Behaviour[] }[] {
  const idx = codePointIndex(chain.text);
  const n = idx.length - 1;
  const cuts = new Set<number>([0, n]);
  for (const s of chain.spans) {
    cuts.add(s.start);
    cuts.add(s.end);
  }
  const sorted = [...cuts].filter((c) => c >= 0 && c <= n).sort((a, b) => a - b);
  const out: { text: string; categories: Behaviour[] }[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i]!;
    const b = sorted[i + 1]!;
    out.push({ text: chain.text.slice(idx[a], idx[b]), categories: chain.spans.filter((s) => s.start <= a && s.end >= b).map((s) => s.category) });
  }
  return out;
}

export function normsTable(f: VectorStatsFile): TableData {
  const rows: Cell[][] = [];
  for (const c of f.categories) f.hooks.forEach((hook, h) => rows.push([c.category, hook, c.norms[h]!, f.meanNorms[h]!]));
  return { columns: ['behaviour', 'hook', '‖u‖', '‖mean activation‖'], rows };
}
