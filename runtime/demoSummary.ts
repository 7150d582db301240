/**
 * The demo's findings in plain language, read only from the files the pipeline wrote (the
 * sweep's run file and the directions' statistics), so that what the demo says is exactly what a
 * chart of those files shows.
 *
 * An intervention "moved" an accuracy when the no-intervention baseline accuracy lies outside the
 * intervention's Wilson 95% interval; each is shown next to its matched random control (a random
 * unit direction at the same hook, block, scale and alpha), which should not move it.
 */
import type { Accuracy, DirectionStatsFile, InterventionResult, RunFile, Subset } from './protocol/results';
import { SUBSETS } from './protocol/results';

export interface DemoFinding {
  /** The direction intervention's id in the run file, e.g. `post@2 scale=-1`. */
  intervention: string;
  hook: string;
  block: number;
  scale: number;
  alpha: number;
  subset: Subset;
  baseline: Accuracy;
  result: Accuracy;
  /** The first random control at the same grid point. */
  control: { intervention: string; result: Accuracy; moved: boolean } | null;
  moved: boolean;
}

export interface DemoSummary {
  /** The hook point whose direction separates the two subsets best on held-out records. */
  bestSeparation: { hook: string; block: number; heldOutAuc: number; n: number } | null;
  baseline: Record<Subset, Accuracy>;
  /** Every (direction intervention × subset), in run order. */
  findings: DemoFinding[];
  /** The largest change among findings that moved while their control did not. */
  headline: DemoFinding | null;
  /** The summary as a few plain-language lines. */
  lines: string[];
}

/** Whether the baseline accuracy lies outside `a`'s 95% interval. */
export function movesBaseline(a: Accuracy, baseline: Accuracy): boolean {
  return baseline.accuracy < a.ci95[0] || baseline.accuracy > a.ci95[1];
}

const pct = (x: number) => `${Math.round(100 * x)}%`;
const withCi = (a: Accuracy) => `${pct(a.accuracy)} (${a.correct}/${a.total}, 95% CI ${pct(a.ci95[0])}–${pct(a.ci95[1])})`;

/** Grid point of an intervention: controls match directions on everything but the vector. */
const gridKey = (r: InterventionResult) => {
  const s = r.intervention;
  return JSON.stringify([s.hook, s.layers, s.directionLayer ?? null, s.scale, s.alpha]);
};

function describeEdit(f: DemoFinding): string {
  const where = `block ${f.block}'s ${f.hook === 'hook_resid_pre' ? 'input' : 'output'}`;
  if (f.alpha === 0 && f.scale === -1) return `projecting the direction out of ${where}`;
  if (f.alpha === 0 && f.scale === -2) return `reflecting ${where} along the direction`;
  const parts = [f.scale !== 0 ? `scaling the projection on the direction by ${1 + f.scale} (scale ${f.scale})` : '', f.alpha !== 0 ? `adding ${f.alpha}× the direction` : ''];
  return `${parts.filter(Boolean).join(' and ')} at ${where}`;
}

export function summariseDemo(run: RunFile, stats: DirectionStatsFile): DemoSummary {
  const base = run.results.find((r) => r.intervention.kind === 'none');
  if (!base) throw new Error('the demo sweep has no baseline run');
  const controls = new Map<string, InterventionResult>();
  for (const r of run.results) if (r.intervention.kind === 'random-direction' && !controls.has(gridKey(r))) controls.set(gridKey(r), r);

  const findings: DemoFinding[] = [];
  for (const r of run.results) {
    if (r.intervention.kind !== 'direction') continue;
    const c = controls.get(gridKey(r));
    for (const subset of SUBSETS) {
      const baseline = base.summary[subset];
      if (baseline.total === 0) continue;
      findings.push({
        intervention: r.intervention.id, hook: r.intervention.hook ?? '', block: r.intervention.layers[0]!, scale: r.intervention.scale, alpha: r.intervention.alpha,
        subset, baseline, result: r.summary[subset],
        control: c ? { intervention: c.intervention.id, result: c.summary[subset], moved: movesBaseline(c.summary[subset], baseline) } : null,
        moved: movesBaseline(r.summary[subset], baseline),
      });
    }
  }
  const clean = findings.filter((f) => f.moved && f.control && !f.control.moved);
  const change = (f: DemoFinding) => Math.abs(f.result.accuracy - f.baseline.accuracy);
  const headline = clean.reduce<DemoFinding | null>((best, f) => (!best || change(f) > change(best) ? f : best), null);

  // JSON has no NaN: an undefined AUC (a constant projection) is null and never the best.
  const held = stats.layers.flatMap((l) => (l.heldOut && l.heldOut.auc !== null && Number.isFinite(l.heldOut.auc) ? [{ l, auc: l.heldOut.auc, n: l.heldOut.n }] : []));
  // Ties go to the earliest block: the first place the distinction is as clear as it gets.
  const best = held.reduce<(typeof held)[number] | null>((b, x) => (!b || x.auc > b.auc ? x : b), null);
  const bestSeparation = best ? { hook: best.l.hook, block: best.l.block, heldOutAuc: best.auc, n: best.n } : null;

  const lines: string[] = [];
  lines.push(`Without intervention the model answers ${withCi(base.summary.reasoning)} of reasoning and ${withCi(base.summary.memorization)} of memorization questions (chance is 1 in the number of options).`);
  if (bestSeparation) {
    lines.push(`The reasoning-minus-memorization direction separates the two kinds best at ${bestSeparation.hook}: AUC ${bestSeparation.heldOutAuc.toFixed(3)} on ${bestSeparation.n} held-out questions the direction was not computed from.`);
  }
  if (headline) {
    const c = headline.control!;
    lines.push(`Largest effect: ${describeEdit(headline)} changed ${headline.subset} accuracy from ${pct(headline.baseline.accuracy)} to ${withCi(headline.result)}, outside the interval; ` +
      `a random direction there (${c.intervention}) gave ${withCi(c.result)}, which ${c.moved ? 'also excludes' : 'includes'} the baseline.`);
  }
  const moved = findings.filter((f) => f.moved).length;
  const controlsMoved = findings.filter((f) => f.control?.moved).length;
  lines.push(`${moved} of ${findings.length} (intervention, subset) results along the direction moved accuracy beyond its 95% interval; ` +
    `${controlsMoved} of ${findings.filter((f) => f.control).length} matched random controls did.`);
  if (!headline) lines.push('No intervention along the direction moved accuracy while its random control did not: this run shows no specific effect.');
  return { bestSeparation, baseline: base.summary, findings, headline, lines };
}
